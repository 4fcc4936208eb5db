"""Same data, other folder layout, same answer: the healthy and Key Vault samples re-laid the ways bundles arrive
(tests/shapes/layouts/SOURCES.md names the source of each layout) give the same agent_log, handler_log and
ext_status rows, with the extension and its version filled, and the same finding codes."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import kit
from kit.bundle.layout import detect_layout, map_path
from kit.parse import _identity

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
SHAPES = Path(__file__).parent / "shapes" / "layouts"
NAMES = ("healthy", "keyvault-initial-sync-deadlock")
LOGS, PKG = "C/WindowsAzure/Logs/", "C/Packages/Plugins/"
FRAMES = ("agent_log", "handler_log", "ext_status", "ext_substatus", "ext_settings", "handler_env", "agent_status",
          "handler_status")
#: Columns that name the file (its path or file name), which a layout changes by design.
PATH_COLUMNS = {"source", "file"}


def sample_files(name: str) -> dict[str, bytes]:
    """The sample's artifacts by kit-layout path (its kit manifest, README and scenario left out)."""
    root = SAMPLES / name
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "/" in p.relative_to(root).as_posix()}


def _plugin(rel: str, home: str) -> tuple[str, str, str]:
    ext, ver, rest = rel[len(home):].split("/", 2)
    return ext, ver, rest


def flattened(rel: str) -> str:
    """A hand copy: folder names joined with ``_``, plugin folders named ``<Publisher.Type>-<version>`` (log
    folders) and ``<Publisher.Type>_<version>`` (package folders)."""
    if rel.startswith(LOGS + "Plugins/"):
        ext, ver, rest = _plugin(rel, LOGS + "Plugins/")
        return f"WindowsAzure_Logs_Plugins/{ext}-{ver}/{rest}"
    if rel.startswith(LOGS):
        return "WindowsAzure_Logs/" + rel[len(LOGS):]
    if rel.startswith(PKG):
        ext, ver, rest = _plugin(rel, PKG)
        return f"Packages_Plugins/{ext}_{ver}/{rest}"
    return rel


def driveless(rel: str) -> str:
    """A copy of C:\\WindowsAzure\\Logs as ``Logs`` and of C:\\Packages\\Plugins as ``Plugins``."""
    if rel.startswith(LOGS):
        return "Logs/" + rel[len(LOGS):]
    if rel.startswith(PKG):
        return "Plugins/" + rel[len(PKG):]
    return rel


_RENAMES = {"WaAppAgent.log": "WaAppAgent.log.txt", "WaAppAgent.1.log": "WaAppAgent (1).txt",
            "aggregatestatus.json": "aggregate status.json", "route_print.txt": "route.txt",
            "ipconfig_all.txt": "ipconfig.txt", "netsh_winhttp_proxy.txt": "proxy.txt"}


def renamed(rel: str) -> str:
    """Flattened, and the files renamed so that only their content says what they are (an agent log keeps the
    ``WaAppAgent`` start of its name: which agent log a file is, is read from that name). The Custom Script and Key
    Vault log folders and the BGInfo package folder lose their version: the extension's identity must then come
    from the log's own folder lines or the HandlerEnvironment.json beside the file."""
    folder, name = rel.rsplit("/", 1)
    name = _RENAMES.get(name, name)
    if name.endswith(".log"):
        name = name[:-4] + ".txt"
    if name.endswith((".status", ".settings")):
        name += ".json"
    out = flattened(f"{folder}/{name}")
    for ext in ("Microsoft.Compute.CustomScriptExtension", "Microsoft.Azure.KeyVault.KeyVaultForWindows"):
        out = out.replace(f"WindowsAzure_Logs_Plugins/{ext}-", f"WindowsAzure_Logs_Plugins/{ext}/-")
    out = out.replace("Packages_Plugins/Microsoft.Compute.BGInfo_2.2.5/", "Packages_Plugins/Microsoft.Compute.BGInfo/")
    parts = out.split("/")
    return "/".join(p for p in parts if not (p.startswith("-") and _identity.is_version(p[1:])))


def drive_relative(rel: str) -> str:
    """``C/WindowsAzure/...`` -> ``WindowsAzure/...``: the disk-inspection manifests' paths (formats doc §2.1)."""
    return rel[2:] if rel.startswith("C/") else rel


