"""What every parser returns, and small helpers they share.

A parser module (``kit/parse/<artifact>.py``) is pure: no file I/O. It declares

* ``NAME`` - the artifact kind, the key in :data:`kit.parse.PARSERS`;
* ``DESCRIPTION`` - one sentence for people;
* ``FRAMES`` - ``{frame_name: FrameSchema}`` for every frame it fills;
* ``PATTERNS`` - case-insensitive ``fnmatch`` patterns of bundle-relative paths (kit layout, forward
  slashes) that identify the artifact by its name;
* ``sniff(head: str) -> bool`` - a content check on the first 64 KiB of decoded text, used when a file's
  name says nothing (a customer's ``route.txt``);
* ``parse(text: str, *, source: str) -> ParseResult``.

A binary format (``.evtx``) also declares ``BINARY = True``, ``sniff_bytes(head: bytes) -> bool`` (its magic) and
``parse_bytes(data: bytes, *, source: str) -> ParseResult``; the bundle hands it the file's bytes, undecoded.

Damaged input never raises: it becomes rows flagged ``damaged`` and/or :class:`ParseIssue` entries with
the file and line, and everything else in the file is still returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..schema import LINE, SOURCE, Col, FrameSchema

#: How much of a file the sniffers see.
SNIFF_BYTES = 64 * 1024

ISSUES = FrameSchema(
    "parse_issues",
    "Everything the parsers could not read cleanly: damaged lines, bad timestamps, half-written JSON, "
    "unrecognised files. Nothing is dropped silently: each problem is a row here, and a damaged log line "
    "is also kept as a record flagged `damaged` in its own frame.",
    (
        SOURCE,
        LINE,
        Col("parser", "str", "Parser that reported it (`bundle` for problems found while opening the bundle)."),
        Col("kind", "category", "Short machine-readable kind, e.g. `bad-timestamp`, `truncated-line`, "
            "`bad-json`, `unrecognised-file`, `encoding`, `unexpected-line`.", False),
        Col("message", "str", "What was expected and what was found.", False),
        Col("text", "str", "The offending text (at most 300 characters)."),
    ),
)


@dataclass(frozen=True)
class ParseIssue:
    """A problem found while parsing: where, what kind, what was expected."""

    source: str
    line: int | None
    kind: str
    message: str
    text: str | None = None
    parser: str | None = None

    def __str__(self) -> str:
        where = self.source + (f", line {self.line}" if self.line is not None else "")
        return f"{where}: {self.message}"

    def as_record(self) -> dict:
        text = self.text if self.text is None or len(self.text) <= 300 else self.text[:297] + "..."
        return {"source": self.source, "line": self.line, "parser": self.parser, "kind": self.kind,
                "message": self.message, "text": text}


@dataclass
class ParseResult:
    """Frames (by frame name) and the issues met while building them."""

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    issues: list[ParseIssue] = field(default_factory=list)

    @property
    def df(self) -> pd.DataFrame:
        """The frame, for parsers that fill exactly one."""
        if len(self.frames) != 1:
            raise ValueError(f"parser filled {len(self.frames)} frames: {sorted(self.frames)}; use .frames")
        return next(iter(self.frames.values()))


def issues_frame(issues: list[ParseIssue]) -> pd.DataFrame:
    return ISSUES.from_records([i.as_record() for i in issues])
