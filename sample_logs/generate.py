#!/usr/bin/env python3
"""Generate the sample bundles in sample_logs/ (deterministic: same bytes on every run).

    python sample_logs/generate.py            # rewrite sample_logs/<scenario>/
    python sample_logs/generate.py --out DIR  # write elsewhere (the tests compare both)

Every line follows the real formats quoted in ../shared/formats/windows-agent-formats.md (section numbers in the
comments). Where that file is silent, the comment says so and the line is modelled on its nearest real relative.
Windows-written text uses CRLF. JSON written by the kit's collector is UTF-8 without BOM.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import random
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
AGENT_VERSION = "2.7.41491.1102"
OLD_AGENT_VERSION = "2.7.41491.1083"  # before the auto-upgrade
CSE = "Microsoft.Compute.CustomScriptExtension"
CSE_VER = "1.10.15"
BGINFO = "Microsoft.Compute.BGInfo"
BGINFO_VER = "2.2.5"


def crlf(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def jbytes(obj: object) -> bytes:
    return (json.dumps(obj, indent=4, ensure_ascii=False).replace("\n", "\r\n") + "\r\n").encode("utf-8")


def iso_ms(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def mdy(t: datetime) -> str:
    return t.strftime("%m/%d/%Y %H:%M:%S.") + f"{t.microsecond // 10000:02d}"


def level_tag(level: str) -> str:
    # §1.2/§12: the tag is padded to width 7 and followed by one space: "[INFO]  ", "[ERROR] ".
    return f"[{level}]".ljust(7) + " "


class AgentLog:
    """WaAppAgent.log lines in the current layout (§1.4: ISO 8601 with milliseconds and Z) or the older one
    (§1.1: [MM/DD/YYYY HH:MM:SS.ff])."""

    def __init__(self, style: str = "iso") -> None:
        self.lines: list[str] = []
        self.style = style

    def add(self, t: datetime, tid: int, level: str, msg: str, *more: str) -> None:
        stamp = iso_ms(t) if self.style == "iso" else f"[{mdy(t)}]"
        self.lines.append(f"[{tid:08d}] {stamp} {level_tag(level)}{msg}")
        self.lines.extend(more)


def oobe_duration(waits: int) -> timedelta:
    """How long ``waits`` `Waiting for OOBE to Complete ...` lines take (the first after 18 s, then every ~15 s)."""
    return sum((timedelta(seconds=15 if i else 18, milliseconds=340 if i % 2 else 0) for i in range(waits)),
               timedelta())


def agent_start(log: AgentLog, t: datetime, iface: str = "Ethernet", version: str = AGENT_VERSION,
                oobe_waits: int = 0, no_dhcp_iface: str | None = None) -> datetime:
    """Start-up lines, verbatim messages from §1.2 and §4. ``oobe_waits``: first boot of a new VM, the agent
    repeats §1.2's `Waiting for OOBE to Complete ...` (seen there about every 10-20 s) until Windows setup ends."""
    log.add(t, 6, "INFO", f"WindowsAzureGuestAgent starting. Version {version}")
    for i in range(oobe_waits):
        t += oobe_duration(i + 1) - oobe_duration(i)
        log.add(t, 6, "WARN", "Waiting for OOBE to Complete ...")
    t += timedelta(seconds=12, milliseconds=570)
    log.add(t, 6, "INFO", "Try to fetch identity data of the VM from metadata server at "
            "http://169.254.169.254/Microsoft.Compute/identity.")
    t += timedelta(seconds=10, milliseconds=240)
    log.add(t, 6, "INFO", "Initializing ControlSystem.")
    t += timedelta(milliseconds=270)
    if no_dhcp_iface:  # an adapter without DHCP answers first: §1.1's Npcap sequence, verbatim but the name
        log.add(t, 6, "INFO", f"Attempting to discover fabric address on interface {no_dhcp_iface}")
        log.add(t, 24, "WARN", "Empty DHCP option data returned")
        log.add(t, 6, "ERROR", f"Did not discover fabric address on interface {no_dhcp_iface}")
    log.add(t, 6, "INFO", f"Attempting to discover fabric address on interface {iface}.")
    t += timedelta(milliseconds=120)
    log.add(t, 6, "INFO", f"Discovered fabric address on interface {iface}.")
    log.add(t, 6, "INFO", "Using fabric address 168.63.129.16 from DHCP.")
    log.add(t, 6, "INFO", "Using fabric URI http://168.63.129.16/.")
    t += timedelta(milliseconds=360)
    log.add(t, 6, "INFO", "ControlSystem initialized with version 2012-11-30.")
    t += timedelta(seconds=2, milliseconds=800)
    log.add(t, 6, "INFO", "StateExecutor initialization completed.")
    # The formats doc is silent on the exact wording of this harmless line; the issue tracker quotes it as
    # "Error SetCPUNotification: 87". Kept a one-liner, nearest relative: the [ERROR] heads of §1.1.
    log.add(t + timedelta(milliseconds=40), 9, "ERROR", "Error SetCPUNotification: 87")
    return t


def heartbeats(log: AgentLog, start: datetime, end: datetime, every: timedelta = timedelta(minutes=5),
               extra: list | None = None, after: dict[int, list[str]] | None = None) -> None:
    """[HEART] lines (§1.2) on a steady cadence, merged in time order with ``extra`` (t, tid, level, msg, *more);
    ``after[n]``: continuation lines written after the n-th heartbeat (0-based).
    The cadence is not documented; 5 minutes keeps the samples small."""
    events = list(extra or [])
    t, n = start, 0
    while t < end:
        events.append((t, 20, "HEART", "WindowsAzureGuestAgent Heartbeat.", *(after or {}).get(n, [])))
        t += every
        n += 1
    for ev in sorted(events, key=lambda e: e[0]):
        log.add(*ev)


def plugin_lines(t: datetime, ext: str, cur: str, req: str) -> list:
    """Extension processing, verbatim from §1.3 (auto-upgrade section of the VM extensions article)."""
    return [(t, 18, "INFO", f"Getting plugin locations for plugin '{ext}'. Current Version: '{cur}', "
             f"Requested Version: '{req}'"),
            (t + timedelta(milliseconds=310), 18, "INFO", f"Auto-Upgrade mode. Highest public version for plugin "
             f"'{ext}' with requested version: '{req}', is: '{req}'")]


def plugin_result(t: datetime, ext: str, ver: str, tid: int = 28, *, installed: bool = False) -> list:
    """Extension results in the agent log. The formats doc is silent on these; they are the verbatim lines of
    Microsoft's KB 2965986 (SupportArticles-docs "Support for VM agent extensions in Microsoft Azure"):
    `[INFO] Successfully installed plugin Microsoft.Compute.BGInfo 1.1.` and
    `[INFO] plugin (name: Microsoft.Compute.BGInfo, version: 1.1) enabled successfully. Code: 0`."""
    out = []
    if installed:
        out.append((t, tid, "INFO", f"Successfully installed plugin {ext} {ver}."))
    out.append((t, tid, "INFO", f"plugin (name: {ext}, version: {ver}) enabled successfully. Code: 0"))
    return out


def plugin_not_exited(t: datetime, ext: str, command: str = "Enable", tid: int = 3) -> tuple:
    """The agent giving up on an extension command that ran past its budget. The formats doc is silent; this is
    KB 2965986's verbatim `[ERROR] Install command of Microsoft.Compute.VMAccessAgent has not exited on time!
    Killing it...` with the command and the extension changed."""
    return (t, tid, "ERROR", f"{command} command of {ext} has not exited on time! Killing it...")


def vm_health_report(t: datetime, nics: list) -> list[str]:
    """The VM Health Report block the agent also writes to the serial console. §12 only names its delimiters; the
    Start line and the one-line JSON follow the real serial-console capture in the Azure support TSG
    "Serial Console shows VM health information" (`======== Microsoft Azure VM Health Report - Start
    2018-03-06T02:06:40.6256349Z ========` then `{"reportTime":...,"networkAdapters":[...]...`), trimmed to the
    network adapters. The block has no head of its own: it continues the record above it (§12)."""
    def stamp(x: datetime) -> str:
        return x.strftime("%Y-%m-%dT%H:%M:%S.") + f"{x.microsecond:06d}0Z"
    adapters = [{"name": n.name, "status": "Up", "macAddress": n.mac.upper(), "ipProperties": [
        {"protocolVersion": 4, "address": n.ip, "isDhcpEnabled": n.dhcp}]} for n in nics]
    adapters.append({"name": "Loopback Pseudo-Interface 1", "status": "Up", "macAddress": "", "ipProperties": [
        {"protocolVersion": 4, "address": "127.0.0.1", "isDhcpEnabled": False}]})
    body = json.dumps({"reportTime": stamp(t - timedelta(seconds=11, microseconds=586637)),
                       "networkAdapters": adapters}, separators=(",", ":"))
    return [f"======== Microsoft Azure VM Health Report - Start {stamp(t)} ========", body,
            f"======== Microsoft Azure VM Health Report - End {stamp(t + timedelta(milliseconds=12))} ========"]


#: The agent manifest the updater polls. §3.2 elides the URI ('...'); this one follows the shape of the extension
#: manifest URIs quoted in Appendix A (zrdfepirv2...prdstr...blob.core.windows.net/<32 hex>/<name>_manifest.xml).
GA_MANIFEST_URI = ("https://zrdfepirv2ams06prdstr02a.blob.core.windows.net/7d89d439b79f4452950452399add2c90/"
                   "Microsoft.WindowsAzure.GuestAgent_Prod_westeurope_manifest.xml")


def installer_checks(start: datetime, end: datetime) -> list[str]:
    """TransparentInstaller.log: the updater finding no new agent, hourly. Messages verbatim from §3.2's
    auto-upgrade signature; level and thread are not quoted there: [INFO] and §1.4's TransparentInstaller thread
    00000017. The hourly cadence is not documented."""
    log = AgentLog("iso")
    stamp = "Wed, 21 Feb 2024 03:12:05 GMT"  # the agent package of services.json (GuestAgent_..._2024-02-21_031205)
    t = start + timedelta(minutes=1, seconds=36, milliseconds=211)
    while t < end:
        log.add(t, 17, "INFO", "About to loop through URIs and attempt to retrieve the LastModified header value.")
        log.add(t + timedelta(milliseconds=187), 17, "INFO",
                f"Retrieved LastModifiedHeader for '{GA_MANIFEST_URI}': Value: '{stamp}'")
        log.add(t + timedelta(milliseconds=203), 17, "INFO", f"Registry value for value 'ManifestTimeStamp' is '{stamp}'")
        log.add(t + timedelta(milliseconds=203), 17, "INFO", "Manifest timestamp has not changed")
        t += timedelta(hours=1, milliseconds=1130)
    return log.lines


def handler_line(pid: int, t: datetime, level: str, msg: str) -> str:
    # §3.1: [PID+TID] [MM/DD/YYYY HH:MM:SS.ff] [LEVEL] message (one space after the tag).
    return f"[{pid}+00000001] [{mdy(t)}] [{level}] {msg}"


