"""The platform endpoints an Azure VM's agent talks to, in one place.

* WireServer, the virtual public IP 168.63.129.16, port 80: goal state, certificates, status upload.
* HostGAPlugin, same IP, port 32526: extension artifacts, vmSettings, status and log upload.
* IMDS, the link-local 169.254.169.254, port 80: instance metadata, managed identity tokens.
"""

from __future__ import annotations

WIRESERVER_IP = "168.63.129.16"
WIRESERVER_PORT = 80
HOSTGAPLUGIN_PORT = 32526
IMDS_IP = "169.254.169.254"
IMDS_PORT = 80

#: (ip, port) -> endpoint name used across frames and findings.
ENDPOINTS: dict[tuple[str, int], str] = {
    (WIRESERVER_IP, WIRESERVER_PORT): "wireserver",
    (WIRESERVER_IP, HOSTGAPLUGIN_PORT): "hostgaplugin",
    (IMDS_IP, IMDS_PORT): "imds",
}

ENDPOINT_NAMES: tuple[str, ...] = ("wireserver", "hostgaplugin", "imds", "other")


def endpoint_name(ip: str | None, port: int | None) -> str:
    """``wireserver``, ``hostgaplugin``, ``imds`` or ``other`` for an (ip, port) pair."""
    if ip is None or port is None:
        return "other"
    return ENDPOINTS.get((ip.strip(), int(port)), "other")
