"""The finding catalog and the known-noise list, loaded from the YAML files beside this module."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

SEVERITIES: tuple[str, ...] = ("info", "warning", "error", "critical")
FAMILIES: tuple[str, ...] = ("network", "routes", "hci", "extensions", "keyvault", "identity", "agent", "deployment",
                             "meta")
#: Where a signature is read (its ``in``): ``agent_log``, ``handler_log``, ``log`` (any text software on the VM wrote:
#: logs and status messages, for rules that search them together) and ``paste`` (a pasted text file no parser knows).
WHERES: tuple[str, ...] = ("agent_log", "handler_log", "log", "paste")


@dataclass(frozen=True)
class Signature:
    """A regex that recognises a catalog code from one line of text, and where its real text comes from."""

    code: str
    id: str
    pattern: str
    where: tuple[str, ...]
    source: str
    #: A regex the same line (or, in a paste, the command the line answers) must also match; None: none needed.
    context: str | None = None
    #: The rule's words for what a hit means (IMDS_REQUESTS_FAILED's kinds).
    meaning: str | None = None
    #: The name of ``context`` in findings.yaml's ``contexts``.
    context_name: str | None = None


@dataclass(frozen=True)
class CatalogEntry:
    code: str
    family: str
    severity: str
    title: str
    remediation: str
    docs: str
    signatures: tuple[Signature, ...] = ()


@dataclass(frozen=True)
class NoisePattern:
    id: str
    pattern: re.Pattern[str]
    why: str


#: The YAML files' data as JSON, each with the SHA-256 of the text it was read from (written by
#: ``python -m kit.docs``, checked by the tests). Importing PyYAML costs ~20 ms, a tenth of what `vmkit diagnose`
#: does after pandas is loaded; JSON is read by a module that is loaded anyway. Used only while the hash matches:
#: an edited YAML file is always read as it is.
COMPILED = "compiled.json"
SOURCES = ("findings.yaml", "noise.yaml", "agent_known_bad.yaml")


def _text(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_yaml(text: str) -> object:
    import yaml

    # libyaml's loader when PyYAML has it (about 10x faster than the pure-Python one); same safe subset.
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def compiled_json() -> str:
    """The content of :data:`COMPILED` for the YAML files as they are now."""
    out = {}
    for name in SOURCES:
        text = _text(name)
        data = parse_yaml(text)
        if name == "findings.yaml":
            _entries(data, check_patterns=True)  # only a catalog whose patterns compile is written
        out[name] = {"sha256": _sha(text), "data": data}
    return json.dumps(out, indent=1, ensure_ascii=False) + "\n"


def _read(name: str) -> object:
    return _read_checked(name)[0]


def read_data(name: str) -> object:
    """The content of one of the catalog's YAML files (:data:`SOURCES`), from :data:`COMPILED` while that matches it
    (the rules that read a data file at every run then import no PyYAML)."""
    if name not in SOURCES:
        raise ValueError(f"{name!r} is not one of the catalog's data files {SOURCES}")
    return _read(name)


def _read_checked(name: str) -> tuple[object, bool]:
    """(the YAML file's data, whether it comes from :data:`COMPILED`, whose signature patterns were compiled when
    it was written)."""
    text = _text(name)
    try:
        entry = json.loads(_text(COMPILED)).get(name)
    except (OSError, ValueError):
        entry = None
    if isinstance(entry, dict) and entry.get("sha256") == _sha(text):
        return entry["data"], True
    return parse_yaml(text), False


@cache
def catalog() -> dict[str, CatalogEntry]:
    """Every finding code, in catalog order. Each signature's pattern is compiled here only to check it when the
    YAML is read as it is; :data:`COMPILED` holds only checked patterns, so a run that reads it compiles each pattern
    once, where it is used (60 compiles fewer per ``vmkit diagnose``)."""
    data, checked = _read_checked("findings.yaml")
    return _entries(data, check_patterns=not checked)


def _entries(data: dict, *, check_patterns: bool) -> dict[str, CatalogEntry]:  # type: ignore[type-arg]
    out: dict[str, CatalogEntry] = {}
    for code, e in data["codes"].items():
        if not re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+", code):
            raise ValueError(f"findings.yaml: code {code!r} is not UPPER_SNAKE")
        if e["severity"] not in SEVERITIES:
            raise ValueError(f"findings.yaml: {code}: severity {e['severity']!r} not in {SEVERITIES}")
        if e["family"] not in FAMILIES:
            raise ValueError(f"findings.yaml: {code}: family {e['family']!r} not in {FAMILIES}")
        out[code] = CatalogEntry(code=code, family=e["family"], severity=e["severity"], title=e["title"],
                                 remediation=" ".join(e["remediation"].split()), docs=e["docs"],
                                 signatures=_signatures(code, e.get("signatures") or [], data.get("contexts") or {},
                                                        check_patterns))
    return out


def _signatures(code: str, raw: list, contexts: dict, check_patterns: bool = True) -> tuple[Signature, ...]:
    out = []
    for i, s in enumerate(raw):
        where = tuple(s.get("in") or ())
        if not s.get("id") or not s.get("pattern") or not s.get("source") or not where:
            raise ValueError(f"findings.yaml: {code}: signature {i + 1} needs id, pattern, in and source")
        if bad := [w for w in where if w not in WHERES]:
            raise ValueError(f"findings.yaml: {code}: signature {s['id']}: in {bad} not in {WHERES}")
        ctx = s.get("context")
        if ctx is not None and ctx not in contexts:
            raise ValueError(f"findings.yaml: {code}: signature {s['id']}: context {ctx!r} not in contexts")
        try:
            if check_patterns or not isinstance(s["pattern"], str):
                re.compile(s["pattern"])
        except re.error as exc:
            raise ValueError(f"findings.yaml: {code}: signature {s['id']}: bad pattern: {exc}") from None
        out.append(Signature(code=code, id=s["id"], pattern=s["pattern"], where=where, source=" ".join(
            str(s["source"]).split()), context=None if ctx is None else contexts[ctx], meaning=s.get("meaning"),
            context_name=ctx))
    return tuple(out)


def signatures(code: str | None = None, where: str | None = None) -> tuple[Signature, ...]:
    """The catalog's signatures, in catalog order: of one code and/or read in one place (``where``)."""
    if where is not None and where not in WHERES:
        raise ValueError(f"where must be one of {WHERES}, not {where!r}")
    entries = catalog().values() if code is None else [catalog()[code]]
    return tuple(s for e in entries for s in e.signatures if where is None or where in s.where)


