"""Generate the reference pages in docs/ from the code: `python -m kit.docs [--check]`.

* docs/frames.md - every frame's columns and dtypes, from the parsers' FrameSchema objects;
* docs/findings.md - the finding catalog, from kit/catalog/findings.yaml;
* kit/catalog/compiled.json - the catalog's YAML files as JSON with their hashes (read instead of the YAML while
  the hashes match: importing PyYAML is a tenth of a diagnosis' time).

With ``--check`` nothing is written and the exit status says whether the pages are current (used by the tests).
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import catalog

FRAMES_INTRO = """# Frames

Generated from the parsers' schemas by `python -m kit.docs`; do not edit by hand.

Every frame is a pandas DataFrame with exactly these columns, in this order, and these dtypes. Timestamps are
timezone-aware UTC. **Zone-less timestamps** (the agent's `[MM/DD/YYYY HH:MM:SS.ff]`, handler logs, DSC logs,
`ipconfig` lease times) are read as UTC *unchanged* - the frame shows the same wall-clock reading as the file -
and flagged `ts_assumed_utc`; the original text stays in `ts_raw` where a frame has it. The kit never shifts a
timestamp by the VM's time zone. Every row carries `source` (the file, bundle-relative) and `line` so a finding
can cite the exact place.

Get a frame with `bundle.<name>` or `bundle.frame("<name>")`; a frame no file filled is empty but typed.
"""


def frames_markdown() -> str:
    from .diagnose.model import EVIDENCE, FINDINGS
    from .parse import PARSERS, frame_schemas, get_parser

    producers: dict[str, list[str]] = {}
    for name in PARSERS:
        for fname in get_parser(name).FRAMES:
            producers.setdefault(fname, []).append(name)
    parts = [FRAMES_INTRO]
    extra = []
    try:
        from .bundle import INVENTORY, MISSING

        extra += [INVENTORY, MISSING]
    except ImportError:  # pragma: no cover
        pass
    for fname, schema in sorted(frame_schemas().items()):
        md = schema.to_markdown()
        if fname in producers:
            md += "\nFilled by parser(s): " + ", ".join(f"`{p}`" for p in producers[fname]) + ".\n"
        parts.append(md)
    from .derive import DERIVED

    for d in DERIVED.values():
        inputs = ", ".join(f"`{i}`" for i in d.inputs)
        parts.append(d.schema.to_markdown() + f"\nDerived from {inputs} by `{d.function}` (`bundle.frame"
                     f"(\"{d.schema.name}\")`, computed once per bundle).\n")
    from .comparison import CHANGES, FINDING_CHANGES

    for schema in [*extra, FINDINGS, EVIDENCE, FINDING_CHANGES, CHANGES]:
        parts.append(schema.to_markdown())
    return "\n".join(parts)


def findings_markdown() -> str:
    from .catalog import to_markdown

    return to_markdown()


PAGES = {"frames.md": frames_markdown, "findings.md": findings_markdown}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    check = "--check" in argv
    root = Path(__file__).resolve().parent.parent / "docs"
    stale = []
    pages = {root / name: fn for name, fn in PAGES.items()}
    pages[Path(catalog.__file__).resolve().parent / catalog.COMPILED] = catalog.compiled_json
    for path, fn in pages.items():
        text = fn()
        name = path.name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        sys.stderr.write(f"stale: {', '.join(stale)}; run `python -m kit.docs`\n")
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
