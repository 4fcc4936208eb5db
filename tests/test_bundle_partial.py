"""Partial and damaged bundles (issue 18): a collection stopped or hung at any step leaves a bundle that opens and
says what is missing; a damaged or cut-short file costs that file only.

The manifests here are written in the shape ``Collect-GuestAgentKit.ps1`` writes (``Save-Manifest``: ``status``,
``partial_reason``, ``steps``, ``pending``, per-command ``code_page``), with the step names read from the script's
own ``$Plan``, over the healthy sample's files.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import kit
from kit.bundle.manifest import STEP_PATHS, collection_state
from kit.collect import script

ROOT = Path(__file__).parent.parent
HEALTHY = ROOT / "sample_logs" / "healthy"
PLAN = re.findall(r"'([^']*)'", re.search(r"^\$Plan\s*=\s*@\(([^)]*)\)", script.script_text(), re.M).group(1))
FRAMES = ["services", "ext_status", "ext_settings", "agent_log", "tcp_probes"]


def _step_of(path: str) -> str | None:
    for step, paths in STEP_PATHS.items():
        if any(path == p or (p.endswith("/") and path.startswith(p)) for p in paths):
            return step
    return None


def _collector_shape(manifest: dict, *, stop_after: str | None = None, bad: dict[str, tuple[str, str]] | None = None,
                     ) -> tuple[dict, list[str]]:
    """The healthy manifest as the collector writes it; with ``stop_after`` as it stands when the collection was
    stopped right after that step. ``bad``: step -> (status, error). Returns (manifest, paths to remove)."""
    bad = bad or {}
    m = dict(manifest)
    m["collector"] = {"name": "guestagent-kit", "version": "0.1.0", "script_sha256": script.script_sha256(),
                      "mode": "winrm"}
    m["limits"] = dict(m["limits"], command_timeout_s=60, cim_timeout_s=30, deadline_s=1500)
    m["environment"] = {"language_mode": "FullLanguage", "ps_version": "5.1.20348.2340", "culture": "en-US",
                        "console_code_page": 65001, "oem_code_page": 437, "ansi_code_page": 1252}
    done = PLAN if stop_after is None else PLAN[:PLAN.index(stop_after) + 1]
    m["steps"] = [{"step": s, "status": bad.get(s, ("ok", None))[0], "error": bad.get(s, ("ok", None))[1],
                   "started": "2024-03-08T10:14:50.1234567Z", "duration_ms": 60012.5 if s in bad else 812.4}
                  for s in done]
    m["pending"] = [s for s in PLAN if s not in done]
    m["status"] = "complete" if stop_after is None and not bad else "partial"
    if m["status"] == "partial":
        m["partial_reason"] = "the collection was stopped before it finished (Ctrl-C, a stop signal or an error)"
    remove, arts = [], []
    for a in manifest["artifacts"]:
        a = dict(a)
        step = _step_of(a["path"])
        if step in m["pending"] or (step in bad and bad[step][0] != "ok"):
            remove.append(a["path"])
            if step in bad:  # Add-Native records the command it could not finish
                arts.append(dict(a, status="error", size=0, sha256=None, note=bad[step][1]))
            continue
        if a["origin"] in ("route print", "ipconfig /all", "netsh winhttp show proxy"):
            a.update(code_page=65001, encoding="utf-8")
        arts.append(a)
    m["artifacts"] = arts
    return m, remove


def _bundle(tmp_path: Path, manifest: dict, remove: list[str], *, as_zip: bool = False) -> Path:
    root = tmp_path / "b"
    shutil.copytree(HEALTHY, root)
    for rel in remove:
        (root / rel).unlink()
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if not as_zip:
        return root
    z = tmp_path / "b.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(root).as_posix())
    return z


def _healthy_manifest() -> dict:
    return json.loads((HEALTHY / "manifest.json").read_text())


def _frame(b, name: str) -> pd.DataFrame:
    df = b.frame(name)
    drop = [c for c in ("source", "line") if c in df.columns]
    return df.drop(columns=drop).astype("object").reset_index(drop=True)


@pytest.fixture(scope="module")
def healthy():
    return kit.open_bundle(HEALTHY)


def test_plan_and_step_paths_agree():
    assert PLAN[:3] == ["environment", "applocker", "route print"]
    assert set(STEP_PATHS) <= set(PLAN)  # every step the kit maps to files is one the script runs


def test_new_collector_manifest_same_answer(tmp_path, healthy):
    """Same data, the collector's new manifest shape (status, steps, code pages): same frames, issues, findings."""
    m, remove = _collector_shape(_healthy_manifest())
    assert m["status"] == "complete" and not remove
    b = kit.open_bundle(_bundle(tmp_path, m, remove))
    assert b.partial is False
    for name in FRAMES:
        pd.testing.assert_frame_equal(_frame(b, name), _frame(healthy, name), obj=name)
    assert b.issues.empty, b.issues[["source", "kind", "message"]]
    assert sorted(kit.diagnose(b)["code"]) == sorted(kit.diagnose(healthy)["code"])


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_stopped_collection_opens_and_says_what_is_missing(tmp_path, healthy, as_zip):
    m, remove = _collector_shape(_healthy_manifest(), stop_after="probes: imds versions",
                                 bad={"route print": ("timeout", "ROUTE.EXE print did not finish within 60 s; it "
                                                                 "was stopped")})
    assert "commands/route_print.txt" in remove and "C/WindowsAzure/Logs/WaAppAgent.log" in remove
    b = kit.open_bundle(_bundle(tmp_path, m, remove, as_zip=as_zip))
    assert b.partial is True
    iss = b.issues
    part = iss[iss["kind"] == "partial-bundle"]
    assert len(part) == 1 and part["source"].iloc[0] == "manifest.json"
    msg = part["message"].iloc[0]
    assert "route print timed out after 60.0 s" in msg and "files: agent logs" in msg and "probes: tcp" not in msg
    step = iss[iss["kind"] == "collection-step"]
    assert step["source"].tolist() == ["manifest.json"] and step["text"].tolist() == ["steps[2]"]
    assert "'route print'" in step["message"].iloc[0] and "did not finish within 60 s" in step["message"].iloc[0]
    # only the manifest speaks: no file that is there gets an issue
    assert set(iss["source"]) == {"manifest.json"}, iss[["source", "kind", "message"]]
    inv = b.inventory.set_index("path")
    assert inv.loc["manifest.json", "note"].endswith(
        "partial collection: 1 step(s) not ok; 7 step(s) never ran: probes: imds attested, probes: wireserver "
        "versions, files: agent logs, files: extension state, files: extension logs, files: rotated agent logs, "
        "files: event logs")
    miss = b.missing.set_index("artifact")
    assert "did not finish within 60 s" in miss.loc["route_print", "note"]  # the collector's own entry
    assert "never ran" in miss.loc["agent_log", "note"] and "files: agent logs" in miss.loc["agent_log", "note"]
    # what was collected before the stop reads exactly as in the whole bundle
    for name in ("services", "tcp_probes"):
        pd.testing.assert_frame_equal(_frame(b, name), _frame(healthy, name), obj=name)
    assert b.agent_log.empty and b.ext_status.empty


