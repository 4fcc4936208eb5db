"""Pasted text as evidence: each output line of a paste (:mod:`kit.parse.paste`) that a catalog signature matches is
that code's finding, with the paste's file and line as evidence.

* Shell prompts are context, not evidence: the command typed is named in the summary, only the lines it printed are
  matched (by the parser).
* When the VM's own files already raised the same code (an earlier rule family), the paste does not raise it again:
  its lines are **attached** to that finding as extra evidence and the summary says so.
* A paste carries no date and may come from another machine (a deployment pipeline, the customer's laptop): the
  summary says where it was read; deployment-side errors (family ``deployment``) say they are not a guest fault.

Runs after every family that reads the VM's own files, before :mod:`~kit.diagnose.meta`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from ..catalog import catalog
from ..derive.operations import budget_for
from ._util import LazyPattern
from .engine import Context
from .model import Evidence, Finding

#: Codes the bundle's own probes decide when they are present: probes are current, a paste is undated. When the probes
#: reached the endpoint, a pasted failure to reach it is reported at info level.
PROBED = {"IMDS_UNREACHABLE": "imds", "WIRESERVER_UNREACHABLE": "wireserver",
          "HOSTGAPLUGIN_UNREACHABLE": "hostgaplugin"}
#: Evidence lines shown per code and file.
PER_FILE = 5
MAX_QUOTE = 200
#: What the VM's own files say about a deployment error: codes of earlier families that show its guest side.
GUEST_SIDE = {
    "DEPLOYMENT_EXTENSION_FAILED": ("EXTENSION_FAILED", "EXTENSION_DOWNLOAD_FAILED", "EXTENSION_OS_UNSUPPORTED",
                                    "EXTENSION_BLOCKED_BY_FAILED_EXTENSION"),
    "DEPLOYMENT_EXTENSION_HANDLER_FAILED": ("EXTENSION_FAILED", "EXTENSION_OS_UNSUPPORTED", "APP_CONTROL_BLOCKS_AGENT"),
    "DEPLOYMENT_EXTENSION_TIMEOUT": ("EXTENSION_TIMEOUT", "EXTENSION_STUCK_TRANSITIONING", "AGENT_NOT_RUNNING",
                                     "WIRESERVER_UNREACHABLE", "HOSTGAPLUGIN_UNREACHABLE"),
    "DEPLOYMENT_AGENT_STATUS_NOT_REPORTED": ("AGENT_NOT_RUNNING", "AGENT_CRASH_LOOP", "AGENT_SERVICE_TERMINATED",
                                             "AGENT_SERVICE_START_FAILED", "AGENT_PROCESS_CRASHED",
                                             "GUEST_FIREWALL_BLOCKS_WIRESERVER", "PROXY_INTERCEPTS_AGENT_TRAFFIC",
                                             "WIRESERVER_UNREACHABLE", "HOSTGAPLUGIN_UNREACHABLE",
                                             "AGENT_CERTIFICATE_ERROR", "APP_CONTROL_BLOCKS_AGENT"),
    "DEPLOYMENT_CLIENT_GAVE_UP": ("EXTENSION_TIMEOUT", "EXTENSION_STUCK_TRANSITIONING"),
}
#: A line that is an ARM error about an extension carries that extension's own status text, which may match the
#: generic extension signatures too: on that line the ARM code is the finding, not those.
SUBSUMES = {"DEPLOYMENT_EXTENSION_FAILED": {"EXTENSION_FAILED"},
            "DEPLOYMENT_EXTENSION_HANDLER_FAILED": {"EXTENSION_FAILED"},
            "DEPLOYMENT_EXTENSION_TIMEOUT": {"EXTENSION_FAILED"}}


def _by_file(rows: pd.DataFrame, *columns: str) -> dict[object, list[tuple]]:
    """``columns`` of ``rows`` per file, files in order of appearance and rows in frame order (as
    ``rows.groupby("source", sort=False)``, which leaves out rows whose file is unknown; plain lists: a groupby costs
    ~1 ms for the few lines of a paste)."""
    out: dict[object, list[tuple]] = {}
    for src, *values in zip(rows["source"].tolist(), *(rows[c].tolist() for c in columns), strict=True):
        if not (src is None or src is pd.NA or (isinstance(src, float) and src != src)):
            out.setdefault(src, []).append(tuple(values))
    return out


def _where(rows: pd.DataFrame) -> str:
    parts = []
    for src, g in _by_file(rows, "line").items():
        lines = sorted({int(n) for (n,) in g})
        shown = ", ".join(str(n) for n in lines[:6]) + (", ..." if len(lines) > 6 else "")
        parts.append(f"{src} line{'s' if len(lines) > 1 else ''} {shown}")
    return "; ".join(parts)


def _evidence(rows: pd.DataFrame) -> list[Evidence]:
    return [Evidence(artifact="paste", text=str(text), source=str(src), line=int(line))
            for src, g in _by_file(rows, "text", "line").items() for text, line in g[:PER_FILE]]


def _quote(text: str) -> str:
    t = " ".join(text.split())
    return t if len(t) <= MAX_QUOTE else t[: MAX_QUOTE - 3] + "..."


def _probes_reached(ctx: Context, endpoint: str) -> bool:
    tcp, http = ctx.frame("tcp_probes"), ctx.frame("http_probes")
    tcp_ok = not tcp.empty and bool(((tcp["endpoint"] == endpoint).fillna(False).to_numpy(dtype=bool)
                                     & tcp["ok"].fillna(False).to_numpy(dtype=bool)).any())
    http_ok = not http.empty and bool(((http["endpoint"] == endpoint) & (http["outcome"] == "ok")).fillna(False)
                                      .to_numpy(dtype=bool).any())
    return tcp_ok or http_ok


# ---------------------------------------------------------------------------------------------- ARM error details
_EXT_NAME = (LazyPattern(r"(?:processing extension|for VM [Ee]xtension|Provisioning of VM extension) '([^']+)'"),
             LazyPattern(r"Provisioning of VM extension ([^\s'\"]+?)\.? has timed out"))
_PUB_TYPE = LazyPattern(r"\(publisher '([^']+)' and type '([^']+)'\)")
_HANDLER = LazyPattern(r"(?:Handler|handler for VM extension type) '([^']+)'")
_INNER_CODE = LazyPattern(r"(?:Error code:|terminal error code) '([^']*)'")
_INNER_MESSAGE = LazyPattern(r"(?:Error message|error message): ?(.*)$|The extension last reported (.*)$")
#: Where an inner message ends: the ARM text that follows it, or the end of its (possibly escaped) line.
_MESSAGE_END = LazyPattern(r"'?\.? Detailed error:|More information on troubleshooting|' For more information|"
                          r"\\+r\\+n|\\+n(?![A-Za-z0-9])|\r?\n")
#: Quotes, escapes and stops left around a message that was cut out of (possibly nested) JSON or a quoted string.
_MESSAGE_TRIM_START = LazyPattern(r"^[\s'\"\\]+")
_MESSAGE_TRIM_END = LazyPattern(r"(?:\\+[rn]|[\s'\".,\\])+$")


def arm_details(text: str) -> dict[str, str]:
    """What an ARM/CRP extension error line says of the extension: ``extension`` (its name in the VM model),
    ``handler`` (Publisher.Type, when given), ``inner_code`` and ``inner_message`` (the extension's own error).
    Keys are left out when the line does not say."""
    out: dict[str, str] = {}
    for pat in _EXT_NAME:
        m = pat.search(text)
        if m:
            out["extension"] = m.group(1)
            break
    m = _PUB_TYPE.search(text)
    if m:
        out["handler"] = f"{m.group(1)}.{m.group(2)}"
    else:
        m = _HANDLER.search(text)
        if m:
            out["handler"] = m.group(1)
    m = _INNER_CODE.search(text)
    if m and m.group(1):
        out["inner_code"] = m.group(1)
    m = _INNER_MESSAGE.search(text)
    if m:
        msg = m.group(1) if m.group(1) is not None else m.group(2)
        cut = _MESSAGE_END.search(msg)
        msg = msg[: cut.start()] if cut else msg
        msg = _MESSAGE_TRIM_END.sub("", _MESSAGE_TRIM_START.sub("", msg))
        msg = re.sub(r'\\+"', '"', msg).strip()
        if msg:
            out["inner_message"] = msg
    return out


def _arm_sentence(rows: pd.DataFrame) -> str:
    """The extension, handler and inner error the fullest ARM line names, as a sentence ("" when none)."""
    best: dict[str, str] = {}
    for text in rows["text"]:
        d = arm_details(str(text))
        if len(d) > len(best):
            best = d
    if not best:
        return ""
    parts = []
    if "extension" in best:
        parts.append(f"extension '{best['extension']}'" + (f" ({best['handler']})" if "handler" in best else ""))
    elif "handler" in best:
        parts.append(f"handler {best['handler']}")
    if "inner_code" in best:
        parts.append(f"its error code '{best['inner_code']}'")
    if "inner_message" in best:
        parts.append(f"its own message \"{_quote(best['inner_message'])}\"")
    return ". The ARM error names " + ", ".join(parts) if parts else ""


# ---------------------------------------------------------------------------------------------- client timeouts
_TF_TYPE = LazyPattern(r"""(?m)^\s*(?:\+\s*)?type\s*(?:=|:\s*""\s*=>)\s*"([^"]+)\"""")
_TF_PUBLISHER = LazyPattern(r"""(?m)^\s*(?:\+\s*)?publisher\s*(?:=|:\s*""\s*=>)\s*"([^"]+)\"""")
_TF_CREATE_TIMEOUT = LazyPattern(r"""(?s)timeouts\s*\{[^}]*?\bcreate\s*=\s*"([^"]+)\"""")
_TF_ELAPSED = LazyPattern(r"Still creating\.\.\. [\[(]([0-9hms]+) elapsed[\])]")
#: Extension types named by the command that deployed them: az (`--name` is the type there), Azure PowerShell.
_CMD_TYPES = (LazyPattern(r"\baz vm(?:ss)? extension set\b.*?--name[ =]\"?([\w.-]+)"),
              LazyPattern(r"\bSet-AzVM(?:ss)?Extension\b.*?-ExtensionType[ :]\"?([\w.-]+)", re.IGNORECASE))
_CMD_IMPLIED = ((LazyPattern(r"\bSet-AzVMCustomScriptExtension\b", re.IGNORECASE), "CustomScriptExtension"),
                (LazyPattern(r"\bSet-AzVMDscExtension\b", re.IGNORECASE), "DSC"),
                (LazyPattern(r"\bSet-AzVMChefExtension\b", re.IGNORECASE), "ChefClient"))
#: An Azure Pipelines job cut off at its time limit: "The job running on agent X ran longer than the maximum time of
#: 120 minutes." (Azure/ResourceModules#879; 60 minutes for Microsoft-hosted agents, Azure/mlops-v2#78).
_PIPELINE_LIMIT = LazyPattern(r"ran longer than the maximum time of (\d+) minutes")
_EXTENSION_CONTEXT = LazyPattern(r"azurerm_virtual_machine_extension|Extension Name:|/extensions/|VM extension|"
                                r"\baz vm(?:ss)? extension set\b|\bSet-AzVM\w*Extension\b", re.IGNORECASE)
_TERRAFORM = LazyPattern(r"azurerm_|\bterraform\b|Still creating\.\.\.|^│ Error:", re.IGNORECASE | re.MULTILINE)
#: Terraform's azurerm provider waits 30 minutes for a VM extension by default (aztfmod/terraform-azurerm-caf#1277).
TERRAFORM_DEFAULT_TIMEOUT = pd.Timedelta(minutes=30)


def _go_duration(text: str) -> pd.Timedelta | None:
    parts = re.findall(r"(\d+)([hms])", text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    return pd.Timedelta(seconds=sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts))


def _minutes(td: pd.Timedelta) -> str:
    return f"{round(td.total_seconds() / 60)} min"


def client_gave_up(text: str) -> tuple[str | None, str]:
    """Judge a deployment tool's timeout for a VM extension from the whole pasted ``text``: (severity, sentence).

    Severity ``None``: the paste is not about a VM extension (no finding). Otherwise the tool's wait (an explicit
    Terraform ``timeouts { create }``, else Terraform's 30-minute default, at least the last "Still creating... [..
    elapsed]") is set against Azure's budget for the extension type named in the paste (kit.diagnose.extensions
    .budget_for): shorter -> ``warning`` (the operation may still be running); not shorter, or either unknown ->
    ``info`` with what could not be told."""
    if not _EXTENSION_CONTEXT.search(text):
        return None, ""
    types = {m.group(1) for m in _TF_TYPE.finditer(text)}
    types |= {m.group(2) for m in _PUB_TYPE.finditer(text)}
    types |= {m.group(1) for pat in _CMD_TYPES for m in pat.finditer(text)}
    types |= {name for pat, name in _CMD_IMPLIED if pat.search(text)}
    publishers = [m.group(1) for m in _TF_PUBLISHER.finditer(text)]
    named = sorted({(f"{publishers[0]}.{t}" if len(publishers) == 1 and "." not in t else t) for t in types})
    budgets = {budget_for(t) for t in named}
    wait: pd.Timedelta | None = None
    how = ""
    m = _TF_CREATE_TIMEOUT.search(text)
    if m and _go_duration(m.group(1)) is not None:
        wait, how = _go_duration(m.group(1)), f"its configured create timeout ({m.group(1)})"
    elif _PIPELINE_LIMIT.search(text):
        limit = _PIPELINE_LIMIT.search(text)
        wait, how = pd.Timedelta(minutes=int(limit.group(1))), f"the pipeline job's limit of {limit.group(1)} minutes"
    elif _TERRAFORM.search(text):
        wait, how = TERRAFORM_DEFAULT_TIMEOUT, "the Terraform azurerm provider's default of 30 minutes"
    elapsed = [d for d in (_go_duration(e) for e in _TF_ELAPSED.findall(text)) if d is not None]
    if elapsed and (wait is None or max(elapsed) > wait):
        wait, how = max(elapsed), f"the last \"Still creating\" line ({_minutes(max(elapsed))} elapsed)"
    if len(budgets) != 1 or wait is None:
        missing = ("the extension's type is not named in the paste" if not named else
                   f"the paste names extension types with different budgets ({', '.join(named)})" if len(budgets) > 1
                   else "the tool's timeout is not in the paste")
        return "info", (f". Cannot tell whether the tool gave up before Azure's budget for the extension: {missing}; "
                        "look at the extension's state in Azure before retrying")
    budget = budgets.pop()
    if wait < budget:
        return "warning", (f". The tool waited about {_minutes(wait)} ({how}), but Azure gives {named[0]} "
                           f"{_minutes(budget)}: the extension's operation was not failed by Azure and may still be "
                           "running or have finished since")
    return "info", (f". The tool waited about {_minutes(wait)} ({how}) and Azure gives {named[0]} only "
                    f"{_minutes(budget)}, so the tool did not give up early: Azure should have ended the operation "
                    "first; read the extension's status in Azure and on the VM")


def paste_signatures(ctx: Context) -> Iterable[Finding]:
    df = ctx.frame("paste_lines")
    if df.empty:
        return []
    out_lines = df[(~df["prompt"].to_numpy(dtype=bool)) & df["codes"].notna().to_numpy(dtype=bool)]
    if out_lines.empty:
        return []
    by_code: dict[str, list[int]] = {}
    for i, codes in zip(out_lines.index, out_lines["codes"], strict=True):
        found = str(codes).split(",")
        covered = set().union(*(SUBSUMES.get(c, set()) for c in found))
        for code in found:
            if code not in covered:
                by_code.setdefault(code, []).append(i)
    order = list(catalog())
    findings: list[Finding] = []
    for code in sorted(by_code, key=lambda c: order.index(c) if c in order else len(order)):
        if code not in catalog():
            continue
        rows = out_lines.loc[by_code[code]]
        ev = _evidence(rows)
        where = _where(rows)
        earlier = next((f for f in ctx.findings if f.code == code), None)
        if earlier is not None:  # the VM's own files raised it: the paste is extra evidence, not a second finding
            earlier.evidence.extend(ev)
            earlier.summary = earlier.summary.rstrip() + f" Pasted text shows it too ({where})."
            continue
        first = rows.loc[rows["text"].str.len().idxmax()]  # the fullest line says most (an ARM message, not its code)
        cmd = first["command"]
        answer = f", the output of `{_quote(str(cmd))}`" if isinstance(cmd, str) and cmd else ""
        others = rows[(rows["source"] != first["source"]).to_numpy(dtype=bool)]
        also = f"; also in {_where(others)}" if not others.empty else ""
        here = _where(rows[(rows["source"] == first["source"]).to_numpy(dtype=bool)])
        summary = (f"{code} seen in pasted text: \"{_quote(str(first['text']))}\" ({here}{answer}){also}. The paste "
                   "carries no date and may come from another machine; no other file in the bundle raised this code")
        severity = None
        if code == "DEPLOYMENT_CLIENT_GAVE_UP":
            text = "\n".join(str(t) for t in df.loc[df["source"] == first["source"], "text"])
            severity, sentence = client_gave_up(text)
            if severity is None:  # a tool's deadline about something other than a VM extension
                continue
            summary += ". This is the deployment tool's own error, not one from Azure" + sentence
        elif catalog()[code].family == "deployment":
            summary += ". This is an Azure deployment (ARM/CRP) error, read from the deployment's output"
            if code.startswith("DEPLOYMENT_EXTENSION_"):
                summary += _arm_sentence(rows)
            elif code == "DEPLOYMENT_REQUEST_REJECTED":
                summary += (": Azure refused the request itself, so it is not a fault of any VM or its guest agent, "
                            "and nothing in a VM bundle bears on it")
        guest = [c for c in GUEST_SIDE.get(code, ()) if any(f.code == c and f.severity != "info"
                                                             for f in ctx.findings)]
        if guest:
            summary += (f". The VM's own files show the guest side: {', '.join(guest)} (see "
                        f"{'that finding' if len(guest) == 1 else 'those findings'})")
        if code in PROBED and _probes_reached(ctx, PROBED[code]):
            severity = "info"
            summary += (f". The bundle's own probes reached {PROBED[code]} when it was collected, so the paste shows "
                        "an earlier failure or another machine's")
        findings.append(Finding(code=code, summary=summary + ".", evidence=ev, severity=severity))
    return findings


#: What each rule decides from, {rule: {frame: columns}} (tests/test_unknown_never_bad.py makes these unknown and
#: checks that no verdict follows; it fails for a rule without an entry).
JUDGES: dict[str, dict[str, tuple[str, ...]]] = {
    "paste_signatures": {"paste_lines": ("prompt", "codes", "text"), "tcp_probes": ("endpoint", "ok"),
                         "http_probes": ("endpoint", "outcome")},
}

RULES = [paste_signatures]
