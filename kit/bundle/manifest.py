"""The kit's ``manifest.json`` (docs/bundle-format.md): reading it leniently and what its entries say.

A manifest that is not JSON, or not ours, does not stop a bundle from opening: the bundle is then opened like
one without a manifest and a ``bad-manifest`` issue says why.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd

from .. import parse as _parse
from ..parse.base import ParseIssue
from ..textio import decode

FORMAT = "guestagent-kit-bundle"

#: ``artifacts[].origin`` of the commands the collector runs -> artifact kind (whitespace and case ignored).
ORIGIN_KINDS: dict[str, str] = {
    "route print": "route_print",
    "ipconfig /all": "ipconfig",
    "netsh winhttp show proxy": "winhttp_proxy",
}

#: ``artifacts[].status`` values (docs/bundle-format.md).
STATUSES = ("collected", "truncated", "missing", "skipped", "error")


def read_manifest(data: bytes, name: str) -> tuple[dict[str, Any] | None, list[ParseIssue]]:
    """Parse a manifest's bytes; returns (manifest or None, issues)."""
    try:
        doc = json.loads(decode(data).text)
    except RecursionError:
        return None, [ParseIssue(name, None, "bad-manifest", "expected manifest.json to be a JSON document nested a "
                                 "few levels, found one nested too deep to read; the bundle is opened without it",
                                 parser="bundle")]
    except ValueError as exc:
        return None, [ParseIssue(name, getattr(exc, "lineno", None), "bad-manifest",
                                 f"expected manifest.json to be a JSON document, found invalid JSON ({exc}); "
                                 "the bundle is opened without it", parser="bundle")]
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        return None, [ParseIssue(name, None, "bad-manifest", f"expected a guestagent-kit manifest "
                                 f"(\"format\": \"{FORMAT}\"), found format {found!r}; the bundle is opened "
                                 "without it", parser="bundle")]
    issues = []
    arts = doc.get("artifacts")
    if not isinstance(arts, list):
        issues.append(ParseIssue(name, None, "bad-manifest", f"expected \"artifacts\" to be a list, found "
                                 f"{type(arts).__name__}; no hashes can be checked", parser="bundle"))
        doc["artifacts"] = []
    else:
        bad = [a for a in arts if not isinstance(a, dict) or not isinstance(a.get("path"), str)]
        if bad:
            issues.append(ParseIssue(name, None, "bad-manifest", f"expected every artifacts[] entry to be an object "
                                     f"with a \"path\", found {len(bad)} that are not; they are ignored",
                                     parser="bundle"))
            doc["artifacts"] = [a for a in arts if a not in bad]
    return doc, issues


def parse_collected_at(value: object) -> pd.Timestamp | None:
    """``collected_at`` as a tz-aware UTC Timestamp; a zone-less value is read as UTC. None when absent or bad."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        ts = pd.Timestamp(value.strip())
    except (ValueError, TypeError):
        return None
    if pd.isna(ts):
        return None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def entry_kind(entry: dict[str, Any]) -> str | None:
    """The artifact kind a manifest entry describes: by its layout path, else by the command in ``origin``."""
    kind = _parse.match_path(entry.get("path", ""))
    if kind is not None:
        return kind
    origin = entry.get("origin")
    if isinstance(origin, str):
        key = re.sub(r"\s+", " ", origin.strip().lower())
        if key in ORIGIN_KINDS:
            return ORIGIN_KINDS[key]
        m = re.match(r"^([a-z]):\\(.*)$", origin.strip(), re.IGNORECASE)  # C:\WindowsAzure\Logs\WaAppAgent.log
        if m:
            return _parse.match_path(f"{m.group(1).upper()}/{m.group(2)}".replace("\\", "/"))
    return None