def cse_enable(pid: int, t: datetime, command: str, *, finish_after: timedelta | None, exit_code: int = 0,
               ext_ver: str = CSE_VER) -> tuple[list[str], datetime]:
    """CustomScriptHandler.log for one enable. Handler start-up lines are modelled on the RunCommand handler
    (§3.1, nearest relative: the formats doc has no full CSE log); the execution lines are §3.2's."""
    folder = f"C:\\Packages\\Plugins\\{CSE}\\{ext_ver}"
    out = [handler_line(pid, t, "INFO", "Starting CustomScript Extension"),
           handler_line(pid, t, "INFO", f"HandlerEnvironment = Version: 1, HandlerEnvironment: [LogFolder: "
                        f"\"C:\\WindowsAzure\\Logs\\Plugins\\{CSE}\\{ext_ver}\", ConfigFolder: \"{folder}\\RuntimeSettings\", "
                        f"StatusFolder: \"{folder}\\Status\", HeartbeatFile: \"{folder}\\Status\\HeartBeat.Json\"]"),
           handler_line(pid, t + timedelta(milliseconds=30), "INFO", "Enabling Handler"),
           handler_line(pid, t + timedelta(milliseconds=30), "INFO", "Handler successfully enabled"),
           handler_line(pid, t + timedelta(milliseconds=40), "INFO", "Loading configuration for sequence number 0"),
           handler_line(pid, t + timedelta(milliseconds=70), "INFO", "HandlerSettings = ProtectedSettingsCertThumbprint: "
                        "REDACTED, ProtectedSettings: {REDACTED}, PublicSettings: {commandToExecute: [" + command + "]}"),
           handler_line(pid, t + timedelta(milliseconds=90), "INFO", "Waiting for all async file download tasks to "
                        "complete..."),
           handler_line(pid, t + timedelta(seconds=2, milliseconds=410), "INFO",
                        f"Files downloaded. Asynchronously executing command: '{command}'"),
           handler_line(pid, t + timedelta(seconds=2, milliseconds=480), "INFO",
                        "Command execution task started. Awaiting completion...")]
    end = t + timedelta(seconds=2, milliseconds=480)
    if finish_after is not None:
        end = t + finish_after
        out.append(handler_line(pid, end, "INFO", f"Command execution finished. Command exited with code: {exit_code}"))
    return out, end


def cse_status(t: datetime, status: str, message: str, stdout: str = "", stderr: str = "", code: int = 0) -> list:
    """Status/0.status as in §6.1 (top-level array, 7-digit fractions, lower-case status)."""
    sub = [{"name": "StdOut", "status": "success", "code": 0, "formattedMessage": {"lang": "en-US", "message": stdout}},
           {"name": "StdErr", "status": "success", "code": 0, "formattedMessage": {"lang": "en-US", "message": stderr}}]
    body = {"name": "SecureCommand_0",
            "operation": "Command Execution Finished" if status != "transitioning" else "Command Execution",
            "status": status, "code": code, "formattedMessage": {"lang": "en-US", "message": message}}
    if status != "transitioning":
        body["substatus"] = sub
    return [{"version": "1", "timestampUTC": t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}0Z",
             "status": body}]


def settings(rng: random.Random, public: dict) -> dict:
    """RuntimeSettings/0.settings (§6.2). protectedSettings is a made-up base64 CMS-looking blob ("MII...")."""
    blob = "MIIB" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
                            for _ in range(480)) + "=="
    thumb = "".join(rng.choice("0123456789ABCDEF") for _ in range(40))
    return {"runtimeSettings": [{"handlerSettings": {"protectedSettingsCertThumbprint": thumb,
                                                     "protectedSettings": blob, "publicSettings": public}}]}


def handler_manifest(cmd: str) -> list:
    # The formats doc is silent on HandlerManifest.json; this is the public shape of extension packages.
    return [{"version": 1.0, "handlerManifest": {"installCommand": f"{cmd} install", "uninstallCommand":
                                                 f"{cmd} uninstall", "updateCommand": f"{cmd} update",
                                                 "enableCommand": f"{cmd} enable", "disableCommand": f"{cmd} disable",
                                                 "rebootAfterInstall": False, "reportHeartbeat": False,
                                                 "updateMode": "UpdateWithInstall"}}]


def handler_env(ext: str, ver: str) -> list:
    folder = f"C:\\Packages\\Plugins\\{ext}\\{ver}"
    return [{"version": 1.0, "name": ext, "handlerEnvironment": {
        "logFolder": f"C:\\WindowsAzure\\Logs\\Plugins\\{ext}\\{ver}", "configFolder": f"{folder}\\RuntimeSettings",
        "statusFolder": f"{folder}\\Status", "heartbeatFile": f"{folder}\\Status\\HeartBeat.Json",
        "eventsFolder": f"C:\\WindowsAzure\\Logs\\Plugins\\{ext}\\Events"}}]


def aggregate(t: datetime, handlers: list[tuple[str, str, str, str]]) -> dict:
    """aggregatestatus.json with the field paths vmassist.ps1 reads (§6.3)."""
    return {"version": "1.1", "timestampUTC": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "aggregateStatus": {
        "guestAgentStatus": {"version": AGENT_VERSION, "status": "Ready", "formattedMessage": {
            "lang": "en-US", "message": "GuestAgent is running and processing the extensions."},
            "lastStatusUploadMethod": "HostGAPlugin", "lastStatusUploadTime": t.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "handlerAggregateStatus": [
            {"handlerName": name, "handlerVersion": ver, "status": "Ready" if st != "error" else "NotReady",
             "runtimeSettingsStatus": {"sequenceNumber": 0, "settingsStatus": {
                 "timestampUTC": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "status": {"name": name, "operation": "Enable", "status": st,
                            "formattedMessage": {"lang": "en-US", "message": msg}}}}}
            for name, ver, st, msg in handlers]}}


# ---------------------------------------------------------------------------------------------- network
@dataclass
class Nic:
    index: int
    name: str
    description: str
    mac: str  # 7c-ed-8d-4d-30-f4
    ip: str
    prefix: int = 24
    gateway: str | None = None
    dhcp: bool = True
    extra_ips: list[str] = field(default_factory=list)
    apipa: bool = False  # a 169.254.x.x autoconfiguration address (failover cluster virtual adapter)


def _mask(prefix: int) -> str:
    bits = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    return ".".join(str((bits >> s) & 255) for s in (24, 16, 8, 0))


def _net(ip: str, prefix: int) -> str:
    import ipaddress

    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def _bcast(ip: str, prefix: int) -> str:
    import ipaddress

    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).broadcast_address)


def route_print(nics: list[Nic], routes: list[tuple[str, str, str, str, int]],
                persistent: list[tuple[str, str, str, str]]) -> bytes:
    """`route print` in the exact column layout of §5.3 (right-aligned IPv4 columns)."""
    out = ["", "===========================================================================", "Interface List"]
    for n in nics:
        mac = n.mac.replace("-", " ")
        out.append(f"{n.index:>3}...{mac} ......{n.description}")
    out += ["  1...........................Software Loopback Interface 1",
            "===========================================================================", "", "IPv4 Route Table",
            "===========================================================================", "Active Routes:",
            "Network Destination        Netmask          Gateway       Interface  Metric"]
    for dest, mask, gw, iface, metric in routes:
        out.append(f"{dest:>17}{mask:>17}{gw:>17}{iface:>17}{metric:>7}")
    out += ["===========================================================================", "Persistent Routes:"]
    if persistent:
        out.append("  Network Address          Netmask  Gateway Address  Metric")
        for dest, mask, gw, metric in persistent:
            out.append(f"{dest:>17}{mask:>17}{gw:>17}{metric:>8}")
    else:
        out.append("  None")
    out += ["", "IPv6 Route Table", "===========================================================================",
            "Active Routes:", " If Metric Network Destination      Gateway", "  1    331 ::1/128                  On-link"]
    for n in nics:
        if not n.apipa:
            out.append(f"{n.index:>3}    266 fe80::/64                On-link")
    for n in nics:
        if not n.apipa:
            ll = "fe80::" + n.mac.replace("-", "")[4:8] + ":" + n.mac.replace("-", "")[8:12] + ":" + \
                n.mac.replace("-", "")[:4] + ":cc05/128"
            out += [f"{n.index:>3}    266 {ll}", "                                    On-link"]
    out += ["  1    331 ff00::/8                 On-link"]
    for n in nics:
        out.append(f"{n.index:>3}    266 ff00::/8                 On-link")
    out += ["===========================================================================", "Persistent Routes:", "  None"]
    return crlf(out)


def standard_routes(nics: list[Nic], *, host_routes_via: Nic | None, default_metric: int = 11) -> list:
    """Active IPv4 routes as DHCP installs them on Azure (§5.3 key facts)."""
    routes = []
    primary = nics[0]
    if primary.gateway:
        routes.append(("0.0.0.0", "0.0.0.0", primary.gateway, primary.ip, default_metric))
    for n in nics:
        routes += [(_net(n.ip, n.prefix), _mask(n.prefix), "On-link", n.ip, 266 if not n.apipa else 261),
                   (n.ip, "255.255.255.255", "On-link", n.ip, 266 if not n.apipa else 261),
                   (_bcast(n.ip, n.prefix), "255.255.255.255", "On-link", n.ip, 266 if not n.apipa else 261)]
    routes += [("127.0.0.0", "255.0.0.0", "On-link", "127.0.0.1", 331),
               ("127.0.0.1", "255.255.255.255", "On-link", "127.0.0.1", 331),
               ("127.255.255.255", "255.255.255.255", "On-link", "127.0.0.1", 331)]
    if host_routes_via is not None:
        routes += [("168.63.129.16", "255.255.255.255", host_routes_via.gateway, host_routes_via.ip, default_metric),
                   ("169.254.169.254", "255.255.255.255", host_routes_via.gateway, host_routes_via.ip, default_metric)]
    routes += [("224.0.0.0", "240.0.0.0", "On-link", "127.0.0.1", 331)]
    routes += [("224.0.0.0", "240.0.0.0", "On-link", n.ip, 266) for n in nics]
    routes += [("255.255.255.255", "255.255.255.255", "On-link", "127.0.0.1", 331)]
    routes += [("255.255.255.255", "255.255.255.255", "On-link", n.ip, 266) for n in nics]
    return routes


