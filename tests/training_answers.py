"""The answers to the training exercises, kept out of the notebook and the package (tests only)."""

ANSWERS = {
    'ex1': '32526',
    'ex2': 'PROXY_INTERCEPTS_AGENT_TRAFFIC',
    'ex3': '90',
    'ex4': '10.0.2.4',
    'ex5': 'IMDS_ROUTE_CAPTURED_BY_LINK_LOCAL',
    # branch codes (issue 15 part 3)
    'ex-runcmd-1': '131',
    'ex-runcmd-2': 'RUN_COMMAND_STILL_RUNNING',
}
