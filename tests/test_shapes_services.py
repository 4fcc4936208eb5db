"""Every real shape of the services artifact (tests/shapes/services/SOURCES.md) gives the healthy sample's services and
its findings; the agent rules decide only from a status they actually read."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit.bundle import open_bundle
from kit.diagnose import agent, diagnose
from kit.diagnose.engine import Context
from kit.diagnose.model import findings_frame
from kit.parse import get_parser, match_path, sniff
from kit.parse.services import SERVICES, STATUSES
from kit.textio import decode

from .conftest import SAMPLES

SHAPES = Path(__file__).parent / "shapes" / "services"
HEALTHY = SAMPLES / "healthy"
AGENT = "WindowsAzureGuestAgent"

#: fixture -> (services present, whether it carries status, whether it carries start_type)
FULL = {
    "get-service_ps51.json": (2, True, True),
    "get-service_ps51_utf16.json": (2, True, True),
    "get-service_ps51_single.json": (1, True, True),
    "get-service_ps51_compress.json": (2, True, True),
    "get-service_ps7.json": (2, True, True),
    "get-service_ps7_enumsasstrings.json": (2, True, True),
    "win32_service_cim_ps51.json": (2, True, True),
    "win32_service_cim_ps51_single_compress.json": (1, True, True),
    "get-service_list.txt": (2, True, False),
    "get-service_list_all.txt": (2, True, True),
    "get-service_list_all_utf16.txt": (2, True, True),
    "win32_service_wmi_list_all.txt": (2, True, True),
    "get-service_table_autosize.txt": (2, True, True),
    "win32_service_cim_table.txt": (2, True, True),
    "sc_queryex_qc_en.txt": (2, True, True),
    "sc_queryex_qc_en_utf16.txt": (2, True, True),
    "sc_query_en.txt": (2, True, False),
    "sc_queryex_qc_de.txt": (2, True, True),
    "sc_queryex_qc_fr.txt": (2, True, True),
    "sc_queryex_qc_ru.txt": (2, True, True),
}
#: shapes that cannot show the agent's state (named in SOURCES.md): never a warning, at most "cannot tell"
DEGRADED = ("get-service_table_default.txt", "sc_qc_en.txt")


def original() -> pd.DataFrame:
    return open_bundle(HEALTHY).frame("services").set_index("name")


def parse_fixture(name: str, source: str | None = None) -> tuple[pd.DataFrame, list]:
    text = decode((SHAPES / name).read_bytes()).text
    kind = sniff(text[:65536])
    assert kind in ("services", "sc_query", "services_text"), f"{name} sniffed as {kind}"
    r = get_parser(kind).parse(text, source=source or f"commands/{name}")
    df = r.frames["services"]
    assert SERVICES.check_dtypes(df) == []
    return df, r.issues


def bundle_path(fixture: str) -> str:
    if fixture.endswith(".json"):
        return "commands/services.json"
    return "commands/sc_query.txt" if fixture.startswith("sc_") else "commands/services.txt"


def healthy_with(tmp_path: Path, data: bytes, rel: str) -> Path:
    """A copy of the healthy bundle whose services.json is replaced by ``data`` at ``rel``, listed in its manifest
    (path, size, SHA-256) as the collector would have listed it."""
    out = tmp_path / "healthy"
    shutil.copytree(HEALTHY, out)
    (out / "commands" / "services.json").unlink()
    (out / rel).write_bytes(data)
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for a in man["artifacts"]:
        if a["path"] == "commands/services.json":
            a.update(path=rel, origin=rel, size=len(data), original_size=len(data),
                     sha256=hashlib.sha256(data).hexdigest())
    (out / "manifest.json").write_text(json.dumps(man, indent=2), encoding="utf-8")
    return out


def codes(path: Path) -> list[str]:
    return sorted(diagnose(path)["code"])


def test_every_fixture_is_named_in_sources() -> None:
    listed = (SHAPES / "SOURCES.md").read_text(encoding="utf-8")
    files = sorted(p.name for p in SHAPES.iterdir() if p.name != "SOURCES.md")
    assert files == sorted([*FULL, *DEGRADED, "sc_query_de_notfound.txt"])
    assert [f for f in files if f"| {f} |" not in listed] == []


# ------------------------------------------------------------------------------------- the reported case
CIM_HEALTHY = """[
    {
        "Name":  "WindowsAzureGuestAgent",
        "DisplayName":  "Windows Azure Guest Agent",
        "State":  "Running",
        "StartMode":  "Auto",
        "Status":  "OK",
        "ProcessId":  2412
    }
]"""


def test_cim_services_json_of_a_healthy_vm_is_not_agent_not_running(tmp_path: Path) -> None:
    """Issue 14: a Get-CimInstance Win32_Service services.json (State/StartMode, Status "OK") gave a critical
    AGENT_NOT_RUNNING ("service is OK"/"is nan") on a healthy VM."""
    b = healthy_with(tmp_path, CIM_HEALTHY.encode(), "commands/services.json")
    df = diagnose(b)
    assert "AGENT_NOT_RUNNING" not in set(df["code"])
    assert not (df["severity"] >= "warning").any()
    row = open_bundle(b).frame("services").iloc[0]
    assert (row["status"], row["start_type"], row["shape"]) == ("Running", "Automatic", "win32_service-json")


def test_unknown_status_is_at_most_cannot_tell_and_names_the_file(tmp_path: Path) -> None:
    for status, why in (('"State":  null', "no Status/State value"), ('"State":  "Unknown"', "'Unknown'"),
                        ('"Nothing":  1', "no Status/State value")):
        text = CIM_HEALTHY.replace('"State":  "Running"', status).replace('"Status":  "OK",', "")
        b = healthy_with(tmp_path / why.replace("'", "").replace(" ", "_").replace("/", "") / status[1:4],
                         text.encode(), "commands/services.json")
        df = diagnose(b)
        assert not (df["severity"] >= "warning").any(), df
        msg = " ".join(df[df["code"] == "CHECK_NOT_POSSIBLE"]["summary"])
        assert "commands/services.json" in msg and why in msg and "no services" not in msg.lower()


def test_unknown_enum_values_are_kept_as_written_with_a_located_issue() -> None:
    text = json.dumps([{"Name": AGENT, "Status": 9, "StartType": "Sometimes"}])
    r = get_parser("services").parse(text, source="commands/services.json")
    row = r.frames["services"].iloc[0]
    assert (row["status"], row["start_type"]) == ("9", "Sometimes")
    kinds = [(i.kind, i.source) for i in r.issues]
    assert kinds == [("unknown-value", "commands/services.json")] * 2
    assert AGENT in r.issues[0].message and "Status" in r.issues[0].message


# ---------------------------------------------------------------------------------- same data, other shape
@pytest.mark.parametrize("fixture", sorted(FULL))
def test_shape_gives_the_healthy_rows(fixture: str) -> None:
    count, has_status, has_start = FULL[fixture]
    df, issues = parse_fixture(fixture)
    assert issues == []
    want = original()
    assert len(df) == count and set(df["name"]) <= set(want.index)
    for r in df.itertuples(index=False):
        w = want.loc[r.name]
        assert r.status == w["status"] if has_status else pd.isna(r.status)
        assert r.start_type == w["start_type"] if has_start else pd.isna(r.start_type)
        assert pd.isna(r.process_id) or r.process_id == w["process_id"]
        assert pd.isna(r.path_name) or r.path_name == w["path_name"]
        assert r.exists


@pytest.mark.parametrize("fixture", sorted(FULL))
def test_healthy_bundle_in_that_shape_gives_the_same_findings(fixture: str, tmp_path: Path) -> None:
    b = healthy_with(tmp_path, (SHAPES / fixture).read_bytes(), bundle_path(fixture))
    bundle = open_bundle(b)
    assert {"services", "sc_query", "services_text"} & set(bundle.inventory["artifact"].dropna())
    assert bundle.frame("services")["name"].str.lower().eq(AGENT.lower()).any()
    assert codes(b) == codes(HEALTHY)


@pytest.mark.parametrize("fixture", DEGRADED)
def test_degraded_shapes_never_warn(fixture: str, tmp_path: Path) -> None:
    b = healthy_with(tmp_path, (SHAPES / fixture).read_bytes(), bundle_path(fixture))
    df = diagnose(b)
    assert not (df["severity"] >= "warning").any(), df[["code", "summary"]]


def test_truncated_table_name_is_flagged_not_matched() -> None:
    df, issues = parse_fixture("get-service_table_default.txt")
    assert df["name"].tolist() == ["WindowsAzureGue...", "RdAgent"]
    assert [(i.kind, i.line) for i in issues] == [("truncated", 4)]


def test_sc_qc_alone_says_the_state_was_not_in_the_file(tmp_path: Path) -> None:
    b = healthy_with(tmp_path, (SHAPES / "sc_qc_en.txt").read_bytes(), "commands/sc_qc.txt")
    df = diagnose(b)
    msg = " ".join(df[df["code"] == "CHECK_NOT_POSSIBLE"]["summary"])
    assert "commands/sc_qc.txt has no Status/State value for WindowsAzureGuestAgent" in msg


def test_shapes_are_found_by_name_and_by_content(tmp_path: Path) -> None:
    assert match_path("commands/sc_query_WindowsAzureGuestAgent.txt") == "sc_query"
    assert match_path("commands/sc_qc.txt") == "sc_query"
    assert match_path("commands/services.txt") == "services_text"
    # a pasted file with a name that says nothing is recognised by its content
    b = healthy_with(tmp_path, (SHAPES / "sc_queryex_qc_ru.txt").read_bytes(), "commands/paste1.txt")
    inv = open_bundle(b).inventory.set_index("path")
    assert (inv.loc["commands/paste1.txt", "artifact"], inv.loc["commands/paste1.txt", "recognised_by"]) == \
        ("sc_query", "content")
    assert codes(b) == codes(HEALTHY)


def test_text_in_a_file_named_services_json_is_read_as_what_it_is() -> None:
    text = decode((SHAPES / "get-service_list_all.txt").read_bytes()).text
    r = get_parser("services").parse(text, source="commands/services.json")
    assert r.frames["services"]["shape"].tolist() == ["get-service-list"] * 2 and r.issues == []


# ------------------------------------------------------------------------------------- a stopped agent
STOPPED = {
    "win32_service_cim_ps51.json": ('"State":  "Running"', '"State":  "Stopped"'),
    "sc_query_en.txt": ("4  RUNNING", "1  STOPPED"),
    "sc_queryex_qc_de.txt": ("4  RUNNING", "1  STOPPED"),
    "get-service_ps51.json": ('"Status":  4', '"Status":  1'),
}


@pytest.mark.parametrize("fixture", sorted(STOPPED))
def test_a_really_stopped_agent_is_still_agent_not_running(fixture: str, tmp_path: Path) -> None:
    old, new = STOPPED[fixture]
    text = decode((SHAPES / fixture).read_bytes()).text
    assert text.count(old) == 2
    stopped = text.replace(old, new, 1)  # the agent comes first; RdAgent keeps running
    b = healthy_with(tmp_path, stopped.encode("utf-8"), bundle_path(fixture))
    df = diagnose(b)
    hit = df[df["code"] == "AGENT_NOT_RUNNING"]
    assert len(hit) == 1 and "is Stopped" in hit["summary"].iloc[0]
    assert (hit["severity"] >= "warning").all()


def test_german_sc_error_1060_means_the_agent_is_not_installed(tmp_path: Path) -> None:
    df, issues = parse_fixture("sc_query_de_notfound.txt")
    assert issues == [] and df[["name", "status", "exists"]].values.tolist() == [[AGENT, "NotFound", False]]
    b = healthy_with(tmp_path, (SHAPES / "sc_query_de_notfound.txt").read_bytes(), "commands/sc_query.txt")
    hit = diagnose(b).query("code == 'AGENT_NOT_RUNNING'")
    assert len(hit) == 1 and "is not installed" in hit["summary"].iloc[0]


def test_sc_error_1060_takes_the_name_from_the_file_name_or_says_it_has_none() -> None:
    text = "[SC] EnumQueryServicesStatus:OpenService FEHLER 1060:\r\n\r\nDer angegebene Dienst ist kein " \
           "installierter Dienst.\r\n"
    r = get_parser("sc_query").parse(text, source="commands/sc_query_WindowsAzureGuestAgent.txt")
    assert r.frames["services"][["name", "status"]].values.tolist() == [[AGENT, "NotFound"]]
    r = get_parser("sc_query").parse(text, source="commands/paste.txt")
    assert r.frames["services"].empty and [i.kind for i in r.issues] == ["unnamed-service"]


def test_other_sc_errors_are_issues_not_states() -> None:
    text = "C:\\>sc query WindowsAzureGuestAgent\r\n[SC] OpenService FAILED 5:\r\n\r\nAccess is denied.\r\n"
    r = get_parser("sc_query").parse(text, source="commands/sc_query.txt")
    assert r.frames["services"].empty
    assert [(i.kind, i.line) for i in r.issues] == [("sc-error", 2)]


def test_unfamiliar_sc_state_is_kept_and_never_judged(tmp_path: Path) -> None:
    text = decode((SHAPES / "sc_query_en.txt").read_bytes()).text.replace("4  RUNNING", "9  HIBERNATING", 1)
    r = get_parser("sc_query").parse(text, source="commands/sc_query.txt")
    assert r.frames["services"]["status"].iloc[0] == "9  HIBERNATING"
    assert [i.kind for i in r.issues] == ["unknown-value"]
    b = healthy_with(tmp_path, text.encode(), "commands/sc_query.txt")
    df = diagnose(b)
    assert not (df["severity"] >= "warning").any()
    assert "unfamiliar status '9  HIBERNATING'" in " ".join(df["summary"])


def test_disagreeing_artifacts_are_not_a_verdict(tmp_path: Path) -> None:
    b = healthy_with(tmp_path, (SHAPES / "sc_query_en.txt").read_bytes(), "commands/sc_query.txt")
    stopped = decode((SHAPES / "get-service_list_all.txt").read_bytes()).text.replace("Running", "Stopped", 1)
    (b / "commands" / "services.txt").write_text(stopped, encoding="utf-8")
    df = diagnose(b)
    assert "AGENT_NOT_RUNNING" not in set(df["code"])
    assert "disagree" in " ".join(df["summary"])


# ------------------------------------------------------------------------------------- robustness
def test_russian_sc_read_with_the_wrong_code_page_still_gives_the_rows(tmp_path: Path) -> None:
    """cmd.exe redirects sc output in the OEM code page (CP866 on a Russian Windows). Whatever the decoder makes
    of the Cyrillic labels, the numbers and English words the parser reads are ASCII."""
    text = decode((SHAPES / "sc_queryex_qc_ru.txt").read_bytes()).text
    b = healthy_with(tmp_path, text.encode("cp866"), "commands/sc_query.txt")
    df = open_bundle(b).frame("services")
    got = df[["name", "status", "start_type", "process_id"]].values.tolist()
    assert got == [[AGENT, "Running", "Automatic", 2412], ["RdAgent", "Running", "Automatic", 1868]]
    # the only new finding is the info that the file's encoding was a guess (kit/textio's business)
    assert set(codes(b)) - set(codes(HEALTHY)) <= {"INPUT_DAMAGED"}
    assert not (diagnose(b)["severity"] >= "warning").any()


def test_no_sample_file_is_taken_for_a_services_text_shape() -> None:
    for p in SAMPLES.rglob("*"):
        if p.is_file() and p.name != "services.json" and p.suffix in (".txt", ".log", ".json", ".status"):
            text = decode(p.read_bytes()[:131072]).text[:65536]
            assert sniff(text) not in ("sc_query", "services_text", "services"), p


@pytest.mark.parametrize("fixture", sorted([*FULL, *DEGRADED]))
def test_cut_or_damaged_fixtures_never_raise(fixture: str) -> None:
    text = decode((SHAPES / fixture).read_bytes()).text
    kind = sniff(text[:65536]) or "services"
    mod = get_parser(kind)
    step = max(1, len(text) // 40)
    for cut in range(0, len(text), step):
        for variant in (text[:cut], text[:cut] + "\x00\ufffd:" + text[cut:][::-1][:50]):
            r = mod.parse(variant, source="commands/x")
            assert SERVICES.check_dtypes(r.frames["services"]) == []


# ------------------------------------------------------------------------------- unknown is never bad
class _Bundle:
    """Just enough of a Bundle for the services rules: a services frame, everything else empty."""

    collected_at = None
    time_reference = None

    def __init__(self, services: pd.DataFrame) -> None:
        self._services = services

    def frame(self, name: str) -> pd.DataFrame:
        from kit.parse import frame_schemas

        return self._services if name == "services" else frame_schemas()[name].empty()

    def has(self, artifact: str) -> bool:
        return artifact == "services"


_UNKNOWN = st.one_of(st.none(), st.sampled_from(["OK", "Degraded", "Unknown", "nan", "", "9", "RUNNING?",
                                                 "Läuft", "Wird ausgeführt", "4  HIBERNATING"]),
                     st.text(max_size=12)).filter(lambda s: s not in STATUSES)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(st.sampled_from([AGENT, AGENT.lower(), "RdAgent"]), _UNKNOWN,
                               st.one_of(st.none(), st.text(max_size=10))), max_size=4))
def test_services_rules_never_warn_from_unknown_states(rows: list) -> None:
    recs = [{"source": "commands/services.json", "line": None, "name": n, "display_name": None, "status": s,
             "start_type": t, "process_id": None, "path_name": None, "file_version": None, "exists": True,
             "shape": "kit-json"} for n, s, t in rows]
    ctx = Context(bundle=_Bundle(SERVICES.from_records(recs)))  # type: ignore[arg-type]
    found = [f for rule in (agent.agent_not_running, agent.agent_version, agent.agent_stopping_stuck)
             for f in rule(ctx)]
    df = findings_frame(found)
    assert not (df["severity"] >= "warning").any(), df[["code", "summary"]]
    if any(n.lower() == AGENT.lower() for n, _, _ in rows):
        assert "commands/services.json" in " ".join(df[df["code"] == "CHECK_NOT_POSSIBLE"]["summary"])


@pytest.mark.parametrize("error", [
    "[SC] EnumQueryServicesStatus:OpenService FAILED 1060:",  # en
    "[SC] EnumQueryServicesStatus:OpenService FEHLER 1060:",  # de (sc_query_de_notfound.txt)
    "[SC] EnumQueryServicesStatus:OpenService échec(s) 1060 :",  # fr (SOURCES.md)
    "[SC] EnumQueryServicesStatus:OpenService: ошибка: 1060:",  # ru (SOURCES.md)
    "[SC] EnumQueryServicesStatus:OpenService ERROR 1060:",  # es (SOURCES.md: message only)
])
def test_sc_error_1060_is_read_by_its_number_in_every_language(error: str) -> None:
    text = f"C:\\>sc query {AGENT}\r\n{error}\r\n\r\n(message in the display language)\r\n"
    r = get_parser("sc_query").parse(text, source="commands/sc_query.txt")
    assert r.issues == [] and r.frames["services"][["name", "status", "exists"]].values.tolist() == \
        [[AGENT, "NotFound", False]]