def _write_folder(tmp: Path, files: dict[str, bytes], relay: Callable[[str], str]) -> Path:
    root = tmp / "bundle"
    for rel, data in files.items():
        p = root / relay(rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def _write_zip(path: Path, entries: dict[str, bytes], when: tuple[int, ...] = (2024, 3, 8, 10, 15, 4)) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=when), data)  # type: ignore[arg-type]
    return path


def _collected(name: str) -> pd.Timestamp:
    return kit.open_bundle(SAMPLES / name).collected_at.floor("s")


def log_collection(tmp: Path, name: str) -> Path:
    """Support's ``<HOST>_LogCollection_<time>\\device_0\\...`` zip, entry names with backslashes."""
    files = sample_files(name)
    top = "VM01_LogCollection_" + _collected(name).strftime("%Y%m%d%H%M%S") + "\\device_0\\"
    return _write_zip(tmp / "VM01_LogCollection.zip",
                      {top + drive_relative(r).replace("/", "\\"): d for r, d in files.items()})


def disk_inspection(tmp: Path, name: str) -> Path:
    """VM Inspector's ``DiskInspection_yyyy-MM-dd time`` zip: drive-relative paths and results.txt."""
    files = {drive_relative(r): d for r, d in sample_files(name).items()}
    files["results.txt"] = (SHAPES / "disk-inspection" / "results.txt").read_bytes()
    return _write_zip(tmp / f"DiskInspection_{_collected(name):%Y-%m-%d %H%M}.zip", files)


def rescue_disk_logs(tmp: Path, name: str) -> Path:
    """``az vm repair`` win-collect-attached-disk-logs: ``<MM-dd-yyyy_HH.mm.ss>_UTC\\<drive>\\...`` zipped by
    Compress-Archive (backslash entry names), with the script's own files beside the drive folder."""
    top = f"{_collected(name):%m-%d-%Y_%H.%M.%S}_UTC\\"
    entries = {top + "F\\" + drive_relative(r).replace("/", "\\"): d for r, d in sample_files(name).items()}
    for f in ("collectedLogFiles.csv", "failedLogFiles.log"):
        entries[top + f] = (SHAPES / "rescue-disk-logs" / f).read_bytes()
    return _write_zip(tmp / f"{_collected(name):%m-%d-%Y_%H.%M.%S}_UTC.zip", entries)


def guest_log_collector(tmp: Path, name: str) -> Path:
    """The agent's CollectGuestLogs zip (not documented file by file): the anchors under a prefix, backslashes."""
    entries = {"VMAgentLogs\\" + drive_relative(r).replace("/", "\\"): d for r, d in sample_files(name).items()}
    return _write_zip(tmp / "VMAgentLogs.zip", entries)


FOLDER_LAYOUTS: dict[str, Callable[[str], str]] = {"flattened": flattened, "drive-less": driveless,
                                                    "renamed": renamed}
ZIP_LAYOUTS: dict[str, Callable[[Path, str], Path]] = {
    "log-collection": log_collection, "disk-inspection": disk_inspection, "rescue-disk-logs": rescue_disk_logs,
    "guest-log-collector": guest_log_collector}
KINDS = {"flattened": "hand-copied", "drive-less": "hand-copied", "renamed": "hand-copied",
         "log-collection": "log-collection", "disk-inspection": "disk-inspection",
         "rescue-disk-logs": "rescue-disk-logs", "guest-log-collector": "guest-log-collector"}


def build(layout: str, name: str, tmp: Path) -> Path:
    if layout in FOLDER_LAYOUTS:
        return _write_folder(tmp, sample_files(name), FOLDER_LAYOUTS[layout])
    return ZIP_LAYOUTS[layout](tmp, name)


def _rows(df: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in df.columns if c not in PATH_COLUMNS]
    out = df[cols].astype(str)
    return out.sort_values(cols).reset_index(drop=True)


@pytest.fixture(scope="module")
def originals() -> dict[str, tuple[dict[str, pd.DataFrame], set[str]]]:
    out = {}
    for name in NAMES:
        b = kit.open_bundle(SAMPLES / name)
        out[name] = ({f: b.frame(f) for f in FRAMES}, set(kit.diagnose(b)["code"]))
    return out


