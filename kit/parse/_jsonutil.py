"""Lenient JSON reading for files Windows and PowerShell write: lone object vs array, cut-off documents,
case-varying keys. Never raises: damage becomes a ParseIssue with line and column."""

from __future__ import annotations

import json
import re
from typing import Any

from .base import ParseIssue

_PLUGIN_PATH = re.compile(r"c/packages/plugins/([^/]+)/([^/]+)/", re.IGNORECASE)
_SEQ = re.compile(r"(?:^|/)(\d+)\.(?:status|settings)$", re.IGNORECASE)


def load(text: str, *, source: str, parser: str) -> tuple[Any, list[ParseIssue]]:
    """Parse ``text`` as JSON. On failure, recover the complete leading values of a top-level array (the part
    written before the cut) and report where it broke. Returns (value or None, issues)."""
    body = text.lstrip("\ufeff")
    if not body.strip():
        return None, [ParseIssue(source, None, "empty", "file is empty or blank", parser=parser)]
    try:
        return json.loads(body), []
    except json.JSONDecodeError as exc:
        issue = ParseIssue(source, exc.lineno, "bad-json",
                           f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg} (the file looks "
                           "half-written or cut)", parser=parser)
    recovered = _recover_array(body.strip())
    return recovered, [issue]


def _recover_array(body: str) -> list | None:
    if not body.startswith("["):
        return None
    dec = json.JSONDecoder()
    out, i = [], 1
    while i < len(body):
        while i < len(body) and body[i] in " \t\r\n,":
            i += 1
        if i >= len(body) or body[i] == "]":
            break
        try:
            val, end = dec.raw_decode(body, i)
        except json.JSONDecodeError:
            break
        out.append(val)
        i = end
    return out or None


def as_list(value: Any) -> list:
    """PowerShell's ConvertTo-Json writes a lone object for a one-element list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def get(d: Any, *path: str, default: Any = None) -> Any:
    """Nested lookup with case-insensitive keys (``handlerName`` vs ``handlername``)."""
    cur = d
    for key in path:
        if not isinstance(cur, dict):
            return default
        if key in cur:
            cur = cur[key]
            continue
        low = key.lower()
        match = next((k for k in cur if isinstance(k, str) and k.lower() == low), None)
        if match is None:
            return default
        cur = cur[match]
    return cur


def plugin_from_path(source: str) -> tuple[str | None, str | None, int | None]:
    """(extension, version, sequence number) from a C/Packages/Plugins/<ext>/<ver>/.../<n>.status path."""
    p = source.replace("\\", "/")
    m = _PLUGIN_PATH.search(p)
    s = _SEQ.search(p)
    return (m.group(1) if m else None, m.group(2) if m else None, int(s.group(1)) if s else None)


def to_int(v: Any) -> int | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return int(str(v).strip())
    except ValueError:
        try:
            return int(float(str(v)))
        except ValueError:
            return None


def to_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    return None


def looks_like(head: str, *keys: str) -> bool:
    """Cheap content sniff: JSON-ish text that mentions all ``keys`` as quoted names."""
    h = head.lstrip("\ufeff \t\r\n")
    if not h.startswith(("{", "[")):
        return False
    low = h.lower()
    return all(f'"{k.lower()}"' in low for k in keys)
