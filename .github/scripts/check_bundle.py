"""Checks a bundle made on real Windows (used by .github/workflows/windows-collect.yml).

    python .github/scripts/check_bundle.py BUNDLE MODE [--partial] [--language-mode MODE] [--step-status STATUS]

MODE is the manifest's collector.mode (manual, winrm). Without --partial the collection must be complete with every
step ok; with it, the bundle must say partial (kit.open_bundle: Bundle.partial and a partial-bundle issue).
"""

import argparse

import pandas as pd

import kit

ap = argparse.ArgumentParser()
ap.add_argument("path")
ap.add_argument("mode")
ap.add_argument("--partial", action="store_true", help="the bundle must say it is partial")
ap.add_argument("--language-mode", default="FullLanguage")
ap.add_argument("--step-status", help="at least one step must have ended with this status (timeout, skipped, ...)")
args = ap.parse_args()

b = kit.open_bundle(args.path)
m = b.manifest
assert m is not None and m["format"] == "guestagent-kit-bundle", "no kit manifest"
assert m["collector"]["mode"] == args.mode, m["collector"]
assert m.get("environment", {}).get("language_mode") == args.language_mode, m.get("environment")
print("environment:", m.get("environment"))
for s in m.get("steps", []):
    print(f"step {s['step']!r}: {s['status']} {s.get('duration_ms')} ms {s.get('error') or ''}")
# every time stamp the collector wrote is ISO 8601 UTC, whatever the runner's culture
for when in [m["collected_at"], m.get("updated_at")] + [s.get("started") for s in m.get("steps", [])]:
    if when is not None:
        ts = pd.Timestamp(when)
        assert ts.tzinfo is not None and ts.utcoffset().total_seconds() == 0, when
issues = b.issues
kinds = set(issues["kind"].astype(str))
paths = {a["path"]: a for a in m["artifacts"]}
if args.partial:
    assert b.partial and m["status"] == "partial", m.get("status")
    assert "partial-bundle" in kinds, sorted(kinds)
    print(issues.loc[issues["kind"] == "partial-bundle", "message"].iloc[0])
else:
    assert m["status"] == "complete" and not b.partial, (m.get("status"), m.get("partial_reason"))
    if args.language_mode == "FullLanguage" and not args.step_status:
        bad_steps = [s for s in m["steps"] if s["status"] != "ok"]
        assert not bad_steps, bad_steps
        for p in ["commands/route_print.txt", "commands/ipconfig_all.txt", "commands/netsh_winhttp_proxy.txt",
                  "commands/get_netroute.json", "commands/get_netipaddress.json", "commands/services.json",
                  "commands/firewall_rules.json", "probes/tcp.json", "probes/imds_instance.json"]:
            assert p in paths and paths[p]["status"] == "collected", (p, paths.get(p))
        for p in ["commands/route_print.txt", "commands/ipconfig_all.txt", "commands/netsh_winhttp_proxy.txt"]:
            assert isinstance(paths[p].get("code_page"), int), paths[p]  # the console code page is recorded
if args.step_status:
    assert any(s["status"] == args.step_status for s in m["steps"]), m["steps"]
BAD_KINDS = ["hash-mismatch", "parser-error", "manifest-file-missing", "unlisted-file", "unreadable-file"]
if args.partial:  # a file written by the step that was running when the collection stopped is not listed yet
    BAD_KINDS.remove("unlisted-file")
bad = [i for i in issues.itertuples() if i.kind in BAD_KINDS]
assert not bad, bad
for name in ("routes", "adapters", "tcp_probes"):
    print(name, len(b.frame(name)), "rows")
print("ok:", args.path, len(paths), "manifest entries", "(partial)" if b.partial else "")