@pytest.mark.parametrize("layout", list(KINDS))
@pytest.mark.parametrize("name", NAMES)
def test_same_frames_and_findings_in_every_layout(layout: str, name: str, tmp_path: Path, originals) -> None:
    frames, codes = originals[name]
    b = kit.open_bundle(build(layout, name, tmp_path))
    assert b.kind == KINDS[layout]
    inv = b.inventory
    data = inv[inv["status"] != "meta"]
    assert (data["status"] == "parsed").all(), data.loc[data["status"] != "parsed", ["path", "status", "note"]]
    for f in FRAMES:
        got = b.frame(f)
        assert len(got) == len(frames[f]), f
        if f in ("handler_log", "ext_status", "ext_settings", "handler_env"):
            assert got["extension"].notna().all() and got["ext_version"].notna().all(), f
        pd.testing.assert_frame_equal(_rows(got), _rows(frames[f]), obj=f"{layout}/{name}/{f}")
    assert set(kit.diagnose(b)["code"]) == codes
    assert b.time_reference is not None


def test_key_vault_failures_are_judged_in_a_flattened_copy(tmp_path: Path) -> None:
    """Issue 14's case: a hand copy with ``<Publisher.Type>-<version>`` folders lost the extension's identity,
    so the Key Vault extension's initial-sync deadlock went unseen."""
    b = kit.open_bundle(build("flattened", "keyvault-initial-sync-deadlock", tmp_path))
    st = b.ext_status
    kv = st[st["extension"] == "Microsoft.Azure.KeyVault.KeyVaultForWindows"]
    assert kv["ext_version"].tolist() == ["3.1.2195.61"]
    assert "KEYVAULT_INITIAL_SYNC_BLOCKING" in set(kit.diagnose(b)["code"])


def test_identity_from_content_is_noted(tmp_path: Path) -> None:
    b = kit.open_bundle(build("renamed", "healthy", tmp_path))
    inv = b.inventory.set_index("path")
    cse = inv.loc["WindowsAzure_Logs_Plugins/Microsoft.Compute.CustomScriptExtension/CustomScriptHandler.txt"]
    assert cse["layout_path"] == ("C/WindowsAzure/Logs/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15/"
                                  "CustomScriptHandler.txt")
    assert cse["mapped_by"] == "flattened+identity from the log's own folder lines"
    st = inv.loc["Packages_Plugins/Microsoft.Compute.BGInfo/Status/0.status.json"]
    assert st["layout_path"] == "C/Packages/Plugins/Microsoft.Compute.BGInfo/2.2.5/Status/0.status"
    assert "HandlerEnvironment.json beside it" in st["mapped_by"]
    assert inv.loc["commands/route.txt", "artifact"] == "route_print"


def test_key_vault_identity_from_its_service_log_line(tmp_path: Path) -> None:
    b = kit.open_bundle(build("renamed", "keyvault-initial-sync-deadlock", tmp_path))
    hl = b.handler_log
    kv = hl[hl["extension"] == "Microsoft.Azure.KeyVault.KeyVaultForWindows"]
    assert not kv.empty and set(kv["ext_version"]) == {"3.1.2195.61"}


# -- collection time -------------------------------------------------------------------------------------------

def test_rescue_script_folder_name_is_when_the_files_were_copied(tmp_path: Path) -> None:
    """The repair script copies from a copy of the OS disk (az vm repair create snapshots it, while the VM may
    still run): its folder time is not when the VM's state was captured, so ages are not judged against it."""
    b = kit.open_bundle(rescue_disk_logs(tmp_path, "healthy"))
    assert b.collected_at is None
    assert b.copied_at == pd.Timestamp("2024-03-08 10:15:04", tz="UTC")
    assert b.time_reference == b.agent_log["ts"].max()
    assert "assumption" in b.time_reference_basis and "win-collect-attached-disk-logs" in b.time_reference_basis
    inv = b.inventory.set_index("path")
    assert inv.loc["03-08-2024_10.15.04_UTC/collectedLogFiles.csv", "status"] == "meta"


