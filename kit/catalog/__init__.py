"""The finding catalog and the known-noise list, loaded from the YAML files beside this module."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

SEVERITIES: tuple[str, ...] = ("info", "warning", "error", "critical")
FAMILIES: tuple[str, ...] = ("network", "routes", "hci", "extensions", "keyvault", "identity", "agent", "meta")


@dataclass(frozen=True)
class CatalogEntry:
    code: str
    family: str
    severity: str
    title: str
    remediation: str
    docs: str


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
SOURCES = ("findings.yaml", "noise.yaml")


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
        out[name] = {"sha256": _sha(text), "data": parse_yaml(text)}
    return json.dumps(out, indent=1, ensure_ascii=False) + "\n"


def _read(name: str) -> object:
    text = _text(name)
    try:
        entry = json.loads(_text(COMPILED)).get(name)
    except (OSError, ValueError):
        entry = None
    if isinstance(entry, dict) and entry.get("sha256") == _sha(text):
        return entry["data"]
    return parse_yaml(text)


@cache
def catalog() -> dict[str, CatalogEntry]:
    """Every finding code, in catalog order."""
    data = _read("findings.yaml")
    out: dict[str, CatalogEntry] = {}
    for code, e in data["codes"].items():
        if not re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+", code):
            raise ValueError(f"findings.yaml: code {code!r} is not UPPER_SNAKE")
        if e["severity"] not in SEVERITIES:
            raise ValueError(f"findings.yaml: {code}: severity {e['severity']!r} not in {SEVERITIES}")
        if e["family"] not in FAMILIES:
            raise ValueError(f"findings.yaml: {code}: family {e['family']!r} not in {FAMILIES}")
        out[code] = CatalogEntry(code=code, family=e["family"], severity=e["severity"], title=e["title"],
                                 remediation=" ".join(e["remediation"].split()), docs=e["docs"])
    return out


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
    lines += ["## Known-harmless noise", "", "Lines matching these patterns never raise a finding above `info`.", ""]
    for n in noise():
        lines += [f"- `{n.id}` (`{n.pattern.pattern}`): {n.why}"]
    return "\n".join(lines) + "\n"