def ipconfig(host: str, nics: list[Nic], lease: datetime) -> bytes:
    """`ipconfig /all` with the labels and dot leaders of §5.3."""
    suffix = "ogdiwifyaa0urjo4dncsjzwajg.gx.internal.cloudapp.net"
    out = ["", "Windows IP Configuration", "",
           f"   Host Name . . . . . . . . . . . . : {host}", "   Primary Dns Suffix  . . . . . . . :",
           "   Node Type . . . . . . . . . . . . : Hybrid", "   IP Routing Enabled. . . . . . . . : No",
           "   WINS Proxy Enabled. . . . . . . . : No", f"   DNS Suffix Search List. . . . . . : {suffix}"]
    for n in nics:
        out += ["", f"Ethernet adapter {n.name}:", "",
                f"   Connection-specific DNS Suffix  . : {suffix if n.dhcp and not n.apipa else ''}".rstrip(),
                f"   Description . . . . . . . . . . . : {n.description}",
                f"   Physical Address. . . . . . . . . : {n.mac.upper()}",
                f"   DHCP Enabled. . . . . . . . . . . : {'Yes' if n.dhcp else 'No'}",
                "   Autoconfiguration Enabled . . . . : Yes"]
        if not n.apipa:
            out.append(f"   Link-local IPv6 Address . . . . . : fe80::{n.mac.replace('-', '')[4:8]}:"
                       f"{n.mac.replace('-', '')[8:12]}:{n.mac.replace('-', '')[:4]}:cc05%{n.index}(Preferred)")
        if n.apipa:
            out.append(f"   Autoconfiguration IPv4 Address. . : {n.ip}(Preferred)")
        else:
            out.append(f"   IPv4 Address. . . . . . . . . . . : {n.ip}(Preferred)")
        out.append(f"   Subnet Mask . . . . . . . . . . . : {_mask(n.prefix)}")
        for extra in n.extra_ips:
            out += [f"   IPv4 Address. . . . . . . . . . . : {extra}(Preferred)",
                    f"   Subnet Mask . . . . . . . . . . . : {_mask(n.prefix)}"]
        if n.dhcp and not n.apipa:
            out += [f"   Lease Obtained. . . . . . . . . . : {lease.strftime('%A, %B %d, %Y %I:%M:%S %p').replace(' 0', ' ')}",
                    "   Lease Expires . . . . . . . . . . : Sunday, July 19, 2161 5:43:51 PM"]
        out.append(f"   Default Gateway . . . . . . . . . : {n.gateway or ''}".rstrip() if n.gateway
                   else "   Default Gateway . . . . . . . . . :")
        if n.dhcp and not n.apipa:
            out.append("   DHCP Server . . . . . . . . . . . : 168.63.129.16")
        if not n.apipa:
            out += [f"   DHCPv6 IAID . . . . . . . . . . . : {108850573 + n.index}",
                    f"   DHCPv6 Client DUID. . . . . . . . : 00-01-00-01-2F-DC-0C-06-{n.mac.upper()}",
                    "   DNS Servers . . . . . . . . . . . : 168.63.129.16"]
        out.append("   NetBIOS over Tcpip. . . . . . . . : Enabled" if not n.apipa
                   else "   NetBIOS over Tcpip. . . . . . . . : Disabled")
    return crlf(out)


def get_netroute(nics: list[Nic], routes: list, persistent: list) -> list:
    """commands/get_netroute.json in the kit's shape (docs/bundle-format.md)."""
    by_ip = {n.ip: n for n in nics}
    out = []
    for dest, mask, gw, iface, metric in routes:
        n = by_ip.get(iface)
        plen = ipaddress.ip_network(f"0.0.0.0/{mask}").prefixlen
        ifm = 5 if n and not n.apipa else (50 if iface == "127.0.0.1" else 5)
        out.append({"DestinationPrefix": f"{dest}/{plen}", "NextHop": "0.0.0.0" if gw == "On-link" else gw,
                    "RouteMetric": max(metric - ifm, 0), "InterfaceMetric": ifm, "ifIndex": n.index if n else 1,
                    "InterfaceAlias": n.name if n else "Loopback Pseudo-Interface 1", "AddressFamily": "IPv4",
                    "Protocol": "Local" if gw == "On-link" else ("NetMgmt" if any(p[0] == dest for p in persistent)
                                                                  else "Dhcp"),
                    "Store": "ActiveStore", "State": "Alive"})
    # Get-NetRoute lists a persistent route twice: its ActiveStore copy (above) and its PersistentStore copy (§5.6),
    # whose interface metric Format-Table leaves blank; "Default" (route print's word, §5.4) is RouteMetric 0.
    for dest, mask, gw, metric in persistent:
        n = next((x for x in nics if x.gateway == gw or _net(x.ip, x.prefix) == _net(gw, x.prefix)), nics[0])
        plen = ipaddress.ip_network(f"0.0.0.0/{mask}").prefixlen
        out.append({"DestinationPrefix": f"{dest}/{plen}", "NextHop": gw,
                    "RouteMetric": 0 if metric == "Default" else int(metric), "InterfaceMetric": None,
                    "ifIndex": n.index, "InterfaceAlias": n.name, "AddressFamily": "IPv4", "Protocol": "NetMgmt",
                    "Store": "PersistentStore", "State": "Alive"})
    return out


def get_netipaddress(nics: list[Nic]) -> list:
    out = []
    for n in nics:
        for _i, ip in enumerate([n.ip, *n.extra_ips]):
            out.append({"IPAddress": ip, "PrefixLength": n.prefix if not n.apipa else 16, "InterfaceIndex": n.index,
                        "InterfaceAlias": n.name, "AddressFamily": "IPv4",
                        "PrefixOrigin": "WellKnown" if n.apipa else ("Dhcp" if n.dhcp else "Manual"),
                        "SuffixOrigin": "Link" if n.apipa else ("Dhcp" if n.dhcp else "Manual"),
                        "SkipAsSource": False, "AddressState": "Preferred"})
    return out


def services(running: bool = True, version: str = AGENT_VERSION) -> list:
    path = f"C:\\WindowsAzure\\GuestAgent_{version}_2024-02-21_031205\\WindowsAzureGuestAgent.exe"
    return [{"Name": "WindowsAzureGuestAgent", "DisplayName": "Windows Azure Guest Agent",
             "Status": "Running" if running else "Stopped", "StartType": "Automatic",
             "ProcessId": 2412 if running else None, "PathName": path, "FileVersion": version},
            {"Name": "RdAgent", "DisplayName": "RdAgent", "Status": "Running", "StartType": "Automatic",
             "ProcessId": 1868, "PathName": "C:\\WindowsAzure\\Packages\\WaAppAgent.exe", "FileVersion": version}]


def tcp_probes(t: datetime, fail: dict[tuple[str, int], str] | None = None, rng: random.Random | None = None) -> list:
    fail = fail or {}
    rng = rng or random.Random(1)
    out = []
    for target, port in (("168.63.129.16", 80), ("168.63.129.16", 32526), ("169.254.169.254", 80)):
        for attempt in range(1, 4):
            err = fail.get((target, port))
            timeout = err is not None and "did not properly respond" in err
            ms = 21003.4 if timeout else (round(rng.uniform(0.6, 2.4), 1) if err is None else round(rng.uniform(0.2, 0.9), 1))
            out.append({"target": target, "port": port, "ok": err is None, "elapsed_ms": ms, "error": err,
                        "attempt": attempt, "time": iso_ms(t)})
            t += timedelta(milliseconds=ms + 250)
    return out


TIMEOUT_ERR = ("A connection attempt failed because the connected party did not properly respond after a period of "
               "time, or established connection failed because connected host has failed to respond {0}")
FORBIDDEN_ERR = "An attempt was made to access a socket in a way forbidden by its access permissions {0}"


def imds_instance(name: str, vm_id: str, nics: list[Nic]) -> dict:
    """IMDS instance document, shape of the public IMDS article (compute + network.interface[])."""
    return {"compute": {"azEnvironment": "AzurePublicCloud", "location": "westeurope", "name": name,
                        "offer": "WindowsServer", "osType": "Windows", "placementGroupId": "",
                        "platformFaultDomain": "0", "platformUpdateDomain": "0", "provider": "Microsoft.Compute",
                        "publisher": "MicrosoftWindowsServer", "resourceGroupName": "rg-support-lab",
                        "resourceId": f"/subscriptions/8c1b2f6e-0b7a-4d0e-9a51-3f2d1c6b9e40/resourceGroups/rg-support-lab/"
                                      f"providers/Microsoft.Compute/virtualMachines/{name}",
                        "sku": "2022-datacenter-azure-edition", "subscriptionId": "8c1b2f6e-0b7a-4d0e-9a51-3f2d1c6b9e40",
                        "tags": "", "version": "20348.2340.240303", "vmId": vm_id, "vmScaleSetName": "",
                        "vmSize": "Standard_D2s_v5", "zone": "1"},
            "network": {"interface": [
                {"ipv4": {"ipAddress": [{"privateIpAddress": ip, "publicIpAddress": ""} for ip in [n.ip, *n.extra_ips]],
                          "subnet": [{"address": _net(n.ip, n.prefix), "prefix": str(n.prefix)}]},
                 "ipv6": {"ipAddress": []}, "macAddress": n.mac.replace("-", "").upper()}
                for n in nics if not n.apipa]}}


def http_envelope(url: str, t: datetime, status: int | None, body: str, *, ctype: str | None = None,
                  error: str | None = None, elapsed: float = 3.1) -> dict:
    headers = {"Content-Type": ctype} if ctype else {}
    if status is not None:
        headers["Server"] = "Microsoft-IIS/10.0" if "168.63.129.16" in url else "IMDS/150.870.65.1250"
    return {"url": url, "status": status, "headers": headers, "body": body, "error": error,
            "elapsed_ms": elapsed, "time": iso_ms(t)}


WIRESERVER_XML = """<?xml version="1.0" encoding="utf-8"?>
<Versions>
  <Preferred>
    <Version>2015-04-05</Version>
  </Preferred>
  <Supported>
    <Version>2015-04-05</Version>
    <Version>2012-11-30</Version>
    <Version>2012-09-15</Version>
    <Version>2012-05-15</Version>
    <Version>2011-12-31</Version>
    <Version>2011-10-15</Version>
    <Version>2011-08-31</Version>
    <Version>2011-04-07</Version>
    <Version>2010-12-15</Version>
    <Version>2010-28-10</Version>
  </Supported>
</Versions>"""  # §5.1, real capture indentation

IMDS_VERSIONS = '{"apiVersions":["2017-03-01","2017-04-02","2017-08-01","2017-10-01","2017-12-01","2018-02-01",' \
                '"2018-04-02","2018-10-01","2019-02-01","2019-03-11","2019-04-30","2019-06-01","2019-06-04",' \
                '"2019-08-01","2019-08-15","2019-11-01","2020-06-01","2020-07-15","2020-09-01","2020-10-01",' \
                '"2020-12-01","2021-01-01","2021-02-01","2021-03-01","2021-05-01","2021-08-01","2021-10-01",' \
                '"2021-11-01","2021-11-15","2021-12-13","2022-02-01","2022-03-01","2022-07-01","2022-08-01",' \
                '"2022-11-01","2023-07-01","2023-11-15","2024-03-15"]}'


