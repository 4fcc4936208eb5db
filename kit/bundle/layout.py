"""Where artifacts live: mapping any bundle's paths onto the kit's canonical layout (docs/bundle-format.md).

The kit's own bundles already use the layout. Other collections are mapped by anchors found anywhere in a
path, case-insensitively: ``.../WindowsAzure/Logs/...`` -> ``C/WindowsAzure/Logs/...`` and
``.../Packages/Plugins/...`` -> ``C/Packages/Plugins/...``. The guest agent's own log-collector zip
(CollectGuestLogs.exe) is not documented file by file (formats doc §8), so it is recognised by these anchors
rather than by a fixed list. A copy of ``C:\\WindowsAzure\\Logs`` (WaAppAgent.log, Plugins\\, AggregateStatus\\
at its root) is mapped under ``C/WindowsAzure/Logs/``.
"""

from __future__ import annotations

import re

#: Files that describe a bundle rather than being artifacts from the VM.
META_FILES = {"manifest.json", "readme.md", "scenario.json", "collect.log"}

_ANCHORS = [
    (re.compile(r"(?:^|/)(?:[a-z][:_]?/)?windowsazure/logs/(.*)$", re.IGNORECASE), "C/WindowsAzure/Logs/"),
    (re.compile(r"(?:^|/)(?:[a-z][:_]?/)?packages/plugins/(.*)$", re.IGNORECASE), "C/Packages/Plugins/"),
    (re.compile(r"(?:^|/)(?:[a-z][:_]?/)?windowsazure/(.*)$", re.IGNORECASE), "C/WindowsAzure/"),
    # other system-drive folders support engineers collect (formats doc §2.1), only under a drive-letter folder
    (re.compile(r"(?:^|/)[a-z][:_]?/((?:windows|azuredata)/.*)$", re.IGNORECASE), "C/"),
    (re.compile(r"(?:^|/)(commands|probes)/(.*)$", re.IGNORECASE), None),
]
_LOGS_ROOT_MARKERS = re.compile(r"^(?:waappagent[^/]*\.log|transparentinstaller[^/]*\.log|telemetry\.log|plugins/|"
                                r"aggregatestatus/)", re.IGNORECASE)


def canonical(path: str) -> str | None:
    """The canonical kit-layout path of a bundle-relative ``path``, or None when no anchor says."""
    p = path.replace("\\", "/").lstrip("/")
    for rx, prefix in _ANCHORS:
        m = rx.search(p)
        if m:
            if prefix is None:
                return f"{m.group(1).lower()}/{m.group(2)}"
            return prefix + m.group(1)
    return None


def find_root(paths: list[str]) -> str:
    """A folder prefix (``"healthy/"``) to strip when everything sits in one top-level folder that is itself a kit
    bundle (holds ``manifest.json``) or a copy of ``C:\\WindowsAzure\\Logs`` - what zipping a folder gives.
    Empty when the paths are already rooted."""
    prefix = ""
    rels = [p.replace("\\", "/") for p in paths]
    while rels and all("/" in r for r in rels):
        top = {r.split("/", 1)[0] for r in rels}
        if len(top) != 1:
            break
        inner = [r.split("/", 1)[1] for r in rels]
        if not ("manifest.json" in {r.lower() for r in inner} or is_logs_folder(inner)
                or all("/" in r for r in inner)):
            break
        prefix += top.pop() + "/"
        rels = inner
    # Only keep a prefix that led somewhere useful.
    if prefix and not ("manifest.json" in {r.lower() for r in rels} or is_logs_folder(rels)):
        return ""
    return prefix


def is_logs_folder(paths: list[str]) -> bool:
    """True when the root looks like a copy of C:\\WindowsAzure\\Logs (and no anchors are present)."""
    return any(_LOGS_ROOT_MARKERS.match(p.replace("\\", "/")) for p in paths)


def detect_kind(paths: list[str], has_manifest: bool) -> str:
    """``kit``, ``guest-log-collector``, ``logs-folder`` or ``loose``."""
    if has_manifest:
        return "kit"
    if any(canonical(p) and canonical(p).startswith("C/") for p in paths):
        return "guest-log-collector"
    if is_logs_folder(paths):
        return "logs-folder"
    return "loose"


#: The artifacts a complete bundle has, why each matters, and where the kit's layout keeps it.
EXPECTED: list[tuple[str, str, str]] = [
    ("agent_log", "C/WindowsAzure/Logs/WaAppAgent.log",
     "the agent's own account of what it did and what failed"),
    ("route_print", "commands/route_print.txt",
     "which route Windows uses for 168.63.129.16 and 169.254.169.254 (or commands/get_netroute.json)"),
    ("ipconfig", "commands/ipconfig_all.txt", "the NICs, their IPs and gateways: which one is primary"),
    ("winhttp_proxy", "commands/netsh_winhttp_proxy.txt", "whether a proxy sits between the agent and the platform"),
    ("tcp_probes", "probes/tcp.json", "whether WireServer :80, HostGAPlugin :32526 and IMDS answer from the VM"),
    ("http_probe", "probes/imds_instance.json", "what IMDS answered, and the primary NIC's IP"),
    ("firewall_rules", "commands/firewall_rules.json", "guest firewall rules that block the platform"),
    ("services", "commands/services.json", "whether the agent service is running, and its version"),
    ("ext_status", "C/Packages/Plugins/<ext>/<ver>/Status/<n>.status", "what each extension last reported"),
]