def test_what_the_repair_script_did_not_find_explains_a_missing_artifact(tmp_path: Path) -> None:
    files = {r: d for r, d in sample_files("healthy").items() if r.startswith("C/") and "WaAppAgent" not in r}
    top = "03-08-2024_10.15.04_UTC\\"
    entries = {top + "F\\" + drive_relative(r).replace("/", "\\"): d for r, d in files.items()}
    entries[top + "failedLogFiles.log"] = ("\ufeffNOT FOUND: F:/WindowsAzure/Logs/WaAppAgent.log\r\n"
                                          "NOT FOUND: F:/AzureData/CustomData.bin\r\n").encode("utf-16-le")
    miss = kit.open_bundle(_write_zip(tmp_path / "nf.zip", entries)).missing.set_index("artifact")
    assert miss.loc["agent_log", "note"] == ("not on the disk: 03-08-2024_10.15.04_UTC/failedLogFiles.log says "
                                             "'NOT FOUND: F:/WindowsAzure/Logs/WaAppAgent.log'")
    assert pd.isna(miss.loc["route_print", "note"])


def test_a_late_disk_copy_raises_no_agent_not_running(tmp_path: Path) -> None:
    """Files copied hours after the agent's last record (a disk copy of a VM that was fine; no services.json, as
    the script collects none) must not read as an agent that stopped: only the kit's live collection time is a
    collection time."""
    files = {r: d for r, d in sample_files("healthy").items() if r.startswith("C/")}
    top = "03-09-2024_22.00.00_UTC\\"
    z = _write_zip(tmp_path / "late.zip", {top + "F\\" + drive_relative(r).replace("/", "\\"): d
                                           for r, d in files.items()})
    b = kit.open_bundle(z)
    assert b.copied_at == pd.Timestamp("2024-03-09 22:00:00", tz="UTC")
    findings = kit.diagnose(b)
    assert "AGENT_NOT_RUNNING" not in set(findings["code"])
    assert not findings["severity"].isin(["error", "critical"]).any()
    b.collected_at = b.copied_at  # what reading the folder time as the collection time would conclude
    assert "AGENT_NOT_RUNNING" in set(kit.diagnose(b)["code"])


@pytest.mark.parametrize("layout", ["log-collection", "disk-inspection", "guest-log-collector", "flattened",
                                    "rescue-disk-logs"])
def test_without_a_stated_time_the_newest_agent_log_record_is_an_assumption(layout: str, tmp_path: Path) -> None:
    b = kit.open_bundle(build(layout, "healthy", tmp_path))
    assert b.collected_at is None
    assert b.time_reference == b.agent_log["ts"].max()
    assert b.time_reference_basis.startswith("newest agent-log record") and "assumption" in b.time_reference_basis


def test_zip_member_time_is_the_last_resort_and_is_not_shifted(tmp_path: Path) -> None:
    files = sample_files("healthy")
    z = _write_zip(tmp_path / "x.zip", {"Packages_Plugins/" + r[len(PKG):]: d for r, d in files.items()
                                        if r.startswith(PKG)}, when=(2024, 3, 9, 1, 2, 4))
    b = kit.open_bundle(z)
    assert b.collected_at is None
    assert b.time_reference == pd.Timestamp("2024-03-09 01:02:04", tz="UTC")
    assert "newest file time in the zip" in b.time_reference_basis and "assumption" in b.time_reference_basis


def test_log_collection_names_the_vm(tmp_path: Path) -> None:
    assert kit.open_bundle(log_collection(tmp_path, "healthy")).vm_name == "VM01"


