"""What a bundle tells about itself: issues, inventory, missing artifacts, time reference, summary and
notebook display (a mixin of :class:`kit.bundle.Bundle`)."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from .. import parse as _parse
from .. import redact as _redact
from ..errors import UnsafeArchiveError
from ..parse.base import ISSUES, issues_frame
from ..textio import decode
from ._files import (
    _ALTERNATIVES,
    _NOT_FOUND,
    _USABLE,
    INVENTORY,
    MISSING,
    _entry_note,
    _where,
)
from .layout import EXPECTED, map_path
from .manifest import entry_kind
from .sources import TooLarge


class _Views:
    """Reports on the bundle as a whole."""

    @property
    def issues(self) -> pd.DataFrame:
        """The ``parse_issues`` frame: every parser's issues plus the bundle's own (parses everything)."""
        self.parse_all()
        for name in self._schemas():  # combine() failures are only known once frames are built
            if name != ISSUES.name:
                self.frame(name)
        iss = issues_frame(self._bundle_issues)
        return _redact.redact_frame(iss) if self.redacted else iss

    @property
    def inventory(self) -> pd.DataFrame:
        """One row per file (see :data:`INVENTORY`); parses everything."""
        self.parse_all()
        recs = []
        for f in self._files:
            if f.sha256 is None and f.status not in ("skipped", "failed"):
                try:
                    f.sha256, _ = self._src.sha256(f.path, self._max_file)
                except (OSError, UnsafeArchiveError, TooLarge) as exc:
                    f.notes.append(f"could not be hashed: {exc}")
            recs.append({"path": f.path, "layout_path": f.layout_path, "mapped_by": f.mapped_by, "artifact": f.artifact,
                         "recognised_by": f.recognised_by, "status": f.status, "size": f.size,
                         "sha256": f.sha256, "sha256_ok": f.sha256_ok, "rows": f.rows, "issues": f.issues,
                         "encoding": f.encoding, "newline": f.newline, "note": "; ".join(f.notes) or None})
        return INVENTORY.from_records(recs)

    @property
    def missing(self) -> pd.DataFrame:
        """Expected artifacts that are absent or unusable, with why each matters (see :data:`MISSING`)."""
        entries = [a for a in (self.manifest or {}).get("artifacts", [])
                   if a.get("status") in ("missing", "error", "skipped")]
        by_kind = {k: a for a in entries if (k := entry_kind(a)) is not None}
        recs = []
        for kind, where, why in EXPECTED:
            if kind == "http_probe":
                present = any(f.artifact == kind and f.status in _USABLE and "imds_instance" in f.source.lower()
                              for f in self._files)
            else:
                present = self.has(kind) or any(self.has(a) for a in _ALTERNATIVES.get(kind, ()))
            if present:
                continue
            a = by_kind.get(kind)
            if a is not None and kind != "http_probe":
                note = _entry_note(a)
                entries.remove(a)
            else:
                unusable = [f for f in self._files if f.artifact == kind]
                note = "; ".join(f"{f.path} is {f.status}" + (f" ({f.notes[-1]})" if f.notes else "")
                                 for f in unusable) or None
                if note is None:
                    note = self._not_found().get(kind) or self._collection.notes_by_kind.get(kind)
            recs.append({"artifact": kind, "expected_path": where, "why_it_matters": why, "note": note})
        why_by_kind = {k: w for k, _, w in EXPECTED}
        for a in entries:
            kind = entry_kind(a)
            recs.append({"artifact": kind or str(a["path"]), "expected_path": str(a["path"]),
                         "why_it_matters": why_by_kind.get(kind or "", "listed by the collector, not collected"),
                         "note": _entry_note(a)})
        return MISSING.from_records(recs)

    def _not_found(self) -> dict[str, str]:
        """Artifact kind -> what a collector's own list says it did not find on the disk (the repair script's
        ``failedLogFiles.log``: ``NOT FOUND: F:/WindowsAzure/Logs/WaAppAgent.log``, a manifest path with the drive
        of the attached disk)."""
        if "_nf" in self.__dict__:
            return self.__dict__["_nf"]
        out: dict[str, str] = {}
        for f in self._files:
            if f.status != "meta" or not f.rel.lower().endswith("failedlogfiles.log"):
                continue
            try:
                text = decode(self._src.read(f.path, self._max_file)).text
            except (OSError, UnsafeArchiveError, TooLarge):
                continue
            for line in text.splitlines():
                m = _NOT_FOUND.match(line.strip())
                lp = map_path(m.group(1)).layout_path if m else None
                kind = _parse.match_path(lp) if lp else None
                if kind is not None and kind not in out:
                    out[kind] = f"not on the disk: {f.rel} says {line.strip()!r}"
        self.__dict__["_nf"] = out
        return out

    @property
    def time_reference(self) -> pd.Timestamp | None:
        """The time the bundle's state is judged at: ``collected_at`` (the kit manifest) when known, else an
        assumption: the newest agent-log time stamp, else the time a collector says it copied the files from a copy
        of the disk (:attr:`copied_at`), else the newest file time a zip records. None when nothing gives one.
        :attr:`time_reference_basis` says which, and that an assumed one is an assumption. No time stamp is
        shifted: a zip's times carry no zone and are read as UTC."""
        if self.collected_at is not None:
            return self.collected_at
        return self._assumed_time()[0]

    @property
    def time_reference_basis(self) -> str:
        """Where :attr:`time_reference` comes from: ``collected_at from manifest.json``, ``newest agent-log record
        (an assumption: ...)``, ``the repair script's folder ... (an assumption: ...)``, ``newest file time in the
        zip (...; an assumption: ...)`` or ``none``."""
        if self.collected_at is not None:
            return "collected_at from manifest.json"
        ref, basis = self._assumed_time()
        return basis if ref is not None else "none"

    def _assumed_time(self) -> tuple[pd.Timestamp | None, str]:
        if "_assumed" in self.__dict__:
            return self.__dict__["_assumed"]
        out: tuple[pd.Timestamp | None, str] = (None, "none")
        copied = f"; {self.layout.copied_basis}" if self.copied_at is not None else ""
        log = self.frame("agent_log") if "agent_log" in self._schemas() else pd.DataFrame()
        if not log.empty and "ts" in log and not log["ts"].isna().all():
            out = (log["ts"].max(), f"newest agent-log record (an assumption: no collection time known{copied})")
        elif self.copied_at is not None:
            out = (self.copied_at, f"when the files were copied (an assumption: no collection time and no "
                                   f"agent-log record known{copied})")
        elif self._mtimes:
            newest = max(self._mtimes.items(), key=lambda kv: kv[1])
            try:
                ts = pd.Timestamp(*newest[1], tz="UTC")
            except (ValueError, TypeError):
                ts = None
            if ts is not None:
                out = (ts, f"newest file time in the zip ({newest[0]}; an assumption: zip times carry no zone, read "
                           "as UTC; no collection time and no agent-log record known)")
        self.__dict__["_assumed"] = out
        return out

    @property
    def vm_name(self) -> str:
        """The VM's computer name from the manifest, else the bundle's file or folder name."""
        vm = (self.manifest or {}).get("vm") or {}
        name = vm.get("computer_name") or vm.get("host") if isinstance(vm, dict) else None
        return str(name or self.layout.vm_name or self.path.stem)

    def _overview(self) -> dict[str, Any]:
        inv = self.inventory
        counts = inv["status"].astype(str).value_counts()
        recognised = int(inv["artifact"].notna().sum())
        iss = self.issues
        when = (self.collected_at.strftime("%Y-%m-%d %H:%M:%S UTC") if self.collected_at is not None
                else "unknown (no manifest)")
        if self.collected_at is None and self.copied_at is not None:
            when = (f"unknown; files copied {self.copied_at.strftime('%Y-%m-%d %H:%M:%S UTC')} "
                    f"({self.layout.copied_basis})")
        ref = self.time_reference
        return {
            "when": when,
            "ref": None if self.collected_at is not None or ref is None
            else f"{ref.strftime('%Y-%m-%d %H:%M:%S UTC')} ({self.time_reference_basis})",
            "files": len(inv), "recognised": recognised,
            "unrecognised": int(counts.get("unrecognised", 0)), "failed": int(counts.get("failed", 0)),
            "skipped": int(counts.get("skipped", 0)), "empty": int(counts.get("empty", 0)),
            "frames": {k: len(v) for k, v in self.frames().items()},
            "missing": self.missing,
            "issue_kinds": iss["kind"].astype(str).value_counts(),
            "issues": iss,
            "unrec_paths": inv.loc[inv["status"] == "unrecognised", "path"].tolist(),
        }

    def incomplete(self) -> list[str]:
        """One sentence per way the bundle is not all there: a collection that did not finish or whose steps failed
        (the kit manifest), a zip cut short (read from its local headers). Empty for a whole bundle. What is missing
        is judged "cannot tell" by the rules."""
        out = []
        if self.collection_summary:
            out.append(f"Incomplete: {self.collection_summary}; checks that need the missing files say they cannot "
                       "tell.")
        issues = self.issues
        if ((issues["kind"] == "zip-damaged") & (issues["source"] == self.path.name)).any():
            out.append("Incomplete: the zip was cut short (no central directory); the files recovered from it are "
                       "read, the rest is missing.")
        return out

    def summary(self, top: int = 5) -> str:
        """A readable multi-line overview: kind, VM, collection time, files, frames, missing artifacts, top issues."""
        o = self._overview()
        lines = [f"Bundle {self.path} ({self.kind})", f"VM: {self.vm_name}", f"Collected: {o['when']}"]
        if o["ref"]:
            lines.append(f"Time reference: {o['ref']}")
        lines.append(f"Files: {o['files']} - {o['recognised']} recognised, {o['unrecognised']} unrecognised, "
                     f"{o['failed']} failed, {o['skipped']} skipped, {o['empty']} empty")
        lines.append("Frames: " + (", ".join(f"{k} ({n})" for k, n in o["frames"].items()) or "none"))
        miss = o["missing"]
        lines.append("Missing: " + (", ".join(miss["artifact"]) if not miss.empty else "nothing expected is missing"))
        iss = o["issues"]
        if iss.empty:
            lines.append("Issues: none")
        else:
            lines.append(f"Issues: {len(iss)} - " + ", ".join(f"{v} {k}" for k, v in o["issue_kinds"].items()))
            for r in iss.head(top).itertuples():
                lines.append(f"  {_where(r.source, r.line)}: [{r.kind}] {r.message}")
            if len(iss) > top:
                lines.append(f"  ... {len(iss) - top} more in .issues")
        if o["unrec_paths"]:
            lines.append("Unrecognised: " + ", ".join(o["unrec_paths"][:10])
                         + (" ..." if len(o["unrec_paths"]) > 10 else ""))
        return "\n".join(lines)

    def __repr__(self) -> str:
        when = self.collected_at.isoformat() if self.collected_at is not None else "unknown"
        return (f"<Bundle {self.path.name!r} kind={self.kind} vm={self.vm_name!r} files={len(self._files)} "
                f"collected_at={when}>")

    def _repr_html_(self) -> str:
        o = self._overview()
        e = html.escape
        rows = [("Kind", self.kind), ("VM", self.vm_name), ("Collected", o["when"])]
        if o["ref"]:
            rows.append(("Time reference", o["ref"]))
        rows.append(("Files", f"{o['files']}: {o['recognised']} recognised, {o['unrecognised']} unrecognised, "
                              f"{o['failed']} failed, {o['skipped']} skipped, {o['empty']} empty"))
        rows.append(("Frames", ", ".join(f"{k} ({n})" for k, n in o["frames"].items()) or "none"))
        miss = o["missing"]
        rows.append(("Missing", ", ".join(miss["artifact"]) if not miss.empty else "none"))
        rows.append(("Issues", ", ".join(f"{v} {k}" for k, v in o["issue_kinds"].items()) or "none"))
        out = [f"<div class='kit-bundle'><b>Bundle</b> <code>{e(str(self.path))}</code>",
               "<table>" + "".join(f"<tr><th style='text-align:left'>{e(k)}</th><td style='text-align:left'>"
                                   f"{e(str(v))}</td></tr>" for k, v in rows) + "</table>"]
        iss = o["issues"]
        if not iss.empty:
            out.append("<ul>" + "".join(f"<li><code>{e(_where(r.source, r.line))}</code> [{e(str(r.kind))}] "
                                        f"{e(str(r.message))}</li>" for r in iss.head(5).itertuples()) + "</ul>")
        out.append("</div>")
        return "".join(out)
