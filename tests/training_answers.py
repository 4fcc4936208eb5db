"""The answers to the training exercises, kept out of the notebook and the package (tests only)."""

ANSWERS = {
    'ex1': '32526',
    'ex2': 'PROXY_INTERCEPTS_AGENT_TRAFFIC',
    'ex3': '90',
    'ex4': '10.0.2.4',
    'ex5': 'IMDS_ROUTE_CAPTURED_BY_LINK_LOCAL',
    'ex6': 'DEPLOYMENT_AGENT_STATUS_NOT_REPORTED',
    'ex7': 'DEPLOYMENT_OS_PROVISIONING_TIMEOUT',
    'ex8': '7031',
    'ex9': '30000',
    'ex10': 'WindowsAzureGuestAgent.exe',
    'ex11': 'APP_CONTROL_BLOCKS_AGENT',
    'ex12': 'DEPLOYMENT_EXTENSION_FAILED',
    'ex13': '1007',
    'ex14': 'DEPLOYMENT_EXTENSION_TIMEOUT',
    'ex15': 'DEPLOYMENT_REQUEST_REJECTED',
    'ex16': 'DEPLOYMENT_CLIENT_GAVE_UP',
    # branch codes (issue 15 part 3)
    'ex-runcmd-1': '131',
    'ex-runcmd-2': 'RUN_COMMAND_STILL_RUNNING',
    # issue 15 codes that had no exercise (ticket folders in kit/training/bundles)
    'ex17': 'VM_EXTENSION_OPERATIONS_DISALLOWED',
    'ex18': 'VM_AGENT_NOT_PROVISIONED',
    'ex19': 'Microsoft.Compute.VMAccessAgent',
    'ex20': 'TIME_SERVICE_NOT_SYNCHRONIZED',
    'ex21': 'ebpfProgramStatus',
    'ex22': 'RUN_COMMAND_SCRIPT_FAILED',
    'ex23': 'AGENT_VERSION_KNOWN_BAD',
}