# -- path mapping ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "layout_path", "how"), [
    ("WindowsAzure_Logs_Plugins/Microsoft.Azure.KeyVault.KeyVaultForWindows-3.0.2/akvvm_service.log",
     "C/WindowsAzure/Logs/Plugins/Microsoft.Azure.KeyVault.KeyVaultForWindows/3.0.2/akvvm_service.log", "flattened"),
    ("Packages_Plugins/Microsoft.Compute.BGInfo_2.2.5/Status/0.status",
     "C/Packages/Plugins/Microsoft.Compute.BGInfo/2.2.5/Status/0.status", "flattened"),
    ("C_WindowsAzure_Logs/AggregateStatus/aggregatestatus.json",
     "C/WindowsAzure/Logs/AggregateStatus/aggregatestatus.json", "flattened"),
    ("Microsoft.Azure.KeyVault.KeyVaultForWindows-3.0.2/HandlerEnvironment.json",
     "C/Packages/Plugins/Microsoft.Azure.KeyVault.KeyVaultForWindows/3.0.2/HandlerEnvironment.json", "flattened"),
    ("Microsoft.Azure.KeyVault.KeyVaultForWindows-3.0.2/akvvm_service.log",
     "C/WindowsAzure/Logs/Plugins/Microsoft.Azure.KeyVault.KeyVaultForWindows/3.0.2/akvvm_service.log", "flattened"),
    ("Logs/WaAppAgent.log", "C/WindowsAzure/Logs/WaAppAgent.log", "drive-less"),
    ("Plugins/Microsoft.Compute.BGInfo/2.2.5/RuntimeSettings/0.settings",
     "C/Packages/Plugins/Microsoft.Compute.BGInfo/2.2.5/RuntimeSettings/0.settings", "drive-less"),
    ("Plugins/Microsoft.Compute.BGInfo/2.2.5/BGInfo.log",
     "C/WindowsAzure/Logs/Plugins/Microsoft.Compute.BGInfo/2.2.5/BGInfo.log", "drive-less"),
    ("VM01_LogCollection_x/device_0/WindowsAzure/Logs/WaAppAgent.log", "C/WindowsAzure/Logs/WaAppAgent.log",
     "anchor"),
    ("03-08-2024_10.15.04_UTC/F/Packages/Plugins/A.B/1.0/Status/0.status", "C/Packages/Plugins/A.B/1.0/Status/0.status",
     "anchor"),
    ("C/WindowsAzure/Logs/WaAppAgent.log", "C/WindowsAzure/Logs/WaAppAgent.log", "layout"),
    ("Microsoft.Compute.BGInfo/2.2.5/Status/0.status",
     "C/Packages/Plugins/Microsoft.Compute.BGInfo/2.2.5/Status/0.status", "plugin-folder"),
    ("WindowsAzure_Logs_Plugins_Microsoft.Compute.BGInfo_2.2.5/BGInfo.log",
     "C/WindowsAzure/Logs/Plugins/Microsoft.Compute.BGInfo/2.2.5/BGInfo.log", "flattened"),
    ("Notepad++/plugins/nppexport/1.0/export.log", None, None),
    ("route.txt", None, None),
    ("notes/Plugins.txt", None, None),
])
def test_map_path(path: str, layout_path: str | None, how: str | None) -> None:
    m = map_path(path)
    assert (m.layout_path, m.mapped_by) == (layout_path, how)
    assert map_path(path.replace("/", "\\")) == m


def test_identity_helper() -> None:
    assert _identity.from_path("C/Packages/Plugins/A.B/1.2.3/Status/0.status") == ("A.B", "1.2.3")
    assert _identity.from_path("x/Plugins/A.B-1.2/a.log") == ("A.B", "1.2")
    assert _identity.from_path("C/WindowsAzure/Logs/Plugins/A.B/a.log") == ("A.B", None)
    assert _identity.from_path("C/Packages/Plugins/A.B/Status/0.status") == ("A.B", None)
    assert _identity.from_path("pasted/RunCommandExtension.log") == (None, None)
    # formats doc §3.1 (RunCommand handler log)
    line = ('[4892+00000001] [03/04/2021 20:49:58.31] [INFO] HandlerEnvironment = Version: 1, HandlerEnvironment: '
            '[LogFolder: "C:\\WindowsAzure\\Logs\\Plugins\\Microsoft.CPlat.Core.RunCommandWindows\\1.1.8", '
            'ConfigFolder: "C:\\Packages\\Plugins\\Microsoft.CPlat.Core.RunCommandWindows\\1.1.8\\RuntimeSettings"]')
    assert _identity.from_log_text(line) == ("Microsoft.CPlat.Core.RunCommandWindows", "1.1.8")
    assert _identity.from_handler_environment('[{"name": "A.B", "handlerEnvironment": {}}]') == ("A.B", None)
    assert _identity.from_handler_environment("not json") == (None, None)


def test_backslash_entries_are_separators_and_traversal_is_still_refused(tmp_path: Path) -> None:
    from kit.errors import UnsafeArchiveError

    z = _write_zip(tmp_path / "bad.zip", {"X_LogCollection_1\\device_0\\..\\..\\evil.txt": b"x"})
    with pytest.raises(UnsafeArchiveError, match="escapes"):
        kit.open_bundle(z)
    z = _write_zip(tmp_path / "abs.zip", {"C:\\WindowsAzure\\Logs\\WaAppAgent.log": b"x"})
    with pytest.raises(UnsafeArchiveError, match="absolute"):
        kit.open_bundle(z)


