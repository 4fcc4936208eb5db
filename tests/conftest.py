"""Shared fixtures: the sample bundles and a helper to copy one for editing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
FORMATS = ROOT.parent / "shared" / "formats" / "windows-agent-formats.md"
SAMPLE_NAMES = sorted(p.parent.name for p in SAMPLES.glob("*/manifest.json"))


@pytest.fixture(params=SAMPLE_NAMES)
def sample(request) -> Path:
    return SAMPLES / request.param


def expected_codes(bundle_dir: Path) -> list[str]:
    return json.loads((bundle_dir / "scenario.json").read_text(encoding="utf-8"))["expected_codes"]


def copy_sample(name: str, dest: Path) -> Path:
    out = dest / name
    shutil.copytree(SAMPLES / name, out)
    return out


@pytest.fixture
def sample_bundles() -> list[Path]:
    """Every sample bundle folder (those holding a manifest.json)."""
    return [SAMPLES / n for n in SAMPLE_NAMES]


def make_bundle(dest: Path, files: dict[str, bytes | str], *, as_zip: bool = False, manifest: bool = False,
                prefix: str = "", collected_at: str = "2024-03-08T10:15:04.512Z") -> Path:
    """Write ``files`` (bundle-relative path -> bytes, or text written as UTF-8 byte for byte) as a folder ``dest``,
    or as the zip ``dest`` with every member under ``prefix``; with ``manifest`` a kit manifest.json listing
    each file with its SHA-256 is added."""
    import hashlib
    import zipfile

    data = {k: v.encode("utf-8") if isinstance(v, str) else v for k, v in files.items()}
    if manifest:
        arts = [{"path": k, "origin": k, "status": "collected", "size": len(v), "original_size": len(v),
                 "sha256": hashlib.sha256(v).hexdigest(), "note": None} for k, v in sorted(data.items())]
        doc = {"format": "guestagent-kit-bundle", "format_version": 1,
               "collector": {"name": "tests", "version": "0"},
               "vm": {"host": "10.1.0.4", "computer_name": "test-vm"}, "collected_at": collected_at,
               "artifacts": arts}
        data["manifest.json"] = json.dumps(doc, indent=1).encode()
    if as_zip:
        with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for k, v in data.items():
                zf.writestr(prefix + k, v)
        return dest
    for k, v in data.items():
        p = dest / k
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(v)
    return dest
