"""The kit's ``manifest.json`` (docs/bundle-format.md): reading it leniently and what its entries say.

A manifest that is not JSON, or not ours, does not stop a bundle from opening: the bundle is then opened like
one without a manifest and a ``bad-manifest`` issue says why.

The collector writes the manifest first with ``"status": "partial"`` and rewrites it after every step, so a bundle
whose collection was stopped or hung says so: :func:`collection_state` turns ``status``, ``partial_reason``,
``steps`` and ``pending`` into located issues and notes. :func:`read_failure` and :func:`size_or_hash_mismatch`
word what a damaged or cut-short file costs.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .. import parse as _parse
from ..parse.base import ParseIssue
from ..textio import Decoded, decode

FORMAT = "guestagent-kit-bundle"

#: ``artifacts[].origin`` of the commands the collector runs -> artifact kind (whitespace and case ignored).
ORIGIN_KINDS: dict[str, str] = {
    "route print": "route_print",
    "ipconfig /all": "ipconfig",
    "netsh winhttp show proxy": "winhttp_proxy",
}

#: ``artifacts[].status`` values (docs/bundle-format.md).
STATUSES = ("collected", "truncated", "missing", "skipped", "error")

#: ``status`` of the whole collection; a manifest without one (collectors before issue 18) is read as complete.
COLLECTION_STATUSES = ("complete", "partial")

#: ``steps[].status`` values.
STEP_STATUSES = ("ok", "failed", "timeout", "skipped")

#: Collector step -> the bundle paths it writes (Collect-GuestAgentKit.ps1 ``$Plan``); files steps write many paths
#: and are matched by prefix.
STEP_PATHS: dict[str, tuple[str, ...]] = {
    "route print": ("commands/route_print.txt",),
    "ipconfig /all": ("commands/ipconfig_all.txt",),
    "netsh winhttp show proxy": ("commands/netsh_winhttp_proxy.txt",),
    "Get-NetRoute": ("commands/get_netroute.json",),
    "Get-NetIPAddress": ("commands/get_netipaddress.json",),
    "services": ("commands/services.json",),
    "firewall rules": ("commands/firewall_rules.json",),
    "probes: tcp": ("probes/tcp.json",),
    "probes: imds instance": ("probes/imds_instance.json",),
    "probes: imds versions": ("probes/imds_versions.json",),
    "probes: imds attested": ("probes/imds_attested.json",),
    "probes: wireserver versions": ("probes/wireserver_versions.json", "probes/wireserver_versions.xml"),
    "files: agent logs": ("C/WindowsAzure/Logs/WaAppAgent.log", "C/WindowsAzure/Logs/TransparentInstaller.log",
                          "C/WindowsAzure/Logs/AggregateStatus/aggregatestatus.json"),
    "files: extension state": ("C/Packages/Plugins/",),
    "files: extension logs": ("C/WindowsAzure/Logs/Plugins/",),
    "files: rotated agent logs": ("C/WindowsAzure/Logs/WaAppAgent.1.log",),
}


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


@dataclass
class CollectionState:
    """What the manifest says about the collection itself (see :func:`collection_state`)."""

    partial: bool = False
    #: one line for the inventory note of manifest.json; None for a complete collection whose steps all went well
    summary: str | None = None
    issues: list[ParseIssue] = field(default_factory=list)
    #: artifact kind -> why the collector did not deliver it (for ``Bundle.missing``)
    notes_by_kind: dict[str, str] = field(default_factory=dict)


def _step_words(step: dict[str, Any]) -> str:
    status = step.get("status")
    took = step.get("duration_ms")
    after = f" after {float(took) / 1000:.1f} s" if isinstance(took, int | float) and not isinstance(took, bool) \
        else ""
    words = {"timeout": f"timed out{after}", "failed": f"failed{after}", "skipped": "was skipped"}.get(
        str(status), f"ended with status {status!r}")
    err = step.get("error")
    return words + (f": {err}" if isinstance(err, str) and err.strip() else "")


def _kinds_of_step(name: str) -> list[str]:
    return [k for p in STEP_PATHS.get(name, ()) if (k := _parse.match_path(p)) is not None]


def collection_state(doc: dict[str, Any] | None, name: str, *, present: set[str] | None = None) -> CollectionState:
    """Issues and notes from a kit manifest's ``status``, ``partial_reason``, ``steps`` and ``pending``.

    ``present`` (bundle-relative paths, lower case) lets an entry listed as collected but absent from the bundle
    explain its artifact in ``Bundle.missing`` (the ``manifest-file-missing`` issue is the loader's). A ``partial``
    collection gives one ``partial-bundle`` issue naming what did not finish; every step that did not
    end ``ok`` gives a ``collection-step`` issue located at ``steps[i]`` of the manifest. A manifest that predates
    these fields gives nothing. Unfamiliar values are ``bad-manifest`` issues, never a guess.
    """
    state = CollectionState()
    if not doc:
        return state
    status = doc.get("status")
    if status is not None and status not in COLLECTION_STATUSES:
        state.issues.append(ParseIssue(name, None, "bad-manifest", f"expected \"status\" to be one of "
                                       f"{', '.join(COLLECTION_STATUSES)}, found {status!r}; the collection is not "
                                       "known to be complete", parser="bundle"))
        state.partial = True
    steps = doc.get("steps", [])
    if not isinstance(steps, list):
        state.issues.append(ParseIssue(name, None, "bad-manifest", f"expected \"steps\" to be a list, found "
                                       f"{type(steps).__name__}; the collector's step outcomes are unknown",
                                       parser="bundle"))
        steps = []
    pending = doc.get("pending", [])
    if not isinstance(pending, list):
        state.issues.append(ParseIssue(name, None, "bad-manifest", f"expected \"pending\" to be a list, found "
                                       f"{type(pending).__name__}", parser="bundle"))
        pending = []
    pending = [str(p) for p in pending]
    bad_steps = []
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or not isinstance(step.get("step"), str):
            state.issues.append(ParseIssue(name, None, "bad-manifest", f"expected steps[{i}] to be an object with a "
                                           f"\"step\" name, found {step!r:.80}", text=f"steps[{i}]", parser="bundle"))
            continue
        st = step.get("status")
        if st == "ok":
            continue
        if st not in STEP_STATUSES:
            state.issues.append(ParseIssue(name, None, "bad-manifest", f"expected steps[{i}].status to be one of "
                                           f"{', '.join(STEP_STATUSES)}, found {st!r}", text=f"steps[{i}]",
                                           parser="bundle"))
        words = _step_words(step)
        bad_steps.append(f"{step['step']} {words}")
        state.issues.append(ParseIssue(name, None, "collection-step", f"expected collector step {step['step']!r} "
                                       f"to end ok, found it {words}; what it collects may be missing or incomplete",
                                       text=f"steps[{i}]", parser="bundle"))
        for kind in _kinds_of_step(step["step"]):
            state.notes_by_kind.setdefault(kind, f"collector step {step['step']!r} {words}")
    if present is not None:
        for a in doc.get("artifacts", []):
            path = str(a.get("path", "")).replace("\\", "/")
            if a.get("status") in ("collected", "truncated") and path.lower() not in present:
                kind = entry_kind(a)
                if kind is not None:
                    state.notes_by_kind.setdefault(kind, f"manifest.json lists {path} as {a.get('status')}, but the "
                                                         "bundle lacks it (lost after collection)")
    for p in pending:
        for kind in _kinds_of_step(p):
            state.notes_by_kind.setdefault(kind, f"collector step {p!r} never ran (the collection stopped before it)")
    if status == "partial":
        state.partial = True
        reason = doc.get("partial_reason")
        parts = [f"{reason}" if isinstance(reason, str) and reason.strip() else "no reason given"]
        if bad_steps:
            parts.append("steps that did not end ok: " + "; ".join(bad_steps))
        if pending:
            parts.append("steps never run: " + ", ".join(pending))
        state.issues.insert(0, ParseIssue(name, None, "partial-bundle", "expected a complete collection "
                                          "(\"status\": \"complete\"), found a partial one: " + ". ".join(parts)
                                          + "; the files that are here are usable, anything else may be missing",
                                          parser="bundle"))
    if state.partial or bad_steps:
        head = "partial collection" if state.partial else "collection complete"
        detail = [f"{len(bad_steps)} step(s) not ok"] if bad_steps else []
        if pending:
            detail.append(f"{len(pending)} step(s) never ran: {', '.join(pending)}")
        state.summary = head + (": " + "; ".join(detail) if detail else "")
    return state


def size_or_hash_mismatch(entry: dict[str, Any], sha: str, size: int) -> tuple[str, str]:
    """(issue kind, message) for a file whose SHA-256 differs from its manifest entry; the message says when the
    file is shorter than the manifest's ``size`` (cut short after collection)."""
    head = f"expected SHA-256 {entry.get('sha256')}"
    want = entry.get("size")
    if isinstance(want, int) and not isinstance(want, bool) and want != size:
        what = "cut short after collection; only what is there is read" if size < want else \
            "changed after collection"
        return "hash-mismatch", f"{head} and {want} bytes (manifest.json), found {size} bytes: the file was {what}"
    return "hash-mismatch", f"{head} (manifest.json), found {sha}: the file changed after collection"


def read_failure(source: str, exc: BaseException, declared_size: int | None) -> tuple[str, str]:
    """(issue kind, message) for a file that could not be read (kind ``unreadable-file``); a damaged zip entry
    (wrong CRC-32, cut short, bad compressed data) is worded as such, with the size the zip's directory declares."""
    inner = getattr(exc, "inner", None)
    if isinstance(inner, zipfile.BadZipFile | zlib.error | EOFError):
        size = f"{declared_size} bytes matching " if declared_size is not None else ""
        return "unreadable-file", (f"expected the zip entry to decompress to {size}the CRC-32 the zip's directory "
                                   f"records, found it corrupt ({inner}): the entry was cut short or changed; only "
                                   "this file is lost")
    return "unreadable-file", f"expected a readable file, found an error: {exc}"


#: ``artifacts[].code_page`` (the console code page the collector recorded for a command's output) -> Python codec.
CODE_PAGES: dict[int, str] = {65001: "utf-8", 437: "cp437", 850: "cp850", 852: "cp852", 866: "cp866", 932: "cp932",
                              936: "cp936", 949: "cp949", 950: "cp950", 1250: "cp1250", 1251: "cp1251",
                              1252: "cp1252"}


def decode_recorded(data: bytes, entry: dict[str, Any] | None) -> Decoded | None:
    """Command output decoded with the code page its manifest entry records, when that reading is sound.

    None (the caller falls back to :func:`kit.textio.decode`'s rule) when there is no known ``code_page``, the bytes
    are ASCII (every page reads them alike), carry a BOM or NULs (UTF-16), do not decode strictly in the recorded
    page, or are well-formed UTF-8 while a legacy page is recorded (a record can be wrong; UTF-8 is not an accident).
    """
    cp = entry.get("code_page") if isinstance(entry, dict) else None
    if not isinstance(cp, int) or isinstance(cp, bool) or cp not in CODE_PAGES:
        return None
    if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:4096] or data.isascii():
        return None
    codec = CODE_PAGES[cp]
    if codec != "utf-8":
        try:
            data.decode("utf-8")
            return None
        except UnicodeDecodeError:
            pass
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        return None
    return Decoded(text=text, encoding=codec,
                   how=f"{codec} (code page {cp} recorded by the collector in manifest.json)")