def test_detect_layout_needs_the_documented_marks() -> None:
    assert detect_layout(["results.txt", "notes.txt"]).kind == "loose"
    assert detect_layout(["11-19-2024_13.45.02_UTC/F/WindowsAzure/Logs/WaAppAgent.log"]).copied_at == \
        pd.Timestamp("2024-11-19 13:45:02", tz="UTC")
    assert detect_layout(["13-19-2024_13.45.02_UTC/F/x.log"]).kind == "loose"  # month 13: not the script's name


def test_any_path_maps_or_not_but_never_raises(tmp_path: Path) -> None:
    """Seeded random paths from the layouts' own vocabulary (and noise): mapping, layout detection and opening the
    zip never raise, and whatever maps lands in the kit layout."""
    import random

    rng = random.Random(14)
    words = ["WindowsAzure", "Logs", "Plugins", "Packages", "C", "C_", "F", "device_0", "VM01_LogCollection_x",
             "WindowsAzure_Logs_Plugins", "Packages_Plugins", "Microsoft.Compute.BGInfo", "2.2.5", "A.B-1.0", "A.B_1",
             "Status", "RuntimeSettings", "_", "..x", "03-08-2024_10.15.04_UTC", "13-40-2024_99.99.99_UTC", "x y",
             "Logs_", "plugins", "DiskInspection_1", "Ünïcode", "a.b.c-1.2.3.4.5"]
    files = ["WaAppAgent.log", "0.status", "0.settings", "HandlerEnvironment.json", "a.log", "results.txt", "x"]
    drawn = ("/".join([*rng.choices(words, k=rng.randint(0, 6)), rng.choice(files)]) for _ in range(400))
    paths = sorted({p.lower(): p for p in drawn}.values())  # a zip may not hold two names differing in case only
    for p in paths:
        m = map_path(p)
        assert m.layout_path is None or m.layout_path.startswith(("C/", "commands/", "probes/")), (p, m)
    assert detect_layout(paths).kind
    z = _write_zip(tmp_path / "random.zip", {p.replace("/", "\\"): b"[1] [03/08/2024 04:29:07.63] [INFO] x\r\n"
                                             for p in paths})
    b = kit.open_bundle(z)
    assert len(b.inventory) == len(paths)
    kit.diagnose(b)


def test_vmkit_inspect_names_the_layout_and_each_mapping(tmp_path: Path) -> None:
    z = rescue_disk_logs(tmp_path, "keyvault-initial-sync-deadlock")
    out = subprocess.run([sys.executable, "-m", "kit.cli", "inspect", str(z)], capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=False)
    assert out.returncode == 0, out.stderr
    assert "Layout: rescue-disk-logs" in out.stdout
    assert "Collected: unknown; files copied 2024-11-19 15:42:36 UTC" in out.stdout
    assert "anchor" in out.stdout and "meta" in out.stdout


def test_two_extensions_handler_environments_in_one_folder_name_no_file(tmp_path: Path) -> None:
    """A customer's folder holding both extensions' package files, the second HandlerEnvironment.json renamed as
    Windows Explorer renames a copy ("HandlerEnvironment - Copy.json"): the folder's identity is ambiguous, so no
    file there is given either extension from it (it was given the first one read, and BGInfo's status became
    CustomScriptExtension's)."""
    src = ROOT / "sample_logs" / "healthy" / "C" / "Packages" / "Plugins"
    folder = tmp_path / "from-customer"
    folder.mkdir()
    for ext, suffix in (("Microsoft.Compute.CustomScriptExtension/1.10.15", ""),
                        ("Microsoft.Compute.BGInfo/2.2.5", " - Copy")):
        (folder / f"HandlerEnvironment{suffix}.json").write_bytes((src / ext / "HandlerEnvironment.json").read_bytes())
        (folder / f"0{suffix}.status").write_bytes((src / ext / "Status" / "0.status").read_bytes())
    b = kit.open_bundle(folder)
    inv = b.inventory.set_index("path")
    for name in ("0.status", "0 - Copy.status"):
        assert "HandlerEnvironment.json beside it" not in str(inv.loc[name, "mapped_by"]), inv.loc[name].to_dict()
    assert not (b.ext_status["extension"] == "Microsoft.Compute.CustomScriptExtension").any()