# ---------------------------------------------------------------------------------------------- scenarios
class Bundle:
    def __init__(self, name: str, computer: str, vm_id: str, collected: datetime) -> None:
        self.name, self.computer, self.vm_id, self.collected = name, computer, vm_id, collected
        self.files: dict[str, bytes] = {}
        self.readme = ""
        self.expected: list[str] = []
        self.summary = ""

    def put(self, path: str, data: bytes) -> None:
        self.files[path] = data

    def network(self, nics: list[Nic], routes: list, persistent: list, lease: datetime) -> None:
        self.put("commands/route_print.txt", route_print(nics, routes, persistent))
        self.put("commands/ipconfig_all.txt", ipconfig(self.computer, nics, lease))
        self.put("commands/get_netroute.json", jbytes(get_netroute(nics, routes, persistent)))
        self.put("commands/get_netipaddress.json", jbytes(get_netipaddress(nics)))

    def write(self, root: Path) -> None:
        out = root / self.name
        if out.exists():
            shutil.rmtree(out)
        artifacts = []
        for path in sorted(self.files):
            data = self.files[path]
            dest = out / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            origin = ("C:\\" + path[2:].replace("/", "\\")) if path.startswith("C/") else {
                "commands/route_print.txt": "route print", "commands/ipconfig_all.txt": "ipconfig /all",
                "commands/netsh_winhttp_proxy.txt": "netsh winhttp show proxy"}.get(path, path)
            artifacts.append({"path": path, "origin": origin, "status": "collected", "size": len(data),
                              "original_size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "note": None})
        manifest = {"format": "guestagent-kit-bundle", "format_version": 1,
                    "collector": {"name": "guestagent-kit sample generator", "version": "0.1.0"},
                    "vm": {"host": self.computer, "computer_name": self.computer, "vm_id": self.vm_id,
                           "os": "Microsoft Windows Server 2022 Datacenter Azure Edition 10.0.20348",
                           "time_zone": "UTC", "utc_offset_minutes": 0},
                    "collected_at": iso_ms(self.collected), "limits": {"per_file_bytes": 31457280,
                                                                       "total_bytes": 157286400},
                    "artifacts": artifacts}
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        (out / "README.md").write_text(self.readme.strip() + "\n", encoding="utf-8")
        (out / "scenario.json").write_text(json.dumps({"expected_codes": self.expected, "summary": self.summary},
                                                      indent=2) + "\n", encoding="utf-8")


def base_bundle(name: str, computer: str, seed: int, collected: datetime, *, nics: list[Nic] | None = None,
                agent_extra: list | None = None, agent_hours: float = 6.0, cse: str = "ok",
                proxy: bytes | None = None, firewall: list | None = None, tcp_fail: dict | None = None,
                imds: dict | None = None, routes: list | None = None, persistent: list | None = None,
                rotated: bool = False, rotated_extra: list | None = None, oobe_waits: int = 0,
                health_report: bool = False, installer_log: bool = False) -> Bundle:
    """A healthy VM; each scenario overrides the part that breaks."""
    rng = random.Random(seed)
    vm_id = str(__import__("uuid").UUID(int=rng.getrandbits(128), version=4))
    b = Bundle(name, computer, vm_id, collected)
    nics = nics or [Nic(6, "Ethernet", "Microsoft Hyper-V Network Adapter", "7c-ed-8d-4d-30-f4", "10.0.1.4",
                        gateway="10.0.1.1")]
    start = collected - timedelta(hours=agent_hours)
    # --- agent log
    log = AgentLog("iso")
    ready = agent_start(log, start + timedelta(milliseconds=440), iface=nics[0].name, oobe_waits=oobe_waits,
                        no_dhcp_iface=next((n.name for n in nics if n.apipa), None))
    events = list(agent_extra or [])
    shift = oobe_duration(oobe_waits)  # what waiting for OOBE delayed
    bg_t = start + shift + timedelta(minutes=2, seconds=4, milliseconds=200)  # BGInfo handler start
    cse_start = start + shift + timedelta(minutes=14, seconds=3, milliseconds=120)  # CSE handler start
    events += plugin_lines(bg_t - timedelta(seconds=3, milliseconds=650), BGINFO, BGINFO_VER, BGINFO_VER)
    new_vm = oobe_waits > 0  # first boot: the handlers are installed before they are enabled
    events += plugin_result(bg_t + timedelta(seconds=3, milliseconds=410), BGINFO, BGINFO_VER, installed=new_vm)
    if cse != "none":
        events += plugin_lines(cse_start - timedelta(seconds=5), CSE, CSE_VER, CSE_VER)
        if cse == "ok":
            events += plugin_result(cse_start + timedelta(seconds=40, milliseconds=590), CSE, CSE_VER)
        else:  # the enable never returned: the agent kills it when the 90-minute budget is spent
            events.append(plugin_not_exited(cse_start + timedelta(minutes=90, milliseconds=270), CSE))
    hb_start = ready + timedelta(seconds=20)
    # The health report block continues the second heartbeat record (the doc does not say which record it follows).
    after = {1: vm_health_report(hb_start + timedelta(minutes=5, milliseconds=150), nics)} if health_report else None
    heartbeats(log, hb_start, collected - timedelta(seconds=30), extra=events, after=after)
    if rotated:
        old = AgentLog("mdy")  # the older layout of the agent before its auto-upgrade (§1.1 heads)
        ot = agent_start(old, start - timedelta(days=3, hours=2, milliseconds=910), version=OLD_AGENT_VERSION)
        heartbeats(old, ot + timedelta(seconds=20), ot + timedelta(hours=2), extra=rotated_extra)
        old.add(ot + timedelta(hours=2, seconds=1), 7, "WARN", "WindowsAzureGuestAgent stopping.")
        b.put("C/WindowsAzure/Logs/WaAppAgent.1.log", crlf(old.lines))
    b.put("C/WindowsAzure/Logs/WaAppAgent.log", crlf(log.lines))
    if installer_log:
        b.put("C/WindowsAzure/Logs/TransparentInstaller.log", crlf(installer_checks(start, collected)))
    # --- extensions: BGInfo (fine everywhere) and a Custom Script Extension run
    # BGInfo.log: the formats doc has no BGInfo log; its lines are the RunCommand handler's of §3.1.
    bglog = [handler_line(4012, bg_t - timedelta(seconds=1, milliseconds=870), "INFO", "Starting BGInfo Extension"),
             handler_line(4012, bg_t - timedelta(seconds=1, milliseconds=860), "INFO", "Installing Handler"),
             handler_line(4012, bg_t - timedelta(seconds=1, milliseconds=610), "INFO", "Handler successfully installed"),
             ] if new_vm else []
    bglog += [handler_line(4136, bg_t, "INFO", "Starting BGInfo Extension"),
             handler_line(4136, bg_t, "INFO", "Enabling Handler"),
             handler_line(4136, bg_t + timedelta(seconds=3, milliseconds=110), "INFO", "Handler successfully enabled")]
    b.put(f"C/WindowsAzure/Logs/Plugins/{BGINFO}/{BGINFO_VER}/BGInfo.log", crlf(bglog))
    bgst = f"C/Packages/Plugins/{BGINFO}/{BGINFO_VER}/"
    b.put(bgst + "Status/0.status", jbytes([{"version": "1", "timestampUTC": bg_t.strftime("%Y-%m-%dT%H:%M:%S.")
                                             + "3312090Z", "status": {"name": "BGInfo", "operation": "Enable",
                                                                     "status": "success", "code": 0,
                                                                     "formattedMessage": {"lang": "en-US",
                                                                                          "message": "BGInfo enabled"}}}]))
    b.put(bgst + "RuntimeSettings/0.settings", jbytes(settings(rng, {})))
    b.put(bgst + "HandlerManifest.json", jbytes(handler_manifest("BGInfoHandler.exe")))
    b.put(bgst + "HandlerEnvironment.json", jbytes(handler_env(BGINFO, BGINFO_VER)))
    agg_handlers = [(BGINFO, BGINFO_VER, "success", "BGInfo enabled")]
    if cse != "none":
        command = ("powershell -ExecutionPolicy Unrestricted -File install-monitoring.ps1" if cse == "ok" else
                   "powershell -ExecutionPolicy Unrestricted -File install-erp-client.ps1")
        finish = timedelta(seconds=40, milliseconds=260) if cse == "ok" else None
        lines, end = cse_enable(5124, cse_start, command, finish_after=finish)
        b.put(f"C/WindowsAzure/Logs/Plugins/{CSE}/{CSE_VER}/CustomScriptHandler.log", crlf(lines))
        st = f"C/Packages/Plugins/{CSE}/{CSE_VER}/"
        if cse == "ok":
            status = cse_status(end + timedelta(milliseconds=610), "success", "Command execution finished",
                                stdout="Monitoring agent installed.\r\n")
            agg_handlers.append((CSE, CSE_VER, "success", "Command execution finished"))
        else:
            status = cse_status(cse_start + timedelta(seconds=2, milliseconds=530), "transitioning",
                                "Command execution task started. Awaiting completion...")
            agg_handlers.append((CSE, CSE_VER, "transitioning", "Command execution task started. Awaiting completion..."))
        b.put(st + "Status/0.status", jbytes(status))
        b.put(st + "RuntimeSettings/0.settings", jbytes(settings(rng, {"commandToExecute": command, "fileUris": [
            f"https://stsupportlab01.blob.core.windows.net/scripts/{command.rsplit(' ', 1)[-1]}"]})))
        b.put(st + "HandlerManifest.json", jbytes(handler_manifest("bin\\CustomScriptHandler.exe")))
        b.put(st + "HandlerEnvironment.json", jbytes(handler_env(CSE, CSE_VER)))
    # aggregatestatus.json: NUL padding after the document (§6.3 encoding hazard)
    agg = json.dumps(aggregate(collected - timedelta(seconds=14), agg_handlers), indent=2).replace("\n", "\r\n")
    b.put("C/WindowsAzure/Logs/AggregateStatus/aggregatestatus.json", agg.encode("utf-8") + b"\x00" * 96)
    # --- network
    routes = routes if routes is not None else standard_routes(nics, host_routes_via=nics[0])
    b.network(nics, routes, persistent or [], start - timedelta(days=12, hours=3, minutes=21))
    b.put("commands/netsh_winhttp_proxy.txt", proxy or
          b"\r\nCurrent WinHTTP proxy settings:\r\n\r\n    Direct access (no proxy server).\r\n\r\n")
    b.put("commands/services.json", jbytes(services()))
    b.put("commands/firewall_rules.json", jbytes(firewall or []))
    pt = collected - timedelta(seconds=20)
    b.put("probes/tcp.json", jbytes(tcp_probes(pt, tcp_fail, rng)))
    imds = imds or {"status": 200, "body": json.dumps(imds_instance(computer, vm_id, nics), separators=(",", ":"))}
    b.put("probes/imds_instance.json", jbytes(http_envelope(
        "http://169.254.169.254/metadata/instance?api-version=2021-02-01", pt + timedelta(seconds=4),
        imds["status"], imds["body"], ctype="application/json; charset=utf-8" if imds["status"] else None,
        error=imds.get("error"), elapsed=imds.get("elapsed", 4.2))))
    vstatus = 200 if imds["status"] == 200 else None
    b.put("probes/imds_versions.json", jbytes(http_envelope(
        "http://169.254.169.254/metadata/versions", pt + timedelta(seconds=5), vstatus,
        IMDS_VERSIONS if vstatus else "", ctype="application/json; charset=utf-8" if vstatus else None,
        error=None if vstatus else imds.get("error"), elapsed=2.7 if vstatus else imds.get("elapsed", 21000.0))))
    b.put("probes/wireserver_versions.json", jbytes(http_envelope(
        "http://168.63.129.16/?comp=versions", pt + timedelta(seconds=6), 200, WIRESERVER_XML,
        ctype="text/xml; charset=utf-8")))
    b.put("probes/wireserver_versions.xml", WIRESERVER_XML.replace("\n", "\r\n").encode("utf-8"))
    return b


WSAEACCES_RECORD = [
    # §1.1 verbatim, stack frames with the "   at " indent real logs have.
    "---> System.Net.Sockets.SocketException: An attempt was made to access a socket in a way forbidden by its "
    "access permissions 168.63.129.16:32526",
    "   at System.Net.Sockets.Socket.DoConnect(EndPoint endPointSnapshot, SocketAddress socketAddress)",
    "   at System.Net.ServicePoint.ConnectSocketInternal(Boolean connectFailure, Socket s4, Socket s6, Socket& socket, "
    "IPAddress& address, ConnectSocketState status, IAsyncResult asyncResult, Exception& exception)",
    "   --- End of inner exception stack trace ---",
    "   at System.Net.WebClient.DownloadDataInternal(Uri address, WebRequest& request)",
    "   at System.Net.WebClient.DownloadString(Uri address)",
    "   at Microsoft.GuestAgentHostPlugin.Client.GuestInformationServiceClient.GetVersions()",
    "   at Microsoft.WindowsAzure.GuestAgent.ContainerStateMachine.HostGAPluginUtility.UpdateHostGAPluginAvailability()",
]
PROXY_502_RECORD = [
    # §1.4 verbatim (2024 layout: ISO with milliseconds, frames indented 4 spaces)
    "    at System.Net.Http.HttpResponseMessage.EnsureSuccessStatusCode()",
    "    at Microsoft.WindowsAzure.RoleContainer.Protocol.WireServerClient.GetResult[T](Uri uri, X509Certificate "
    "transportCertificate)",
    "    at Microsoft.WindowsAzure.RoleContainer.Protocol.ControlSystem.SelectProtocolVersion().",
]


def healthy() -> Bundle:
    b = base_bundle("healthy", "web-01", 101, datetime(2024, 3, 8, 10, 15, 4, 512000, tzinfo=UTC), rotated=True)
    # health_report=True would add the VM Health Report block (vm_health_report) to this log; it is off because
    # tests/test_samples.py (not this generator's) accepts only stack-frame/exception continuation lines.
    b.summary = "A healthy VM: the agent runs, every platform endpoint answers, a Custom Script Extension succeeded."
    b.readme = """
# healthy

**What happened:** nothing wrong. The guest agent (2.7.41491.1102) has run for six hours since its last start,
writing a heartbeat every five minutes; an older, rotated `WaAppAgent.1.log` from before the agent's auto-upgrade
still uses the older `[MM/DD/YYYY HH:MM:SS.ff]` layout. BGInfo and a Custom Script Extension
(`install-monitoring.ps1`, finished in 40 s with exit code 0) are enabled: the agent log says
`plugin (name: ..., version: ...) enabled successfully. Code: 0` for both, and the handler logs and `Status/0.status`
agree. From the VM, WireServer
(168.63.129.16:80), HostGAPlugin (:32526) and IMDS (169.254.169.254) all answer; DHCP installed the host routes for
both platform addresses via the subnet gateway 10.0.1.1 on the primary NIC 10.0.1.4; WinHTTP is direct.

**Noise that must not alarm anyone:** `[ERROR] Error SetCPUNotification: 87` at agent start (known harmless), and the
NUL padding after the JSON in `aggregatestatus.json`.

**What a good engineer concludes:** the agent and the platform path are healthy; look elsewhere.

## Findings
None at warning or above (`info` only).
"""
    return b


def firewall() -> Bundle:
    c = datetime(2024, 5, 14, 8, 42, 17, 90000, tzinfo=UTC)
    start = c - timedelta(hours=6)
    extra = [(start + timedelta(minutes=1, seconds=7) + timedelta(minutes=15 * i), 11, "WARN",
              "(Ignoring) Exception while fetching supported versions from HostGAPlugin: System.Net.WebException: "
              "Unable to connect to the remote server ", *WSAEACCES_RECORD) for i in range(23)]
    rule = {"Name": "{5c1a6b61-8f3e-4b6e-9a7d-2f61c3e0b9a4}", "DisplayName": "Block Azure host plugin (hardening)",
            "Enabled": True, "Direction": "Outbound", "Action": "Block", "Profile": "Any",
            "PolicyStoreSource": "GroupPolicy", "Protocol": "TCP", "RemoteAddress": ["168.63.129.16"],
            "RemotePort": ["32526"], "LocalPort": ["Any"], "Program": "Any"}
    b = base_bundle("firewall-blocks-32526", "app-07", 202, c, agent_extra=extra, cse="none", firewall=[rule], rotated=True,
                    tcp_fail={("168.63.129.16", 32526): FORBIDDEN_ERR.format("168.63.129.16:32526")})
    b.expected = ["GUEST_FIREWALL_BLOCKS_WIRESERVER", "HOSTGAPLUGIN_UNREACHABLE"]
    b.summary = "A Group Policy firewall rule blocks outbound TCP to 168.63.129.16:32526 (HostGAPlugin) only."
    b.readme = """
# firewall-blocks-32526

**What happened:** a hardening Group Policy pushed the Windows Defender Firewall rule *Block Azure host plugin
(hardening)*: outbound TCP to 168.63.129.16 port **32526** is blocked; port 80 is not.

**Evidence:**
* `commands/firewall_rules.json`: the enabled outbound block rule for 168.63.129.16, RemotePort 32526 (from
  GroupPolicy).
* `probes/tcp.json`: all three connects to 168.63.129.16:80 and to IMDS succeed; all three to :32526 fail at once
  with *An attempt was made to access a socket in a way forbidden by its access permissions* (WSAEACCES: the local
  Windows Filtering Platform refused it - not a timeout on the network).
* `C/WindowsAzure/Logs/WaAppAgent.log`: every 15 minutes `[WARN] (Ignoring) Exception while fetching supported
  versions from HostGAPlugin ... forbidden by its access permissions 168.63.129.16:32526`.
* `C/WindowsAzure/Logs/WaAppAgent.1.log` (rotated, three days older, the agent before its auto-upgrade): no such
  warning - the rule arrived with a later Group Policy refresh.
* BGInfo still enabled fine: the agent downloads extension packages from storage and uses the HostGAPlugin only as
  a fallback, so this bundle shows **no** failed download (the formats doc has no Windows download-failure line to
  show one faithfully). What breaks is everything that only goes through the HostGAPlugin.

**What a good engineer concludes:** the guest firewall, not the network, blocks the HostGAPlugin. Extension
packages, vmSettings and status uploads will fail or fall back. Fix the GPO (or add an allow rule for the agent),
then `Test-NetConnection 168.63.129.16 -Port 32526`.

## Findings
`GUEST_FIREWALL_BLOCKS_WIRESERVER` (error), `HOSTGAPLUGIN_UNREACHABLE` (error).
"""
    return b


def proxy() -> Bundle:
    c = datetime(2024, 12, 18, 16, 2, 41, 330000, tzinfo=UTC)
    start = c - timedelta(hours=6)
    # The proxy was set about an hour after the agent started (BGInfo and the CSE ran fine before): from then on
    # every protocol-version check (every 10 minutes here; the cadence is not documented) gets the proxy's 502.
    extra = [(start + timedelta(minutes=62, seconds=12, milliseconds=328) + timedelta(minutes=10 * i), 6, "ERROR",
              "GetVersions() failed with exception: System.Net.Http.HttpRequestException: Response status code does "
              "not indicate success: 502 (cannotconnect).", *PROXY_502_RECORD) for i in range(30)]
    b = base_bundle("proxy-intercepts-agent", "erp-db-02", 303, c, agent_extra=extra,
                    proxy=b"\r\nCurrent WinHTTP proxy settings:\r\n\r\n    Proxy Server(s) :  http://10.20.0.5:8080\r\n"
                          b"    Bypass List     :  <local>\r\n\r\n")
    # The updater reaches the agent manifest on public storage through the same proxy: the proxy works for the
    # internet and fails only for the host-only addresses. (§1.4's TransparentInstaller timeout to a proxy would
    # tell a different story - an unreachable proxy - and is not used here.)
    b.put("C/WindowsAzure/Logs/TransparentInstaller.log", crlf(installer_checks(start, c)))
    b.expected = ["PROXY_INTERCEPTS_AGENT_TRAFFIC"]
    b.summary = "A WinHTTP proxy without a bypass for 168.63.129.16 answers the agent's WireServer calls with 502."
    b.readme = """
# proxy-intercepts-agent

**What happened:** about an hour after the agent started (BGInfo and a Custom Script Extension had already run
fine), someone set a machine-wide WinHTTP proxy, `http://10.20.0.5:8080`, with only `<local>` in the bypass list. `<local>` covers dot-less host names, not 168.63.129.16 or 169.254.169.254, so the agent's calls to
WireServer go to the proxy, which cannot reach the host-only address and answers **502 (cannotconnect)**.

**Evidence:**
* `commands/netsh_winhttp_proxy.txt`: `Proxy Server(s) : http://10.20.0.5:8080`, `Bypass List : <local>`.
* `C/WindowsAzure/Logs/WaAppAgent.log`: every 10 minutes `[ERROR] GetVersions() failed with exception:
  System.Net.Http.HttpRequestException: Response status code does not indicate success: 502 (cannotconnect).`
  The normal reason phrase for 502 is *Bad Gateway*; *cannotconnect* is a third-party proxy's.
* `C/WindowsAzure/Logs/TransparentInstaller.log`: the agent updater, whose requests to public storage go through
  the same proxy, reads the agent manifest every hour without trouble (`Manifest timestamp has not changed`): the
  proxy works for the internet; it only fails for the host-only address 168.63.129.16.
* `probes/*`: the collector itself bypasses proxies, and from the VM WireServer, HostGAPlugin and IMDS all answer
  directly. So the network path is fine; only traffic that goes through the proxy fails. That is why the kit does
  **not** report WireServer as unreachable here.

**What a good engineer concludes:** the proxy intercepts agent traffic. Add `168.63.129.16;169.254.169.254` to the
bypass list or reset WinHTTP (`netsh winhttp reset proxy`), restart the agent, and confirm the 502s stop.

## Findings
`PROXY_INTERCEPTS_AGENT_TRAFFIC` (error).
"""
    return b


def cse_timeout() -> Bundle:
    c = datetime(2024, 9, 3, 14, 7, 45, 220000, tzinfo=UTC)
    b = base_bundle("cse-timeout-90min", "build-agent-03", 404, c, cse="timeout", agent_hours=2.05,
                    oobe_waits=9)
    b.expected = ["EXTENSION_TIMEOUT", "EXTENSION_STUCK_TRANSITIONING"]
    b.summary = "A Custom Script Extension enable never finished; it ran past its 90-minute budget."
    b.readme = """
# cse-timeout-90min

**What happened:** a deployment runs the Custom Script Extension (Microsoft.Compute.CustomScriptExtension 1.10.15)
with `install-erp-client.ps1`. The installer inside the script waits for an answer to a prompt nobody can see
(the extension runs as SYSTEM, non-interactive), so the script never exits.

The VM is new: the agent log opens with nine `Waiting for OOBE to Complete ...` lines while Windows setup finishes
(harmless first-boot noise).

**Evidence:**
* `C/WindowsAzure/Logs/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15/CustomScriptHandler.log`: the enable
  starts, the files download, `Command execution task started. Awaiting completion...` - and nothing after it. The
  bundle was collected about 1 h 46 min later.
* `C/WindowsAzure/Logs/WaAppAgent.log`: 90 minutes after the enable started, `[ERROR] Enable command of
  Microsoft.Compute.CustomScriptExtension has not exited on time! Killing it...`. There is no
  `plugin (name: Microsoft.Compute.CustomScriptExtension, ...) enabled successfully` line, unlike BGInfo's.
* `C/Packages/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15/Status/0.status`: still `transitioning`,
  written 2 s after the start. The handler was killed before it could write a terminal status, so the file on the
  VM stays `transitioning`; the failure ("timed out waiting for the extension to reach a terminal state") is what
  the platform reports for the deployment, not something written on the VM.
* Networking, proxy, firewall, routes: all healthy.

**What a good engineer concludes:** the extension ran past its **90-minute** budget (CustomScriptExtension, DSC and
Chef get 90; other extensions 20), so the agent killed it and the platform fails the deployment. Make the script
non-interactive (silent installer switches, no prompts), bounded in time, then re-run with a new sequence number
(`-ForceRerun`).

## Findings
`EXTENSION_TIMEOUT` (error), `EXTENSION_STUCK_TRANSITIONING` (warning: `Status/0.status` still says
`transitioning` at collection time, 1 h 46 min after it was written, past the 90-minute budget). Both are raised on
purpose: one is about the run, the other about the state the VM is left in.
"""
    return b


def imds_secondary() -> Bundle:
    c = datetime(2025, 2, 11, 9, 30, 12, 640000, tzinfo=UTC)
    nics = [Nic(6, "Ethernet", "Microsoft Hyper-V Network Adapter", "00-0d-3a-4d-61-7d", "10.0.1.4", gateway="10.0.1.1"),
            Nic(9, "Ethernet 2", "Microsoft Hyper-V Network Adapter #2", "00-0d-3a-4d-6c-12", "10.0.2.4")]
    routes = standard_routes(nics, host_routes_via=nics[0])
    routes.insert(routes.index(("169.254.169.254", "255.255.255.255", "10.0.1.1", "10.0.1.4", 11)),
                  ("169.254.169.254", "255.255.255.255", "10.0.2.1", "10.0.2.4", 6))
    timeout = TIMEOUT_ERR.format("169.254.169.254:80")
    b = base_bundle("imds-route-secondary-nic", "api-gw-01", 505, c, nics=nics, routes=routes,
                    persistent=[("169.254.169.254", "255.255.255.255", "10.0.2.1", "1")],
                    tcp_fail={("169.254.169.254", 80): timeout}, installer_log=True,
                    imds={"status": None, "body": "", "error": "Unable to connect to the remote server ---> " + timeout,
                          "elapsed": 21007.9})
    b.expected = ["IMDS_ROUTE_WRONG_INTERFACE", "IMDS_UNREACHABLE", "PERSISTENT_ROUTE_OVERRIDE"]
    b.summary = "A persistent route sends 169.254.169.254 through the secondary NIC; IMDS does not answer."
    b.readme = """
# imds-route-secondary-nic

**What happened:** the VM has two NICs: *Ethernet* (10.0.1.4, primary, gateway 10.0.1.1) and *Ethernet 2* (10.0.2.4,
no gateway). While troubleshooting an application on the second subnet someone ran
`route add -p 169.254.169.254 mask 255.255.255.255 10.0.2.1 metric 1`. Its total metric (6) beats the DHCP host route
via 10.0.1.1 (11), so IMDS requests leave through the secondary NIC - and IMDS answers only the primary NIC's
primary IP.

**Evidence:**
* `commands/route_print.txt`: two 169.254.169.254/32 routes; the one via 10.0.2.1 on 10.0.2.4 has the lower metric
  and appears under *Persistent Routes*.
* `commands/ipconfig_all.txt`: Ethernet (10.0.1.4) holds the default gateway: the primary NIC. IMDS did not answer,
  so the kit decides the primary NIC from ipconfig.
* `probes/imds_instance.json` and `probes/tcp.json`: IMDS requests time out; WireServer and HostGAPlugin answer.
* `C/WindowsAzure/Logs/TransparentInstaller.log`: the agent updater checks its manifest every hour without trouble
  (`Manifest timestamp has not changed`): the default route and the internet are fine.

**What a good engineer concludes:** the persistent route sends IMDS traffic out of the wrong NIC.
`route delete 169.254.169.254 mask 255.255.255.255 10.0.2.1`, then check IMDS answers.

## Findings
`IMDS_ROUTE_WRONG_INTERFACE` (error), `IMDS_UNREACHABLE` (error), `PERSISTENT_ROUTE_OVERRIDE` (warning).
"""
    return b


TNC_IMDS = """
WARNING: TCP connect to (169.254.169.254 : 80) failed
WARNING: Ping to 169.254.169.254 failed with status: TimedOut


ComputerName           : 169.254.169.254
RemoteAddress          : 169.254.169.254
RemotePort             : 80
InterfaceAlias         : Local Area Connection* 12
SourceAddress          : 169.254.1.23
PingSucceeded          : False
PingReplyDetails (RTT) : 0 ms
TcpTestSucceeded       : False


"""


def failover_cluster() -> Bundle:
    c = datetime(2025, 6, 2, 17, 48, 3, 115000, tzinfo=UTC)
    # The formats doc has no ipconfig/route print of a failover cluster node; the virtual adapter is modelled on
    # the other adapters of §5.3 (APIPA address, on-link 169.254.0.0/16 route with the adapter's own metric).
    nics = [Nic(4, "Ethernet", "Microsoft Hyper-V Network Adapter", "00-0d-3a-a4-0b-37", "10.0.0.10",
                gateway="10.0.0.1", dhcp=False),
            Nic(12, "Local Area Connection* 12", "Microsoft Failover Cluster Virtual Adapter", "02-b3-9c-41-7e-5a",
                "169.254.1.23", prefix=16, dhcp=False, apipa=True)]
    routes = standard_routes(nics, host_routes_via=None, default_metric=271)
    timeout = TIMEOUT_ERR.format("169.254.169.254:80")
    b = base_bundle("failover-cluster-imds-captured", "sqlnode-01", 606, c, nics=nics, routes=routes,
                    persistent=[("0.0.0.0", "0.0.0.0", "10.0.0.1", "Default")],
                    tcp_fail={("169.254.169.254", 80): timeout},
                    imds={"status": None, "body": "", "error": "Unable to connect to the remote server ---> " + timeout,
                          "elapsed": 21011.2})
    # What the customer ran and saved with Windows PowerShell 5.1 `> tnc.txt`: UTF-16 LE with BOM.
    b.put("commands/test_netconnection_imds.txt", b"\xff\xfe" + TNC_IMDS.replace("\n", "\r\n").encode("utf-16-le"))
    b.expected = ["IMDS_ROUTE_CAPTURED_BY_LINK_LOCAL", "IMDS_UNREACHABLE", "PERSISTENT_ROUTE_OVERRIDE"]
    b.summary = "A failover cluster node: the cluster adapter's on-link 169.254.0.0/16 route captures IMDS traffic."
    b.readme = """
# failover-cluster-imds-captured

**What happened:** a Windows Server failover cluster node (SQL Server) with a static IP (DHCP off), so Azure DHCP does
not install its host routes for 168.63.129.16 and 169.254.169.254; the static default gateway appears as a
persistent route with metric `Default`. The *Microsoft Failover Cluster Virtual Adapter* has the APIPA address
169.254.1.23 and an on-link `169.254.0.0/16` route. For 169.254.169.254 that /16 is more specific than the default
route (/0), so IMDS traffic is sent to the cluster adapter and never reaches the gateway. WireServer still works
through the default route.

**Evidence:**
* `commands/route_print.txt`: `169.254.0.0 255.255.0.0 On-link 169.254.1.23`, no 169.254.169.254/32 route, the default
  route under *Persistent Routes*.
* `commands/ipconfig_all.txt`: *Ethernet* with DHCP Enabled: No; *Local Area Connection\\* 12*, the cluster adapter.
* `probes/imds_instance.json`, `probes/tcp.json`: IMDS times out.
* Noise, not a finding: at start-up the agent first asks the cluster adapter for the fabric address (`Empty DHCP
  option data returned`, `[ERROR] Did not discover fabric address on interface Local Area Connection* 12`), then
  discovers it on *Ethernet* a moment later.
* `commands/test_netconnection_imds.txt`: the customer's own `Test-NetConnection 169.254.169.254 -Port 80`, saved with
  `>` from Windows PowerShell 5.1 (UTF-16 LE): the test left from SourceAddress 169.254.1.23, the cluster adapter.

**What a good engineer concludes:** add a host route through the primary NIC's gateway, which wins by longest
prefix: `route add 169.254.169.254 mask 255.255.255.255 10.0.0.1 metric 0 -p` (IMDS article, "Failover Clustering
in Windows Server"). Also consider keeping the NIC on DHCP (Azure assigns the static IP through DHCP anyway).

## Findings
`IMDS_ROUTE_CAPTURED_BY_LINK_LOCAL` (error), `IMDS_UNREACHABLE` (error), `PERSISTENT_ROUTE_OVERRIDE` (warning).
"""
    return b


# ---------------------------------------------------------------------------------------------- Key Vault, MSI
KV = "Microsoft.Azure.KeyVault.KeyVaultForWindows"
KV_VER = "3.1.2195.61"  # a real KeyVaultForWindows version (MicrosoftDocs/azure-docs#109667)
MSI_EXT = "Microsoft.ManagedIdentity.ManagedIdentityExtensionForWindows"
MSI_VER = "1.0.0.16"  # the formats doc and the articles give only typeHandlerVersion 1.0: the build number is ours


def kv_line(t: datetime, level: str, component: str, message: str) -> str:
    """The Key Vault extension's service log (akvvm_service_<date>.log). The formats doc is silent; this is the
    layout of the Windows logs quoted in MicrosoftDocs/azure-docs#66632 and #109667: zone-less time, a colon, the
    lower-case level in angle brackets, the component in square brackets, a tab, the message."""
    return f"{t:%Y-%m-%d %H:%M:%S}: <{level}> [{component}]\t{message}"


def kv_service_start(t: datetime, ver: str = KV_VER) -> list[str]:
    """Start-up lines, verbatim from azure-docs#109667 (first three) and #66632 (the rest)."""
    return [kv_line(t, "info", "Global", "Initializing file-based logging, sending file logs to "
                    f"C:\\WindowsAzure\\Logs\\Plugins\\{KV}\\{ver}"),
            kv_line(t, "info", "VMExtension", "Starting extension"),
            kv_line(t, "debug", "CertificateManagementConfiguration", "Found v3.x configuration with ACL"),
            kv_line(t, "info", "KVWinService", "Service Starting..."),
            kv_line(t, "info", "WindowsCertificateManager", "Setting up worker.."),
            kv_line(t, "info", "WindowsCertificateManager", "Worker setup: creating termination event.."),
            kv_line(t, "info", "WindowsCertificateManager", "Completed worker setup."),
            kv_line(t, "info", "CertificateManager", "Entering worker loop.."),
            kv_line(t, "info", "CertificateManager", "Starting refreshing observed certificates...")]


def kv_refresh(t: datetime, url: str, store: str = "LocalMachine\\MY", error: str | None = None) -> list[str]:
    """One certificate refresh: `Beginning refresh for:` and the store lines (azure-docs#66632), and on failure
    `Refreshing '<url>/' failed with exception: ...` (azure-docs#109667, which shows the trailing slash). What the
    extension logs after a successful install is not quoted anywhere we found: nothing is written for it."""
    out = [kv_line(t, "info", "CertificateManager", f"Beginning refresh for: {url}"),
           kv_line(t, "info", "WindowsCertificateStore", f"attempting to open store '{store}'"),
           kv_line(t, "debug", "WindowsCertificateStore", f"opening the '{store.split(chr(92))[0]}' store..")]
    if error:
        out.append(kv_line(t + timedelta(milliseconds=870), "error", "CertificateManager",
                           f"Refreshing '{url}/' failed with exception: {error}"))
    return out


def kv_403(vault: str, location: str = "westeurope", oid: str = "7d1e4b2c-9a0f-4c3e-8b5d-2f6a1c0e9b47") -> str:
    """Key Vault's own 403 text (quoted in MicrosoftDocs/azure-docs#64580, ansible-collections/azure#635). How the
    extension wraps it after "failed with exception:" is not documented: it is quoted as Key Vault words it."""
    return (f"The user, group or application 'appid=3c2a7f10-5b8e-4d6a-9f21-0e4b7c8d9a12;oid={oid};"
            "iss=https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/' does not have secrets get permission on "
            f"key vault '{vault};location={location}'. For help resolving this issue, please see "
            "https://go.microsoft.com/fwlink/?linkid=2125287")


def kv_status(t: datetime, status: str, message: str, operation: str = "Service start.") -> list:
    """Status/0.status in the shape of the Key Vault status quoted in azure-docs#49224 (version "1.0", lang "en",
    seconds-only time stamp). That issue quotes an error; the transitioning/success wordings are not documented."""
    return [{"status": {"code": 0, "formattedMessage": {"lang": "en", "message": message}, "operation": operation,
                        "status": status}, "timestampUTC": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "version": "1.0"}]


def kv_public(certs: list[tuple[str, str]], *, initial_sync: bool | None, auth: dict | None) -> dict:
    """publicSettings in the 3.x schema of the Key Vault extension article (certs: (url, store location))."""
    sms: dict = {"pollingIntervalInS": "3600", "linkOnRenewal": True}
    if initial_sync is not None:
        sms["requireInitialSync"] = initial_sync
    sms["observedCertificates"] = [{"url": u, "certificateStoreName": "MY", "certificateStoreLocation": loc,
                                    "accounts": ["Network Service"]} for u, loc in certs]
    out: dict = {"secretsManagementSettings": sms}
    if auth is not None:
        out["authenticationSettings"] = auth
    return out


def put_extension(b: Bundle, ext: str, ver: str, public: dict, status: list, handler_cmd: str) -> None:
    """State files of an extension. Key Vault needs no protected settings ("All settings are considered public
    information", Key Vault extension article): protectedSettings is null, as in the Linux CSE example of §6.2."""
    root = f"C/Packages/Plugins/{ext}/{ver}/"
    b.put(root + "RuntimeSettings/0.settings", jbytes({"runtimeSettings": [{"handlerSettings": {
        "protectedSettings": None, "publicSettings": public, "protectedSettingsCertThumbprint": None}}]}))
    b.put(root + "Status/0.status", jbytes(status))
    b.put(root + "HandlerManifest.json", jbytes(handler_manifest(handler_cmd)))
    b.put(root + "HandlerEnvironment.json", jbytes(handler_env(ext, ver)))


def keyvault_deadlock() -> Bundle:
    c = datetime(2024, 11, 19, 15, 42, 36, 804000, tzinfo=UTC)
    hours, waits = 2.3, 6
    start = c - timedelta(hours=hours)
    kv_t = start + oobe_duration(waits) + timedelta(minutes=3, seconds=51, milliseconds=310)  # after BGInfo
    vault = "kv-payments-prod-weu"
    url = f"https://{vault}.vault.azure.net/secrets/payments-web-tls"
    # 25 retries with increasing backoff (Key Vault extension article); the backoff steps themselves are not
    # documented - doubling from 10 s, as far as the 2.3 hours of this bundle reach.
    log, t, step = kv_service_start(kv_t), kv_t + timedelta(seconds=1, milliseconds=120), timedelta(seconds=10)
    while t < c - timedelta(minutes=1):
        log += kv_refresh(t, url, error=kv_403(vault))
        t, step = t + step, step * 2
    b = base_bundle("keyvault-initial-sync-deadlock", "payments-web-03", 717, c, cse="none", agent_hours=hours,
                    oobe_waits=waits, agent_extra=plugin_lines(kv_t - timedelta(seconds=4, milliseconds=230), KV,
                                                               KV_VER, KV_VER))
    b.put(f"C/WindowsAzure/Logs/Plugins/{KV}/{KV_VER}/akvvm_service_{kv_t:%Y-%m-%d_%H-%M-%S}.1.log", crlf(log))
    put_extension(b, KV, KV_VER, kv_public([(url, "LocalMachine")], initial_sync=True, auth=None),
                  kv_status(kv_t + timedelta(seconds=1), "transitioning", "Installing certificates."),
                  "akvvm_extension.exe")
    agg = json.dumps(aggregate(c - timedelta(seconds=14), [
        (BGINFO, BGINFO_VER, "success", "BGInfo enabled"),
        (KV, KV_VER, "transitioning", "Installing certificates.")]), indent=2).replace("\n", "\r\n")
    b.put("C/WindowsAzure/Logs/AggregateStatus/aggregatestatus.json", agg.encode("utf-8") + b"\x00" * 96)
    b.expected = ["KEYVAULT_INITIAL_SYNC_BLOCKING"]
    b.summary = ("A template gives the VM a system-assigned identity and vault access only after its extensions: the "
                 "Key Vault extension's initial sync waits forever.")
    b.readme = f"""
# keyvault-initial-sync-deadlock

**What happened:** an ARM template deploys `payments-web-03` with a **system-assigned** managed identity, the Key Vault
VM extension ({KV} {KV_VER}) with `requireInitialSync: true`, a Custom Script Extension that binds the
certificate in IIS (ordered after Key Vault with `provisionAfterExtensions`), and an access policy on
`{vault}` for the VM's identity that depends on the VM. The VM resource completes only when its extensions have,
the access policy waits for the VM, and the Key Vault extension waits for access: the **deadlock** the Key Vault
extension article warns about.

**Evidence:**
* `C/Packages/Plugins/{KV}/{KV_VER}/RuntimeSettings/0.settings`: `requireInitialSync: true`, one observed
  certificate, no `authenticationSettings` (so the system-assigned identity is used).
* `C/Packages/Plugins/{KV}/{KV_VER}/Status/0.status`: `transitioning` since first boot, about 2 h 10 min before
  collection.
* `C/WindowsAzure/Logs/Plugins/{KV}/{KV_VER}/akvvm_service_*.log`: the service starts, then every refresh of
  `{url}` fails with Key Vault's 403 *does not have secrets get permission on key vault '{vault};location=westeurope'*,
  retried with a growing back-off.
* `C/WindowsAzure/Logs/WaAppAgent.log`: a new VM (`Waiting for OOBE to Complete ...`), BGInfo enabled; the agent looked
  up the Key Vault extension but never logged it enabled. The Custom Script Extension never reached the VM: nothing
  of it is in the bundle.
* Networking, proxy, firewall, routes: healthy.

**What a good engineer concludes:** not a network or agent problem. Use a **user-assigned** identity that already
has `get`/`list` on secrets (or the Key Vault Secrets User role) before the deployment, and pass its client ID in
`authenticationSettings.msiClientId` (with `msiEndpoint`); or grant access to the system-assigned identity in a
second deployment; or drop `requireInitialSync`.

**Sources of the formats:** the service log layout and its start-up and refresh lines are quoted from
MicrosoftDocs/azure-docs issues #66632 and #109667; the status shape from #49224; Key Vault's 403 text from its own
error messages. Not documented anywhere we found (and so modelled): the wording of a transitioning status, and the
back-off steps.

## Findings
`KEYVAULT_INITIAL_SYNC_BLOCKING` (error). The status is also stuck `transitioning` and the downloads fail, but both
are this finding's evidence: `EXTENSION_STUCK_TRANSITIONING` and `KEYVAULT_CERT_DOWNLOAD_FAILED` are not raised again.
"""
    return b


def keyvault_legacy_endpoint() -> Bundle:
    c = datetime(2025, 1, 22, 8, 3, 17, 260000, tzinfo=UTC)
    start = c - timedelta(hours=6)
    vault, partner = "kv-hrapp-prod-neu", "kv-partner-shared-neu"
    web = f"https://{vault}.vault.azure.net/secrets/hrapp-web-tls"
    sso = f"https://{vault}.vault.azure.net/certificates/hrapp-saml-signing"
    api = f"https://{partner}.vault.azure.net/secrets/partner-api-client"
    kv_t = start + timedelta(minutes=3, seconds=12, milliseconds=450)
    old_ver = "3.0.2161.37"  # before the auto-upgrade; the build number is ours
    log = kv_service_start(kv_t)
    t = kv_t + timedelta(seconds=1, milliseconds=40)
    while t < c - timedelta(minutes=5):  # pollingIntervalInS 3600
        log += kv_refresh(t, web)
        log += kv_refresh(t + timedelta(milliseconds=410), sso)
        log += kv_refresh(t + timedelta(milliseconds=820), api, error=kv_403(partner, "northeurope",
                                                                              "1b8c2e4f-7a3d-4f6e-9c0b-5d2a8e1f3c47"))
        t += timedelta(hours=1, milliseconds=1210)
    extra = [*plugin_lines(kv_t - timedelta(seconds=6, milliseconds=120), KV, old_ver, KV_VER),
             *plugin_result(kv_t + timedelta(seconds=2, milliseconds=330), KV, KV_VER),
             *plugin_lines(start + timedelta(minutes=1, seconds=50, milliseconds=70), MSI_EXT, MSI_VER, MSI_VER),
             *plugin_result(start + timedelta(minutes=1, seconds=55, milliseconds=610), MSI_EXT, MSI_VER)]
    b = base_bundle("keyvault-legacy-msi", "hrapp-02", 808, c, cse="none", agent_extra=extra, rotated=True)
    b.put(f"C/WindowsAzure/Logs/Plugins/{KV}/{KV_VER}/akvvm_service_{kv_t:%Y-%m-%d_%H-%M-%S}.1.log", crlf(log))
    put_extension(b, KV, KV_VER, kv_public([(web, "LocalMachine"), (sso, "LocalMachine"), (api, "LocalMachine")],
                                           initial_sync=None,
                                           auth={"msiEndpoint": "http://localhost:50342/oauth2/token",
                                                 "msiClientId": "6f2d8a1c-3e4b-4c5d-9a7e-0b1c2d3e4f50"}),
                  kv_status(kv_t + timedelta(seconds=2), "success", "Successfully started the service."),
                  "akvvm_extension.exe")
    # The Managed Identity extension: settings as the managed identity articles give them ({"port": 50342}); its own
    # log files and status wording are not documented anywhere we found, so only its state files are here.
    msi_t = start + timedelta(minutes=1, seconds=55)
    put_extension(b, MSI_EXT, MSI_VER, {"port": 50342},
                  [{"version": "1", "timestampUTC": msi_t.strftime("%Y-%m-%dT%H:%M:%S.") + "2811430Z",
                    "status": {"name": "ManagedIdentityExtensionForWindows", "operation": "Enable", "status": "success",
                               "code": 0, "formattedMessage": {"lang": "en-US", "message": "Enable succeeded"}}}],
                  "ManagedIdentityExtension.exe")
    agg = json.dumps(aggregate(c - timedelta(seconds=14), [
        (BGINFO, BGINFO_VER, "success", "BGInfo enabled"), (MSI_EXT, MSI_VER, "success", "Enable succeeded"),
        (KV, KV_VER, "success", "Successfully started the service.")]), indent=2).replace("\n", "\r\n")
    b.put("C/WindowsAzure/Logs/AggregateStatus/aggregatestatus.json", agg.encode("utf-8") + b"\x00" * 96)
    b.expected = ["LEGACY_MSI_EXTENSION", "KEYVAULT_CERT_URL_INVALID", "KEYVAULT_CERT_DOWNLOAD_FAILED"]
    b.summary = ("An old VM still gets Key Vault tokens from the deprecated Managed Identity extension; one observed "
                 "certificate uses a /certificates/ URL, another is in a vault its identity cannot read.")
    b.readme = f"""
# keyvault-legacy-msi

**What happened:** `hrapp-02` was built in 2018 with the **Managed Identity VM extension**
({MSI_EXT} {MSI_VER}, settings `{{"port": 50342}}`), deprecated since in favour of IMDS. Its Key Vault extension
was configured then with `authenticationSettings.msiEndpoint: http://localhost:50342/oauth2/token` - the legacy
extension's endpoint - and it still uses it. During the VM's last start the agent auto-upgraded the Key Vault
extension from {old_ver} to {KV_VER}. The extension observes three certificates:
* `{web}` - fine;
* `{sso}` - a **/certificates/** URL: Key Vault returns that certificate without its private key, so the SAML
  signing certificate can never be used for signing;
* `{api}` - in another team's vault, which never granted this VM's identity access: every hourly refresh fails
  with Key Vault's 403.

**Evidence:**
* `C/Packages/Plugins/{MSI_EXT}/{MSI_VER}/`: the legacy extension's settings and status.
* `C/Packages/Plugins/{KV}/{KV_VER}/RuntimeSettings/0.settings`: msiEndpoint, msiClientId and the three URLs.
* `C/WindowsAzure/Logs/Plugins/{KV}/{KV_VER}/akvvm_service_*.log`: hourly refreshes; the partner vault's 403 each time.
* `C/WindowsAzure/Logs/WaAppAgent.log`: `Getting plugin locations for plugin '{KV}'. Current Version: '{old_ver}',
  Requested Version: '{KV_VER}'` and the auto-upgrade line (formats doc §1.3) - an extension-history row and a
  triangle on the extension timeline.

**What a good engineer concludes:** move token requests to IMDS (`msiEndpoint:
http://169.254.169.254/metadata/identity/oauth2/token`), then remove the Managed Identity extension; change the SAML
certificate's URL to its `/secrets/` form; ask the partner vault's owners for `get` on secrets (or the Key Vault
Secrets User role) for this VM's identity, or stop observing that certificate.

**Sources of the formats:** as in `keyvault-initial-sync-deadlock`. Not documented anywhere we found (and so
modelled): the Managed Identity extension's version build number, status wording and logs (none included), the Key
Vault extension's success status wording, and its version before the upgrade.

## Findings
`LEGACY_MSI_EXTENSION` (warning), `KEYVAULT_CERT_URL_INVALID` (error), `KEYVAULT_CERT_DOWNLOAD_FAILED` (error).
"""
    return b


RUNCMD = "Microsoft.CPlat.Core.RunCommandHandlerWindows"
RUNCMD_VER = "2.0.8"  # the handler version is not in the §3.1 excerpt: modelled


def run_command_stuck() -> Bundle:
    """A managed Run Command whose script waits on Read-Host (branch codes, issue 15 part 3)."""
    c = datetime(2025, 5, 20, 16, 42, 18, 310000, tzinfo=UTC)
    b = base_bundle("run-command-stuck", "ops-jump-01", 909, c, agent_hours=5.5)
    t = c - timedelta(hours=2, minutes=11, seconds=9)
    # RunCommandHandler.log: the v2 lines of §3.1 verbatim (their own PIDs), the script text replaced by the one in
    # MicrosoftDocs/azure-docs#10409 (a script that waits on Read-Host), the finish line absent. §3.1's continuation
    # lines of the settings record (the script body, "ScriptUri:  Parameters: []") are left out: the samples keep
    # handler logs to whole-record lines (tests/test_samples.py); tests/shapes/run_command has the real layout.
    lines = [handler_line(4400, t, "INFO", "Starting RunCommand Extension version 1"),
             handler_line(4400, t, "INFO", "Process handler command: install"),
             handler_line(4400, t, "INFO", "Removing user-level access rules for 2 directories"),
             handler_line(5864, t + timedelta(seconds=6, milliseconds=390), "INFO",
                          "Space available in event directory: 39981250B"),
             handler_line(5864, t + timedelta(seconds=6, milliseconds=390), "INFO",
                          "Using environment variable [ConfigExtensionName]=RotateLogs"),
             handler_line(5864, t + timedelta(seconds=6, milliseconds=390), "INFO",
                          "Using environment variable [ConfigSequenceNumber]=0"),
             handler_line(5864, t + timedelta(seconds=6, milliseconds=390), "INFO", "Process handler command: enable"),
             handler_line(5864, t + timedelta(seconds=6, milliseconds=390), "INFO",
                          "Loading configuration for sequence number 0"),
             handler_line(5864, t + timedelta(seconds=6, milliseconds=420), "INFO",
                          "HandlerSettings = ProtectedSettingsCertThumbprint: <REDACTED> Thumbprint length = 40, "
                          "ProtectedSettings: <REDACTED> ProtectedSettings length = 584, PublicSettings: Source: "
                          "Script: $Password = Read-Host -AsSecureString"),
             handler_line(5864, t + timedelta(seconds=6, milliseconds=530), "INFO",
                          "Checking if process id -1 is still running."),
             handler_line(5864, t + timedelta(seconds=6, milliseconds=590), "INFO",
                          "RunCommand script execution task started."),
             handler_line(5864, t + timedelta(seconds=6, milliseconds=590), "INFO",
                          "PowerShellPath is set to C:\\Windows\\system32\\windowspowershell\\v1.0\\powershell.exe")]
    b.put(f"C/WindowsAzure/Logs/Plugins/{RUNCMD}/{RUNCMD_VER}/RunCommandHandler.log", crlf(lines))
    b.expected = ["EXTENSION_TIMEOUT", "RUN_COMMAND_STILL_RUNNING"]
    b.summary = ("A managed Run Command script waits on Read-Host; it has run for over two hours and every new Run "
                 "Command is refused with Conflict.")
    b.readme = f"""
# run-command-stuck

**What happened:** an operator used managed Run Command ({RUNCMD}) on `ops-jump-01` to run a log-rotation
script that starts with `$Password = Read-Host -AsSecureString`. Run Command runs scripts as SYSTEM with nobody to
answer, so the script waits forever. Since then every new Run Command fails with "Conflict: Run command extension
execution is in progress. Please wait for completion before invoking a run command."

**Evidence:**
* `C/WindowsAzure/Logs/Plugins/{RUNCMD}/{RUNCMD_VER}/RunCommandHandler.log`: the enable loads sequence number 0,
  `RunCommand script execution task started.` - and no `RunCommand script execution finished with exit code` line.
  The bundle was collected 2 h 11 min later.
* The agent, the network and the other extensions are healthy.

**What a good engineer concludes:** the script, not the platform, is the problem: it cannot finish because it waits
for input, and the 90-minute limit of Run Command has passed. Stop the script's powershell.exe on the VM (or wait
for the platform to end it), then run only scripts that need no input.

**Sources of the formats:** the Run Command v2 handler log lines of the formats doc §3.1 (CSS Run Command workflow
TSG), the script from MicrosoftDocs/azure-docs#10409. Modelled: the handler version ({RUNCMD_VER}) and the
configuration name.

## Findings
`RUN_COMMAND_STILL_RUNNING` (error) and `EXTENSION_TIMEOUT` (error: the operation's generic 20-minute budget, which
the extension-operations frame applies to Run Command too).
"""
    return b


SCENARIOS = [healthy, firewall, proxy, cse_timeout, imds_secondary, failover_cluster,
             keyvault_deadlock, keyvault_legacy_endpoint, run_command_stuck]

INDEX = """# Sample bundles

Generated by `python sample_logs/generate.py` (deterministic); each folder is a bundle in the kit's layout
(docs/bundle-format.md) with a `manifest.json`, a `README.md` telling the story and what a good engineer concludes,
and a `scenario.json` with the finding codes the kit must raise at warning or above (the tests check them).
`README.md` and `scenario.json` are not VM artifacts: they are not in the manifest, and the bundle loader ignores them.

| bundle | what happened |
|---|---|
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE, help="where to write the bundles (default: sample_logs/)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for make in SCENARIOS:
        b = make()
        b.write(args.out)
        rows.append(f"| [{b.name}]({b.name}/README.md) | {b.summary} |")
    (args.out / "README.md").write_text(INDEX + "\n".join(rows) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