def test_stopped_collection_draws_no_verdict_from_what_it_lacks(tmp_path, healthy):
    """Unknown is never bad: a bundle stopped before the files gives no warning the healthy one does not."""
    m, remove = _collector_shape(_healthy_manifest(), stop_after="probes: wireserver versions")
    b = kit.open_bundle(_bundle(tmp_path, m, remove))
    got = kit.diagnose(b)
    want = kit.diagnose(healthy)
    sev = got["severity"].astype(str)
    worse = set(got.loc[sev.isin(["warning", "critical"]), "code"]) - set(
        want.loc[want["severity"].astype(str).isin(["warning", "critical"]), "code"])
    assert worse <= {"INPUT_DAMAGED"}, got[["code", "severity", "summary"]]


def test_listed_but_absent_file_is_located_and_explained(tmp_path):
    m, _ = _collector_shape(_healthy_manifest())
    b = kit.open_bundle(_bundle(tmp_path, m, ["commands/netsh_winhttp_proxy.txt"]))
    iss = b.issues
    assert iss.loc[iss["kind"] == "manifest-file-missing", "source"].tolist() == ["commands/netsh_winhttp_proxy.txt"]
    note = b.missing.set_index("artifact").loc["winhttp_proxy", "note"]
    assert "lists commands/netsh_winhttp_proxy.txt as collected, but the bundle lacks it" in note
    assert not b.routes.empty  # nothing else lost


