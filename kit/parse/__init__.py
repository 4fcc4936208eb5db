"""Parsers, one module per artifact format, and the explicit registry of them.

``PARSERS`` maps an artifact kind to the module that parses it. Modules are imported on first use so that
``import kit`` and the command line stay fast. See :mod:`kit.parse.base` for the module contract.
"""

from __future__ import annotations

import fnmatch
import importlib
from functools import cache
from types import ModuleType

from ..errors import UnknownFormat
from ..schema import FrameSchema
from .base import ISSUES, SNIFF_BYTES, ParseIssue, ParseResult

PARSERS: dict[str, str] = {
    # agent and extension logs
    "agent_log": "kit.parse.agent_log",
    "handler_log": "kit.parse.handler_log",
    # extension state files
    "ext_status": "kit.parse.ext_status",
    "ext_settings": "kit.parse.ext_settings",
    "handler_manifest": "kit.parse.handler_manifest",
    "handler_env": "kit.parse.handler_env",
    "aggregate_status": "kit.parse.aggregate_status",
    # network configuration and probes
    "route_print": "kit.parse.route_print",
    "get_netroute": "kit.parse.get_netroute",
    "ipconfig": "kit.parse.ipconfig",
    "get_netipaddress": "kit.parse.get_netipaddress",
    "winhttp_proxy": "kit.parse.winhttp_proxy",
    "test_netconnection": "kit.parse.test_netconnection",
    "tcp_probes": "kit.parse.tcp_probes",
    "http_probe": "kit.parse.http_probe",
    "wireserver_versions": "kit.parse.wireserver_versions",
    "services": "kit.parse.services",
    "services_text": "kit.parse.services_text",
    "sc_query": "kit.parse.sc_query",
    "firewall_rules": "kit.parse.firewall_rules",
    "netsh_firewall": "kit.parse.netsh_firewall",
    # Windows event logs
    "evtx": "kit.parse.evtx",
    "event_xml": "kit.parse.event_xml",
    "event_text": "kit.parse.event_text",
    # the VM's Resource Manager model and goal state (pasted or exported; branch codes)
    "vm_model": "kit.parse.vm_model",
    "extensions_config": "kit.parse.extensions_config",
    "proxy_agent_status": "kit.parse.proxy_agent_status",
    # pasted console output / error text: content only, tried after every other sniffer
    "paste": "kit.parse.paste",
}

#: Order in which content sniffers are tried (most specific first); the generic handler-log/plain-text
#: fallback comes next to last, then pasted text that a finding catalog signature recognises.
SNIFF_ORDER: tuple[str, ...] = (
    "route_print", "ipconfig", "winhttp_proxy", "test_netconnection", "wireserver_versions",
    "vm_model", "extensions_config", "proxy_agent_status",  # branch codes
    "aggregate_status", "ext_status", "ext_settings", "handler_manifest", "handler_env",
    "get_netroute", "get_netipaddress", "tcp_probes", "http_probe", "services", "sc_query", "services_text",
    "netsh_firewall", "firewall_rules", "event_xml", "event_text", "agent_log", "handler_log",
    "paste",
)


@cache
def get_parser(name: str) -> ModuleType:
    """The parser module for artifact kind ``name``; an unknown name lists the valid ones."""
    try:
        path = PARSERS[name]
    except KeyError:
        raise UnknownFormat(f"no parser named {name!r}; valid names: {', '.join(sorted(PARSERS))}") from None
    return importlib.import_module(path)


def frame_schemas() -> dict[str, FrameSchema]:
    """Every frame any parser can fill, by name (plus ``parse_issues``)."""
    out: dict[str, FrameSchema] = {ISSUES.name: ISSUES}
    for name in PARSERS:
        for fname, schema in get_parser(name).FRAMES.items():
            if fname in out and out[fname] is not schema:
                raise RuntimeError(f"frame {fname!r} is declared with two different schemas")
            out[fname] = schema
    return out


def match_path(relpath: str) -> str | None:
    """The artifact kind whose ``PATTERNS`` match a bundle-relative path, or None."""
    low = relpath.replace("\\", "/").lower()
    for name in PARSERS:
        for pat in get_parser(name).PATTERNS:
            head, tail = _literal_ends(pat)
            if low.startswith(head) and low.endswith(tail) and fnmatch.fnmatchcase(low, pat.lower()):
                return name
    return None


@cache
def _literal_ends(pattern: str) -> tuple[str, str]:
    """The lower-cased text before a glob pattern's first and after its last wildcard character: a path it matches
    starts and ends with them. Checked first, so that only a pattern that may match is compiled to a regex
    (fnmatch compiles each one; most never come close to a given bundle's files)."""
    low = pattern.lower()
    magic = [i for i, c in enumerate(low) if c in "*?[]"]
    return (low[:magic[0]], low[magic[-1] + 1:]) if magic else (low, low)


def sniff(head: str) -> str | None:
    """The artifact kind whose content sniffer accepts ``head`` (first 64 KiB of text), or None."""
    for name in SNIFF_ORDER:
        if get_parser(name).sniff(head):
            return name
    return None


def sniff_bytes(head: bytes) -> str | None:
    """The binary artifact kind (a parser with ``BINARY = True``) whose ``sniff_bytes`` accepts ``head``, or None."""
    for name in PARSERS:
        mod = get_parser(name)
        if getattr(mod, "BINARY", False) and mod.sniff_bytes(head):
            return name
    return None


def parse_bytes(data: bytes, *, source: str, format: str | None = None) -> ParseResult:
    """Parse a file's bytes: a binary format (``.evtx``) as such, anything else decoded (:mod:`kit.textio`)."""
    kind = format or sniff_bytes(data[:SNIFF_BYTES])
    if kind is not None and getattr(get_parser(kind), "BINARY", False):
        return get_parser(kind).parse_bytes(data, source=source)
    from ..textio import decode

    return parse_text(decode(data).text, source=source, format=kind)


def parse_text(text: str, *, source: str, format: str | None = None) -> ParseResult:
    """Parse ``text`` as ``format``, or as whatever the content sniffers recognise."""
    kind = format or sniff(text[:SNIFF_BYTES])
    if kind is None:
        raise UnknownFormat("content not recognised by any parser", source=source)
    return get_parser(kind).parse(text, source=source)


__all__ = ["PARSERS", "ParseIssue", "ParseResult", "frame_schemas", "get_parser", "match_path",
           "parse_bytes", "parse_text", "sniff", "sniff_bytes"]