def contexts() -> dict[str, str]:
    """The named context patterns signatures may require (``contexts`` in findings.yaml)."""
    return dict(_read("findings.yaml").get("contexts") or {})


def join_patterns(patterns: list[str] | tuple[str, ...]) -> str:
    """One regex matching wherever any of ``patterns`` does. A single pattern is returned as it is; several are each
    put in a group, a leading global flag such as ``(?i)`` becoming the group's own (``(?i:...)``)."""
    if len(patterns) == 1:
        return patterns[0]
    parts = []
    for p in patterns:
        m = re.match(r"\(\?([aiLmsux]+)\)", p)
        parts.append(f"(?{m.group(1)}:{p[m.end():]})" if m else f"(?:{p})")
    return "|".join(parts)


@cache
def signature_pattern(code: str, where: str, id: str | None = None) -> str:
    """One regex for the signatures of ``code`` read in ``where`` (only those named ``id`` when given); a pattern that
    matches nothing when there are none."""
    pats = [s.pattern for s in signatures(code, where) if id is None or s.id == id]
    return join_patterns(pats) if pats else r"(?!x)x"


@cache
def noise() -> tuple[NoisePattern, ...]:
    """Known-harmless log lines."""
    return tuple(NoisePattern(id=e["id"], pattern=re.compile(e["pattern"]), why=" ".join(e["why"].split()))
                 for e in _read("noise.yaml"))


def catalog_frame(codes: list[str] | None = None, family: str | None = None):
    """The catalog as a DataFrame (code, family, severity, title, remediation, docs), optionally filtered."""
    import pandas as pd

    rows = [e for e in catalog().values() if (codes is None or e.code in codes)
            and (family is None or e.family == family)]
    return pd.DataFrame([e.__dict__ for e in rows], columns=["code", "family", "severity", "title", "remediation",
                                                             "docs"]).astype({"family": "category",
                                                                              "severity": "category"})


def to_markdown() -> str:
    """The catalog page (docs/findings.md)."""
    lines = ["# Finding catalog", "",
             "Generated from `kit/catalog/findings.yaml` by `python -m kit.docs`; do not edit by hand.",
             "Codes are stable: they are never renamed or reused.", ""]
    for fam in FAMILIES:
        entries = [e for e in catalog().values() if e.family == fam]
        if not entries:
            continue
        lines += [f"## {fam}", ""]
        for e in entries:
            lines += [f"### `{e.code}`", "", f"**{e.title}** — default severity `{e.severity}`.", "",
                      e.remediation, "", f"Docs: <{e.docs}>", ""]
            if e.signatures:
                lines += ["Signatures (read in the logs and in pasted text; `in` says where):", ""]
                for s in e.signatures:
                    need = f" (with context `{s.context_name}`)" if s.context_name else ""
                    lines += [f"- `{s.id}` in {', '.join(s.where)}{need}: `{s.pattern}` — {s.source}"]
                lines += [""]
    lines += ["## Known-harmless noise", "", "Lines matching these patterns never raise a finding above `info`.", ""]
    for n in noise():
        lines += [f"- `{n.id}` (`{n.pattern.pattern}`): {n.why}"]
    return "\n".join(lines) + "\n"