def test_file_cut_short_after_collection(tmp_path, healthy):
    m, _ = _collector_shape(_healthy_manifest())
    d = _bundle(tmp_path, m, [])
    f = d / "commands/services.json"
    whole = f.read_bytes()
    f.write_bytes(whole[:100])
    b = kit.open_bundle(d)
    iss = b.issues
    cut = iss[(iss["kind"] == "hash-mismatch") & (iss["source"] == "commands/services.json")]
    assert len(cut) == 1
    assert f"and {len(whole)} bytes (manifest.json), found 100 bytes: the file was cut short" in cut["message"].iloc[0]
    pd.testing.assert_frame_equal(_frame(b, "tcp_probes"), _frame(healthy, "tcp_probes"))


def _patch_cd(data: bytearray, name: bytes, field: int, value: bytes) -> None:
    pos = -1
    while (pos := data.find(b"PK\x01\x02", pos + 1)) != -1:
        n = int.from_bytes(data[pos + 28:pos + 30], "little")
        if bytes(data[pos + 46:pos + 46 + n]) == name:
            data[pos + field:pos + field + len(value)] = value
            return
    raise AssertionError(name)


@pytest.mark.parametrize("damage", ["crc", "data"])
def test_damaged_zip_entry_costs_that_file_only(tmp_path, healthy, damage):
    m, _ = _collector_shape(_healthy_manifest())
    z = _bundle(tmp_path, m, [], as_zip=True)
    data = bytearray(z.read_bytes())
    name = "commands/services.json"
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo(name)
    if damage == "crc":
        _patch_cd(data, name.encode(), 16, (info.CRC ^ 0xFFFFFFFF).to_bytes(4, "little"))
    else:  # bytes of the compressed stream changed: the entry cannot be inflated or fails its CRC-32
        start = info.header_offset + 30 + len(name) + len(info.extra)
        for i in range(start + 2, start + min(info.compress_size, 40)):
            data[i] ^= 0x5A
    z.write_bytes(bytes(data))
    b = kit.open_bundle(z)
    iss = b.issues
    bad = iss[iss["source"] == name]
    assert bad["kind"].tolist() == ["unreadable-file"]
    assert f"expected the zip entry to decompress to {info.file_size} bytes" in bad["message"].iloc[0]
    assert "corrupt" in bad["message"].iloc[0]
    assert b.inventory.set_index("path").loc[name, "status"] == "failed"
    assert set(iss["source"]) == {name}
    for frame in ("tcp_probes", "ext_status", "agent_log"):
        pd.testing.assert_frame_equal(_frame(b, frame), _frame(healthy, frame), obj=frame)


@pytest.mark.parametrize(("change", "kinds"), [
    ({"status": "finished"}, {"bad-manifest"}),
    ({"steps": "all fine"}, {"bad-manifest"}),
    ({"pending": 3}, {"bad-manifest"}),
    ({"steps": [{"step": "route print", "status": "hung", "error": None}]}, {"bad-manifest", "collection-step"}),
    ({"steps": [["route print"]]}, {"bad-manifest"}),
])
def test_unfamiliar_collection_fields_are_issues_not_guesses(change, kinds):
    doc = dict(_healthy_manifest(), **change)
    st = collection_state(doc, "manifest.json")
    assert {i.kind for i in st.issues} == kinds
    assert all(i.source == "manifest.json" for i in st.issues)
    assert st.partial is (change.get("status") == "finished")


def test_manifest_before_issue_18_reads_as_complete():
    st = collection_state(_healthy_manifest(), "manifest.json")
    assert not st.partial and not st.issues and st.summary is None


