"""IMDS_ERROR explains each error answer the collector's IMDS probe got, per Microsoft's IMDS article."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.test_diagnose_scenarios import Vm, findings_for


def _imds_answer(status: int, body: str, headers: dict | None = None) -> Callable[[Vm], None]:
    def fault(vm: Vm) -> None:
        env = vm.json("probes/imds_instance.json")
        env.update(status=status, body=body, headers=headers or {"Content-Type": "application/json; charset=utf-8"})
        vm.write_json("probes/imds_instance.json", env)
    return fault


CASES = {
    "missing Metadata header": (_imds_answer(400, '{"error":"Bad request. Required metadata header not specified"}'),
                                "lacked the `Metadata: true` header"),
    "missing api-version": (_imds_answer(400, json.dumps({
        "error": "Bad request. api-version was not specified in the request. For more information refer to "
                 "aka.ms/azureimds", "newest-versions": ["2020-10-01", "2020-09-01", "2020-07-15"]})),
        "`newest-versions`"),
    "throttled": (_imds_answer(429, '{"error":"Too many requests"}'), "5 requests per second"),
    "gone while starting": (_imds_answer(410, ""), "up to 70 seconds"),
    "X-Forwarded-For rejected": (_imds_answer(400, '{"error":"Bad request. X-Forwarded-For header present"}'),
                                 "X-Forwarded-For"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_imds_errors_are_explained(tmp_path: Path, case: str) -> None:
    fault, expect = CASES[case]
    f = findings_for(tmp_path, fault)
    rows = f[f["code"] == "IMDS_ERROR"]
    assert not rows.empty, f[["severity", "code", "summary"]]
    assert expect in rows.iloc[0]["summary"], rows.iloc[0]["summary"]


def test_imds_answer_from_a_proxy_is_the_proxy_finding(tmp_path: Path) -> None:
    f = findings_for(tmp_path, _imds_answer(504, "<html><body>This Page Cannot Be Displayed GATEWAY_TIMEOUT</body>"
                                            "</html>", {"Content-Type": "text/html", "Via": "1.1 proxy"}))
    assert "PROXY_INTERCEPTS_AGENT_TRAFFIC" in set(f["code"]) and "IMDS_ERROR" not in set(f["code"])
