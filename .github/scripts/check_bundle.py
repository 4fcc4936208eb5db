"""Checks a bundle made on real Windows (used by .github/workflows/windows-collect.yml)."""

import sys

import kit

path, mode = sys.argv[1], sys.argv[2]
b = kit.open_bundle(path)
m = b.manifest
assert m is not None and m["format"] == "guestagent-kit-bundle", "no kit manifest"
assert m["collector"]["mode"] == mode, m["collector"]
paths = {a["path"]: a for a in m["artifacts"]}
for p in ["commands/route_print.txt", "commands/ipconfig_all.txt", "commands/netsh_winhttp_proxy.txt",
          "commands/get_netroute.json", "commands/get_netipaddress.json", "commands/services.json",
          "commands/firewall_rules.json", "probes/tcp.json", "probes/imds_instance.json"]:
    assert p in paths and paths[p]["status"] == "collected", (p, paths.get(p))
BAD_KINDS = ("hash-mismatch", "parser-error", "manifest-file-missing", "unlisted-file")
bad = [i for i in b.issues.itertuples() if i.kind in BAD_KINDS]
assert not bad, bad
for name in ("routes", "adapters", "tcp_probes"):
    print(name, len(b.frame(name)), "rows")
print("ok:", path, len(paths), "manifest entries")