def test_sha256_of_partial_files_still_checked(tmp_path):
    m, remove = _collector_shape(_healthy_manifest(), stop_after="services")
    d = _bundle(tmp_path, m, remove)
    (d / "commands/services.json").write_bytes(b"[]")
    b = kit.open_bundle(d)
    assert "hash-mismatch" in set(b.issues["kind"])
    entry = next(a for a in m["artifacts"] if a["path"] == "commands/services.json")
    assert entry["sha256"] != hashlib.sha256(b"[]").hexdigest()


# ---------------------------------------------------------------------------------------------- over the wire
def _script_stream(zip_bytes: bytes, logs: list[str]) -> bytes:
    """The collector's stdout in stream mode (kit.collect.script protocol): what Complete-Bundle writes."""
    import base64

    out = [b"GAKIT BEGIN 1", *[f"GAKIT LOG {m}".encode() for m in logs],
           f"GAKIT ZIP {len(zip_bytes)} {hashlib.sha256(zip_bytes).hexdigest()}".encode()]
    out += [base64.b64encode(zip_bytes[i:i + 57000]) for i in range(0, len(zip_bytes), 57000)]
    out.append(b"GAKIT END")
    return b"\n".join(out) + b"\n"


def test_partial_bundle_streamed_over_winrm_arrives_whole_and_says_partial(tmp_path, healthy):
    from kit.collect.receiver import BundleReceiver

    m, remove = _collector_shape(_healthy_manifest(), stop_after="firewall rules",
                                 bad={"Get-NetRoute": ("timeout", "did not finish within 30 s; stopped")})
    m["collector"]["mode"] = "winrm"
    z = _bundle(tmp_path, m, remove, as_zip=True)
    stream = _script_stream(z.read_bytes(), ["step: route print", "step Get-NetRoute: timeout: did not finish"])
    r = BundleReceiver(tmp_path / "out" / "vm.zip")
    for i in range(0, len(stream), 1000):
        r.feed(stream[i:i + 1000])
    got = r.finish()
    assert got.read_bytes() == z.read_bytes()
    assert r.log[-1] == "step Get-NetRoute: timeout: did not finish"
    b = kit.open_bundle(got)
    assert b.partial and b.manifest["collector"]["mode"] == "winrm"
    kinds = b.issues["kind"].astype(str).tolist()
    assert kinds.count("partial-bundle") == 1 and kinds.count("collection-step") == 1
    pd.testing.assert_frame_equal(_frame(b, "services"), _frame(healthy, "services"))


def test_constrained_language_over_winrm_is_a_clear_script_failure(tmp_path):
    from kit.collect.receiver import BundleReceiver
    from kit.errors import RemoteScriptError

    # what the script's ConstrainedLanguage branch writes in stream mode (Write-Output: CRLF line ends)
    out = (b"GAKIT BEGIN 1\r\nGAKIT FAIL PowerShell runs in ConstrainedLanguage mode here (an AppLocker or WDAC "
           b"policy does not trust this script): only the agent and extension files can be copied, commands and "
           b"probes are skipped; run the script by hand from a folder the policy allows\r\n")
    r = BundleReceiver(tmp_path / "vm.zip")
    r.feed(out)
    with pytest.raises(RemoteScriptError, match="ConstrainedLanguage mode"):
        r.finish()
    assert not (tmp_path / "vm.zip").exists() and not (tmp_path / "vm.zip.part").exists()


# ---------------------------------------------------------------------------------------------- recorded code pages
SHAPES = Path(__file__).parent / "shapes"
DE_ROUTE = SHAPES / "route_print" / "route_print.de.cp850.txt"  # real German output, source in its SOURCES.md


def _with_route(tmp_path: Path, data: bytes, code_page: int | None) -> Path:
    m, _ = _collector_shape(_healthy_manifest())
    for a in m["artifacts"]:
        if a["path"] == "commands/route_print.txt":
            a.update(size=len(data), original_size=len(data), sha256=hashlib.sha256(data).hexdigest())
            a.pop("code_page", None)
            a.pop("encoding", None)
            if code_page is not None:
                a["code_page"] = code_page
    d = _bundle(tmp_path, m, [])
    (d / "commands/route_print.txt").write_bytes(data)
    return d


