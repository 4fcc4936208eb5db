"""Where artifacts live: mapping any bundle's paths onto the kit's canonical layout (docs/bundle-format.md).

The kit's own bundles already use the layout. Everything else is mapped path by path, case-insensitively, and
each mapping says how it was made (``mapped_by``, shown by ``vmkit inspect``):

* ``layout`` - already a kit-layout path (``C/WindowsAzure/...``, ``commands/...``, ``probes/...``);
* ``anchor`` - ``.../WindowsAzure/Logs/...`` or ``.../Packages/Plugins/...`` under any prefix and any drive
  folder (``F/WindowsAzure/...`` from a disk attached to a rescue VM, ``device_0/WindowsAzure/...``);
* ``flattened`` - folder names joined with ``_`` by a hand copy (``WindowsAzure_Logs_Plugins``,
  ``Packages_Plugins``, ``C_WindowsAzure_Logs``) and plugin folders named ``<Publisher.Type>-<version>`` or
  ``<Publisher.Type>_<version>`` (``Microsoft.Azure.KeyVault.KeyVaultForWindows-3.0.2``);
* ``drive-less`` - a copy of ``C:\\WindowsAzure\\Logs`` as ``Logs\\...`` (it holds ``Plugins\\``,
  ``AggregateStatus\\`` or the agent's logs), or of a ``Plugins`` folder on its own;
* ``logs-folder`` - files at the root of a copy of ``C:\\WindowsAzure\\Logs`` (WaAppAgent.log at the root).

A plugin folder reached without saying whether it is the log folder (``C:\\WindowsAzure\\Logs\\Plugins``) or the
package folder (``C:\\Packages\\Plugins``) is placed by what the file is: ``Status\\``, ``RuntimeSettings\\``,
``HandlerManifest.json``, ``HandlerEnvironment.json`` and the other package files go under ``C/Packages/Plugins``,
everything else (the handler logs) under ``C/WindowsAzure/Logs/Plugins``.

Whole-bundle layouts (:func:`detect_layout`), each from a public source (tests/shapes/layouts/SOURCES.md):

* ``rescue-disk-logs`` - Azure/repair-script-library ``src/windows/win-collect-attached-disk-logs.ps1`` (``az vm
  repair run --run-id win-collect-attached-disk-logs``): a folder ``<MM-dd-yyyy_HH.mm.ss>_UTC`` holding one folder
  per drive letter of the attached OS disk (paths below it drive-relative, as in the disk-inspection manifests) and
  the script's ``collectedLogFiles.csv``, ``failedLogFiles.log`` and ``collectedLogFilesTree.log``; zipped with
  ``Compress-Archive``. The folder name is when the files were copied (UTC), from a copy of the OS disk: not the
  time the VM's state was captured (:attr:`Layout.copied_at`).
* ``disk-inspection`` - VM Inspector / Azure disk inspection (MicrosoftDocs/SupportArticles-docs
  ``support/azure/virtual-machines/vm-inspector-azure-virtual-machines.md``: "An output compressed (.zip) file named
  *DiskInspection_yyyy-MM-dd time*"; Azure/azure-diskinspect-service ``docs/list_directory.md``,
  ``docs/diskinfo.md``, ``docs/registry.md``: ``results.txt``, ``diskinfo.txt``, ``registry.json``). Collected paths
  are the manifests' drive-relative paths (``/WindowsAzure/Logs/WaAppAgent.log``). ``results.txt`` stamps its
  lines with a time of day only (``15:52:59  Listing contents of ...``), so it gives no collection date.
* ``log-collection`` - support's log-collection zips, ``<HOST>_LogCollection_<time>\\device_0\\...``. No public
  source shows what sits below ``device_0`` or how ``<time>`` is written: the files are mapped by the anchors
  above, and ``<time>`` is not read.
* ``guest-log-collector`` - paths carrying the ``WindowsAzure/Logs`` / ``Packages/Plugins`` anchors, as the agent's
  CollectGuestLogs zip does (not documented file by file, formats doc §8).
* ``hand-copied`` - folders copied by hand: flattened or drive-less names (above).
* ``logs-folder`` - a copy of ``C:\\WindowsAzure\\Logs`` (WaAppAgent.log, Plugins\\, AggregateStatus\\ at its root).
* ``loose`` - whatever a customer pasted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from ..parse._identity import NAME_VERSION, is_name, is_version

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
#: Below a bare ``Logs`` folder: what makes it a copy of C:\WindowsAzure\Logs.
_LOGS_CHILD = re.compile(r"^(?:waappagent[^/]*|transparentinstaller[^/]*|telemetry\.log|appagentruntime\.log|"
                         r"plugins|aggregatestatus)$", re.IGNORECASE)
#: Folder names a hand copy flattens with ``_`` (``WindowsAzure_Logs_Plugins``), as token sequences.
_FLAT_STARTS = ("windowsazure", "packages", "logs")
_FLAT_CHILDREN = {"windowsazure": {"logs", "config"}, "logs": {"plugins", "aggregatestatus"}, "packages": {"plugins"}}
#: Files of a plugin's package folder (C:\Packages\Plugins\<ext>\<ver>), per the disk-inspection manifests (§2.1).
_PACKAGE_FILES = re.compile(r"^(?:status|runtimesettings)(?:/|$)|^(?:handlermanifest\.json|handlerenvironment\.json|"
                            r"heartbeat\.json|config\.txt|packageinformation\.txt)$", re.IGNORECASE)

#: ``win-collect-attached-disk-logs.ps1``: ``"$($scriptStartTimeUTC)_UTC"`` with ``:`` -> ``.``, ``/`` -> ``-``,
#: `` `` -> ``_`` applied to a DateTime PowerShell writes invariantly (``MM/dd/yyyy HH:mm:ss``).
_RESCUE_FOLDER = re.compile(r"^(?P<mo>\d{2})-(?P<d>\d{2})-(?P<y>\d{4})_(?P<h>\d{2})\.(?P<mi>\d{2})\.(?P<s>\d{2})_UTC$")
_RESCUE_FILES = {"collectedlogfiles.csv": "the repair script's list of the files it copied",
                 "failedlogfiles.log": "the repair script's list of files it could not copy",
                 "collectedlogfilestree.log": "the repair script's `tree /f /a` of what it copied"}
_DISK_INSPECTION_FILES = {"results.txt": "disk inspection's results (echo and directory-listing output)",
                          "diskinfo.txt": "disk inspection's partition and file-system information",
                          "registry.json": "disk inspection's registry query results"}
_LOG_COLLECTION = re.compile(r"^(?P<host>.+?)_LogCollection_(?P<time>.+)$", re.IGNORECASE)
_OWN_OUTPUTS = re.compile(r"^(?:.*/)?(?:commands|probes)/", re.IGNORECASE)  # the kit's outputs, in any layout
_DEVICE = re.compile(r"^device_\d+$", re.IGNORECASE)


@dataclass(frozen=True)
class Mapped:
    """Where a path goes in the kit layout and how that was decided (None when nothing says)."""

    layout_path: str | None
    mapped_by: str | None


def _anchor(p: str) -> str | None:
    for rx, prefix in _ANCHORS:
        m = rx.search(p)
        if m:
            if prefix is None:
                return f"{m.group(1).lower()}/{m.group(2)}"
            return prefix + m.group(1)
    return None


def _unflatten(parts: list[str]) -> tuple[list[str], bool]:
    """Split ``WindowsAzure_Logs_Plugins`` (and a ``<name>-<version>`` plugin folder name) into folders."""
    out: list[str] = []
    changed = False
    for i, part in enumerate(parts):
        if i == len(parts) - 1:  # the file name itself is never split
            out.append(part)
            continue
        toks = part.split("_")
        low = [t.lower() for t in toks]
        start = 1 if len(low) > 2 and len(low[0]) == 1 and low[0].isalpha() else 0  # C_WindowsAzure_Logs
        if len(toks) > 1 and low[start] in _FLAT_STARTS:
            n = start + 1
            while n < len(low) and low[n] in _FLAT_CHILDREN.get(low[n - 1], ()):
                n += 1
            if n > start + 1:
                out += toks[:n]
                rest = "_".join(toks[n:])
                if rest:
                    out.append(rest)  # WindowsAzure_Logs_Plugins_<name>_<version>: the rest is split below
                changed = True
                continue
        out.append(part)
    final: list[str] = []
    for i, part in enumerate(out):
        m = NAME_VERSION.match(part) if i < len(out) - 1 else None
        if m:
            final += [m.group("name"), m.group("version")]
            changed = True
        else:
            final.append(part)
    return final, changed


def _plugin_home(rest: list[str]) -> str:
    """``C/Packages/Plugins/`` or ``C/WindowsAzure/Logs/Plugins/`` for the parts below ``<ext>/<ver>/``."""
    tail = "/".join(rest[2:] if len(rest) > 2 and is_version(rest[1]) else rest[1:])
    return "C/Packages/Plugins/" if _PACKAGE_FILES.search(tail) else "C/WindowsAzure/Logs/Plugins/"


def map_path(path: str) -> Mapped:
    """The canonical layout path of a bundle-relative ``path`` and how it was found (see the module docs)."""
    p = path.replace("\\", "/").lstrip("/")
    low = p.lower()
    if low.startswith(("c/windowsazure/", "c/packages/", "c/windows/", "c/azuredata/", "commands/", "probes/")):
        return Mapped(("C" + p[1:]) if low.startswith("c/") else _anchor(p), "layout")
    parts = [x for x in p.split("/") if x]
    flat, changed = _unflatten(parts)
    fp = "/".join(flat)
    lp = _anchor(fp)
    if lp is not None:
        return Mapped(lp, "flattened" if changed else "anchor")
    how = "flattened" if changed else "drive-less"
    fl = [x.lower() for x in flat]
    # a bare Logs folder that is a copy of C:\WindowsAzure\Logs
    for i, x in enumerate(fl[:-1]):
        if x == "logs" and _LOGS_CHILD.match(fl[i + 1]):
            return Mapped("C/WindowsAzure/Logs/" + "/".join(flat[i + 1:]), how)
    # a Plugins folder on its own: log folder or package folder, by what the file is
    for i, x in enumerate(fl[:-2]):
        if x == "plugins" and is_name(flat[i + 1]):  # Plugins\<Publisher.Type>\..., not any program's plugins
            rest = flat[i + 1:]
            return Mapped(_plugin_home(rest) + "/".join(rest), how)
    # a <Publisher.Type>/<version> (or <Publisher.Type>-<version>) folder with no Plugins folder above it
    for i, x in enumerate(flat[:-2]):
        if is_version(flat[i + 1]) and is_name(x):
            rest = flat[i:]
            return Mapped(_plugin_home(rest) + "/".join(rest), "flattened" if changed else "plugin-folder")
    return Mapped(None, None)


def canonical(path: str) -> str | None:
    """The canonical kit-layout path of a bundle-relative ``path``, or None when nothing says."""
    return map_path(path).layout_path


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


@dataclass
class Layout:
    """What :func:`detect_layout` found about a whole bundle."""

    kind: str
    #: Collector files that describe the collection (path -> note); listed with status ``meta``.
    meta: dict[str, str] = field(default_factory=dict)
    #: When a collector says it copied the files, tz-aware UTC, and where that was read. Not the time the VM's
    #: state was captured: the repair script copies from a copy of the OS disk (``az vm repair create`` snapshots
    #: it, possibly hours before, while the VM may still be running), so rules do not judge ages against it.
    copied_at: pd.Timestamp | None = None
    copied_basis: str | None = None
    #: The VM's name when the layout carries it (``<HOST>_LogCollection_...``).
    vm_name: str | None = None
    #: Anything else worth saying about the layout (shown by ``vmkit inspect``).
    note: str | None = None


def _rescue_time(folder: str) -> pd.Timestamp | None:
    m = _RESCUE_FOLDER.match(folder)
    if not m:
        return None
    try:
        return pd.Timestamp(year=int(m["y"]), month=int(m["mo"]), day=int(m["d"]), hour=int(m["h"]),
                            minute=int(m["mi"]), second=int(m["s"]), tz="UTC")
    except ValueError:
        return None


def detect_layout(paths: list[str], bundle_name: str = "") -> Layout:
    """The whole-bundle layout of a bundle with no kit manifest (``paths`` bundle-relative, after
    :func:`find_root`; ``bundle_name`` the zip's or folder's own name). See the module docs for each kind."""
    rels = [p.replace("\\", "/") for p in paths]
    # az vm repair: <MM-dd-yyyy_HH.mm.ss>_UTC/<drive>/..., plus the script's own files
    for r in rels:
        parts = r.split("/")
        for i, part in enumerate(parts[:-1]):
            ts = _rescue_time(part)
            if ts is None:
                continue
            prefix = "/".join(parts[:i + 1]) + "/"
            meta = {q: _RESCUE_FILES[q[len(prefix):].lower()] for q in rels
                    if q.startswith(prefix) and q[len(prefix):].lower() in _RESCUE_FILES}
            return Layout("rescue-disk-logs", meta, ts,
                          f"the folder name {part} written by the repair script win-collect-attached-disk-logs "
                          "(UTC) says when the files were copied from a copy of the OS disk attached to a rescue VM, "
                          "not when the VM last ran")
    for r in rels:
        parts = r.split("/")
        for i, part in enumerate(parts[:-2]):
            m = _LOG_COLLECTION.match(part)
            if m and _DEVICE.match(parts[i + 1]):
                return Layout("log-collection", vm_name=m["host"],
                              note=f"{part}/{parts[i + 1]}: the time in the folder name is not read (no public "
                                   "source shows how it is written)")
    top = {r.split("/", 1)[0].lower() for r in rels if "/" in r}
    names = [bundle_name, *sorted({r.split("/", 1)[0] for r in rels if "/" in r})]
    if any(n.lower().startswith("diskinspection_") for n in names) or (
            "results.txt" in {r.lower() for r in rels} and top & {"windowsazure", "packages", "windows"}):
        meta = {r: note for r in rels for name, note in _DISK_INSPECTION_FILES.items()
                if r.lower() == name}
        return Layout("disk-inspection", meta,
                      note="results.txt stamps lines with a time of day only, so the collection date is not read")
    hows = {map_path(r).mapped_by for r in rels if not _OWN_OUTPUTS.match(r)}
    if "flattened" in hows or "logs" in top:
        return Layout("hand-copied")
    if "anchor" in hows or "layout" in hows:
        return Layout("guest-log-collector")
    if is_logs_folder(rels):
        return Layout("logs-folder")  # its Plugins\ is the log folder's: the bundle maps it under Logs
    if hows & {"drive-less", "plugin-folder"}:
        return Layout("hand-copied")
    return Layout("loose")


def detect_kind(paths: list[str], has_manifest: bool) -> str:
    """``kit`` or one of the kinds of :func:`detect_layout`."""
    return "kit" if has_manifest else detect_layout(paths).kind


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
