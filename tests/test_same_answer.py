"""Same data, other shape, same answer (issue 14): the healthy VM's command outputs as a German, Russian or
Japanese customer's Windows writes them (cmd.exe redirection in the OEM code page, the services as sc.exe text),
dropped into the bundle under their usual names or renamed and loose, give the same frames and the same findings
as the English original. Each fixture's real source: tests/shapes/<artifact>/SOURCES.md."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import kit

ROOT = Path(__file__).parent.parent
SHAPES = Path(__file__).parent / "shapes"
HEALTHY = ROOT / "sample_logs" / "healthy"

#: language -> {bundle path it replaces: fixture}
LOCALES = {
    "de": {"commands/route_print.txt": "route_print/route_print.de.cp850.txt",
           "commands/ipconfig_all.txt": "ipconfig/ipconfig_all.de.cp850.txt",
           "commands/netsh_winhttp_proxy.txt": "winhttp_proxy/winhttp_proxy.direct.de.cp850.txt",
           "commands/services.json": "services/sc_queryex_qc_de.txt"},
    "ru": {"commands/route_print.txt": "route_print/route_print.ru.cp866.txt",
           "commands/ipconfig_all.txt": "ipconfig/ipconfig_all.ru.cp866.txt",
           "commands/netsh_winhttp_proxy.txt": "winhttp_proxy/winhttp_proxy.direct.ru.cp866.txt",
           "commands/services.json": "services/sc_queryex_qc_ru.txt"},
    "ja": {"commands/route_print.txt": "route_print/route_print.ja.cp932.txt",
           "commands/ipconfig_all.txt": "ipconfig/ipconfig_all.ja.cp932.txt",
           "commands/netsh_winhttp_proxy.txt": "winhttp_proxy/winhttp_proxy.direct.ja.cp932.txt"},
}
#: frame -> columns that carry the VM's data (provenance, raw text and lease times, written in the locale's own
#: date format, are left out)
FRAMES = {
    "routes": ["family", "destination", "prefix_len", "netmask", "gateway", "on_link", "interface", "metric"],
    "interfaces": ["if_index", "mac", "description"],
    "adapters": ["adapter", "description", "mac", "dhcp_enabled", "default_gateways", "dhcp_server", "dns_servers"],
    "ip_addresses": ["adapter", "family", "address", "prefix_len", "subnet_mask", "state"],
    "proxy": ["direct", "proxy_server", "bypass", "bypasses_wireserver", "bypasses_imds"],
    "services": ["name", "status", "start_type"],
}


def _localized(tmp_path: Path, lang: str, *, loose: bool) -> Path:
    """The healthy bundle with its command outputs in ``lang``; ``loose``: the files renamed (out.txt, ...) and
    the manifest dropped, as a customer's hand-made folder would be."""
    root = tmp_path / f"healthy-{lang}"
    shutil.copytree(HEALTHY, root)
    manifest = json.loads((root / "manifest.json").read_text())
    for i, (rel, fixture) in enumerate(LOCALES[lang].items()):
        data = (SHAPES / fixture).read_bytes()
        (root / rel).unlink()
        dest = root / (f"pasted/out{i}.txt" if loose else rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        for a in manifest["artifacts"]:
            if a["path"] == rel:
                a.update(path=dest.relative_to(root).as_posix(), size=len(data),
                         sha256=hashlib.sha256(data).hexdigest())
    if loose:
        (root / "manifest.json").unlink()
    else:
        (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def _frame(b, name: str) -> pd.DataFrame:
    df = b.frame(name)
    if name == "routes":
        df = df[df["origin"] == "route_print"]
    cols = FRAMES[name]
    return df[cols].astype("object").sort_values(cols[:3], key=lambda s: s.astype(str)).reset_index(drop=True)


@pytest.fixture(scope="module")
def english():
    return kit.open_bundle(HEALTHY)


@pytest.mark.parametrize("loose", [False, True], ids=["in-place", "renamed-loose"])
@pytest.mark.parametrize("lang", sorted(LOCALES))
def test_localized_customer_bundle_gives_the_english_frames_and_findings(tmp_path: Path, english, lang: str,
                                                                          loose: bool) -> None:
    b = kit.open_bundle(_localized(tmp_path, lang, loose=loose))
    inv = b.inventory
    replaced = inv[inv["path"].str.startswith("pasted/") if loose else inv["path"].isin(list(LOCALES[lang]))]
    assert replaced["artifact"].notna().all(), replaced[["path", "artifact", "status", "note"]]
    for name in FRAMES:
        if name == "services" and "commands/services.json" not in LOCALES[lang]:
            continue
        pd.testing.assert_frame_equal(_frame(b, name), _frame(english, name), check_dtype=False, obj=name)
    issues = b.issues
    mine = issues[issues["source"].isin(set(replaced["layout_path"].fillna(replaced["path"])))]
    assert mine.empty, mine[["source", "line", "kind", "message"]]
    got = kit.diagnose(b)
    want = kit.diagnose(english)
    assert set(got.loc[got["severity"] >= "warning", "code"]) == set()
    if not loose:
        assert sorted(got["code"]) == sorted(want["code"])