def _routes(b) -> pd.DataFrame:
    df = b.routes
    df = df[df["origin"] == "route_print"]
    cols = ["family", "destination", "prefix_len", "gateway", "on_link", "interface", "metric"]
    return df[cols].astype("object").sort_values(cols[:3], key=lambda s: s.astype(str)).reset_index(drop=True)


@pytest.mark.parametrize("code_page", [850, 65001, None], ids=["recorded-850", "recorded-wrongly-65001", "none"])
def test_recorded_console_code_page_reads_the_same_routes(tmp_path, code_page):
    """Same data, same answer: the German cp850 route print with the collector's code page, with a wrong one
    (the bytes are not UTF-8, so the kit's own rule decides) and without one."""
    data = DE_ROUTE.read_bytes()
    assert not data.isascii()
    b = kit.open_bundle(_with_route(tmp_path, data, code_page))
    inv = b.inventory.set_index("path")
    assert inv.loc["commands/route_print.txt", "encoding"] == "cp850"
    note = str(inv.loc["commands/route_print.txt", "note"])
    assert ("recorded by the collector" in note) is (code_page == 850)
    assert not (b.issues["kind"] == "encoding").any(), b.issues
    ref = kit.open_bundle(_with_route(tmp_path / "ref", data, None))
    pd.testing.assert_frame_equal(_routes(b), _routes(ref))
    assert len(_routes(b)) > 5


def test_recorded_legacy_page_never_misreads_utf8(tmp_path):
    data = (SHAPES / "route_print" / "route_print.de.utf8.txt").read_bytes()
    assert not data.isascii()
    b = kit.open_bundle(_with_route(tmp_path, data, 850))
    assert b.inventory.set_index("path").loc["commands/route_print.txt", "encoding"] in ("utf-8", "utf-8-sig")
    ref = kit.open_bundle(_with_route(tmp_path / "ref", DE_ROUTE.read_bytes(), 850))
    pd.testing.assert_frame_equal(_routes(b), _routes(ref))


def _round_trip_o(stamp: str) -> str:
    """A collector time as .NET's round-trip format 'o' writes a UTC DateTime: seven fraction digits and Z."""
    ts = pd.Timestamp(stamp).tz_convert("UTC")
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond:06d}{ts.nanosecond // 100}" + "Z"


def test_invariant_round_trip_times_same_answer(tmp_path, healthy):
    """Same data, the collector's new time format ('o', invariant culture): same frames, same findings."""
    m, _ = _collector_shape(_healthy_manifest())
    m["collected_at"] = _round_trip_o(m["collected_at"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", m["collected_at"])
    d = _bundle(tmp_path, m, [])
    for rel in ("probes/tcp.json", "probes/imds_instance.json", "probes/imds_versions.json",
                "probes/wireserver_versions.json", "probes/imds_attested.json"):
        f = d / rel
        if not f.exists():
            continue
        doc = json.loads(f.read_text())
        for rec in doc if isinstance(doc, list) else [doc]:
            if rec.get("time"):
                rec["time"] = _round_trip_o(rec["time"])
        data = json.dumps(doc, indent=2).encode()
        f.write_bytes(data)
        for a in m["artifacts"]:
            if a["path"] == rel:
                a.update(size=len(data), original_size=len(data), sha256=hashlib.sha256(data).hexdigest())
    (d / "manifest.json").write_text(json.dumps(m, indent=2))
    b = kit.open_bundle(d)
    assert b.collected_at == healthy.collected_at
    for name in ("tcp_probes", "http_probes"):
        pd.testing.assert_frame_equal(_frame(b, name), _frame(healthy, name), obj=name)
    assert b.issues.empty, b.issues[["source", "kind", "message"]]
    assert sorted(kit.diagnose(b)["code"]) == sorted(kit.diagnose(healthy)["code"])
