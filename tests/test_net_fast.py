"""Issue 16: the route, address and probe helpers of kit.derive (routes, effective, reachability) read a frame's
columns once as lists and choose in plain Python. Each is checked here against the pandas idiom it replaced (kept
below as the reference), on the sample bundles' frames and on variants of them: values not read, other words,
rows dropped, duplicated and reordered, persistent routes, ties."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import kit
from kit.derive import routes as routing
from kit.derive.effective import FAMILIES, ORIGINS, unread_routes
from kit.derive.filters import is_unknown, missing_in
from kit.derive.reachability import ENDPOINTS, REACHABILITY, VERDICTS, reachability
from kit.parse import frame_schemas

ROOT = Path(__file__).resolve().parent.parent / "sample_logs"
SAMPLES = sorted(p.name for p in ROOT.iterdir() if (p / "manifest.json").exists())
SCHEMAS = frame_schemas()
TARGETS = ("168.63.129.16", "169.254.169.254", "169.254.169.253", "fe80::5")


# -- the pandas idioms the helpers replaced (the reference) -------------------------------------------------------

def ref_candidate_routes(routes: pd.DataFrame, target: str) -> pd.DataFrame:
    addr = ipaddress.ip_address(target)
    if routes.empty:
        return routes.assign(rank=pd.Series(dtype="Int64"), why=pd.Series(dtype="str"))
    active = ~routes["persistent"].to_numpy(dtype=bool)
    origin = routes["origin"].to_numpy(dtype=object)
    if (active & (origin == "route_print")).any():
        active &= origin == "route_print"
    fam = "IPv4" if addr.version == 4 else "IPv6"
    active &= routes["family"].to_numpy(dtype=object) == fam
    dest = routes["destination"].to_numpy(dtype=object)
    active &= [bool(ok) and routing._contains(d, addr) for ok, d in zip(active, dest, strict=True)]
    r = routes[active]
    if r.empty or r["prefix_len"].isna().any():  # a prefix not read: the order is unknown, nothing is ranked
        return r.iloc[:0].assign(rank=pd.Series(dtype="Int64"), why=pd.Series(dtype="str"))
    metric = r["metric"].fillna(r["route_metric"]).fillna(10**9)
    r = r.assign(_m=metric.astype("int64")).sort_values(["prefix_len", "_m"], ascending=[False, True], kind="stable")
    best_len, best_m = int(r["prefix_len"].iloc[0]), int(r["_m"].iloc[0])
    whys = []
    for i, (plen, m) in enumerate(zip(r["prefix_len"], r["_m"], strict=True)):
        if i == 0:
            whys.append(f"longest prefix /{plen}, lowest metric {m}" if plen == best_len else "")
        elif plen < best_len:
            whys.append(f"shorter prefix /{plen} < /{best_len}")
        elif m > best_m:
            whys.append(f"same prefix, higher metric {m} > {best_m}")
        else:
            whys.append(f"same prefix and metric {m} (tie; Windows uses the first)")
    return r.drop(columns="_m").assign(rank=range(1, len(r) + 1), why=whys)


def ref_unread_routes(routes: pd.DataFrame, target: str) -> list[str]:
    active = routes[~routes["persistent"].to_numpy(dtype=bool)]
    if active.empty:
        return []
    addr = ipaddress.ip_address(target)

    def net(d: object) -> Any:
        try:
            return ipaddress.ip_network(d.strip(), strict=False) if isinstance(d, str) else None
        except ValueError:
            return None

    nets = [net(d) for d in active["destination"]]
    notes = missing_in(active[[n is None for n in nets]], "destination")
    notes += missing_in(active[is_unknown(active["family"], FAMILIES)], "family")
    notes += missing_in(active[is_unknown(active["origin"], ORIGINS)], "origin")
    contains = active[[n is not None and n.version == addr.version and addr in n for n in nets]]
    if not contains.empty:
        notes += missing_in(contains[contains["prefix_len"].isna().to_numpy()], "prefix_len")
        notes += missing_in(contains[(contains["metric"].isna() & contains["route_metric"].isna()).to_numpy()],
                            "metric")
    return notes


def ref_primary_interface(adapters: pd.DataFrame, ip_addresses: pd.DataFrame, imds_ip: str | None = None) -> dict:
    out: dict = {"ip": None, "adapter": None, "if_index": None, "basis": "unknown (no IMDS answer, no ipconfig)"}
    v4 = ip_addresses[ip_addresses["family"] == "IPv4"] if not ip_addresses.empty else ip_addresses
    if imds_ip:
        out.update(ip=imds_ip, basis="IMDS: first NIC's first private IP")
        hit = v4[v4["address"] == imds_ip] if not v4.empty else v4
        if not hit.empty:
            out["adapter"] = hit["adapter"].iloc[0]
            out["if_index"] = None if pd.isna(hit["if_index"].iloc[0]) else int(hit["if_index"].iloc[0])
        return out
    if adapters.empty:
        return out
    with_gw = adapters[adapters["default_gateways"].notna()]
    pick = with_gw.iloc[0] if not with_gw.empty else adapters.iloc[0]
    addrs = v4[v4["adapter"] == pick["adapter"]].sort_values("order", kind="stable") if not v4.empty else v4
    out.update(adapter=pick["adapter"], ip=None if addrs.empty else addrs["address"].iloc[0],
               basis="ipconfig: first adapter with a default gateway" if not with_gw.empty
               else "ipconfig: first adapter (none has a gateway)")
    if not addrs.empty and not pd.isna(addrs["if_index"].iloc[0]):
        out["if_index"] = int(addrs["if_index"].iloc[0])
    return out


def ref_source_address_for(ip_addresses: pd.DataFrame, primary: dict) -> dict | None:
    if ip_addresses.empty or not primary.get("adapter"):
        return None
    rows = ip_addresses[(ip_addresses["adapter"] == primary["adapter"]) & (ip_addresses["family"] == "IPv4")]
    if (rows["origin"] == "get_netipaddress").any():
        rows = rows[rows["origin"] == "get_netipaddress"]
    if len(rows) < 2:
        return None
    rows = rows.sort_values("order", kind="stable")
    eligible = rows[~rows["skip_as_source"].fillna(False).astype(bool).to_numpy()]
    if eligible.empty:
        return None
    chosen = eligible["address"].iloc[0]
    skipped = len(rows) - len(eligible)
    why = f"first of {len(eligible)} addresses without SkipAsSource" + (f" ({skipped} skipped)" if skipped else "")
    return {"address": chosen, "matches_primary": chosen == primary.get("ip"), "why": why}


def ref_first_imds_ip(imds: pd.DataFrame) -> str | None:
    if imds.empty:
        return None
    first = imds.sort_values(["nic_index", "ip_index"]).head(1)
    ip = routing.as_ip(first["private_ip"].iloc[0])
    if len(imds) > 1 and first[["nic_index", "ip_index"]].isna().any(axis=None):
        ip = None
    return ip


def _join(values: Any) -> str | None:
    vals = [str(v) for v in dict.fromkeys(values) if v is not None and not pd.isna(v) and str(v) != ""]
    return ", ".join(vals) or None


def ref_reachability(tcp_probes: pd.DataFrame, http_probes: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for name, address, port, http_name in ENDPOINTS:
        t = tcp_probes[(tcp_probes["target"].astype("object") == address)
                       & (tcp_probes["port"].astype("Int64") == port)] if not tcp_probes.empty else tcp_probes
        h = http_probes[http_probes["endpoint"].astype("object") == http_name] if not http_probes.empty \
            else http_probes
        ok = t["ok"].dropna() if not t.empty else pd.Series(dtype="boolean")
        row: dict[str, Any] = {"endpoint": name, "address": address, "port": port,
                               "tcp_ok": int(ok.sum()) if len(ok) else None,
                               "tcp_attempts": len(ok) if len(ok) else None,
                               "tcp_outcomes": _join(t["outcome"]) if not t.empty else None,
                               "http_status": _join(int(s) for s in h["status"].dropna()) if not h.empty else None,
                               "http_outcomes": _join(h["outcome"]) if not h.empty else None,
                               "sources": _join([*(t["source"] if not t.empty else []),
                                                 *(h["source"] if not h.empty else [])])}
        http_bad = h[h["outcome"].astype("object").isin(["http-error", "proxy-answer", "throttled"])] \
            if not h.empty else h
        http_conn = h[h["outcome"].astype("object") == "connection-error"] if not h.empty else h
        http_good = h[h["outcome"].astype("object") == "ok"] if not h.empty else h
        where = f"{address}:{port}"
        if len(ok) and ok.any():
            if len(http_bad):
                row["verdict"] = "answers-with-error"
                row["reason"] = (f"TCP to {where} connects ({row['tcp_ok']}/{row['tcp_attempts']}), but HTTP "
                                 f"answered {row['http_status'] or '-'} ({_join(http_bad['outcome'])})")
            else:
                row["verdict"] = "reachable"
                row["reason"] = f"TCP to {where} connects ({row['tcp_ok']}/{row['tcp_attempts']})" + (
                    f"; HTTP {row['http_status']}" if len(http_good) else "")
        elif len(ok):
            row["verdict"] = "unreachable"
            row["reason"] = f"every TCP connect to {where} failed ({row['tcp_outcomes']})"
        elif len(http_good) or len(http_bad):
            row["verdict"] = "answers-with-error" if len(http_bad) and not len(http_good) else "reachable"
            row["reason"] = f"no TCP probe; HTTP to {where} answered {row['http_status']}"
        elif len(http_conn):
            row["verdict"] = "unreachable"
            row["reason"] = f"no TCP probe; every HTTP request to {where} failed to connect"
        else:
            row["verdict"] = "cannot-tell"
            row["reason"] = f"no probe of {where} was read"
        rows.append(row)
    df = REACHABILITY.from_records(rows)
    df["verdict"] = df["verdict"].cat.set_categories(VERDICTS)
    return df


# -- variants of the samples' frames ------------------------------------------------------------------------------

WORDS = {
    "destination": ["0.0.0.0/0", "169.254.0.0/16", "168.63.129.16/32", "169.254.169.254/32", "10.0.0.0/8", "::/0",
                    "fe80::/64", "bogus", ""],
    "origin": ["route_print", "get_netroute_json", "get_netroute_table", "ipconfig", "get_netipaddress", "Unbekannt"],
    "family": ["IPv4", "IPv6", "???"],
    "address": ["10.0.1.4", "10.0.1.5", "169.254.1.23", "n/a"],
    "adapter": ["Ethernet", "Ethernet 2", ""],
    "outcome": ["ok", "forbidden", "refused", "timeout", "connection-error", "http-error", "proxy-answer"],
    "endpoint": ["wireserver", "hostgaplugin", "imds", "other", "Inconnu"],
    "target": ["168.63.129.16", "169.254.169.254", "10.0.0.1"],
}
NUMBERS = [0, 1, 2, 5, 24, 32, 80, 256, 32526]
#: The columns the helpers read, changed more often than the others.
FOCUS = {"routes": ["destination", "origin", "family", "prefix_len", "metric", "route_metric", "persistent"],
         "ip_addresses": ["adapter", "family", "address", "order", "origin", "skip_as_source", "if_index"],
         "adapters": ["adapter", "default_gateways"], "imds_network": ["nic_index", "ip_index", "private_ip"],
         "tcp_probes": ["target", "port", "ok", "outcome", "endpoint"],
         "http_probes": ["endpoint", "outcome", "status"]}


def _variant(df: pd.DataFrame, frame: str, rnd: random.Random) -> pd.DataFrame:
    """``df`` with a few values changed (not read, another word or number, another row's), or rows dropped,
    duplicated and reordered."""
    if df.empty:
        return df
    for _ in range(rnd.randint(1, 4)):
        n = len(df)
        kind = rnd.random()
        if kind < 0.1:
            df = df.iloc[sorted(rnd.sample(range(n), rnd.randint(0, n)))].reset_index(drop=True)
        elif kind < 0.2:
            df = df.iloc[[rnd.randrange(n) for _ in range(n + 2)]].reset_index(drop=True)
        else:
            if kind < 0.45:  # a copy of a row, changed below (a tie, or a near-tie, with the row it copies)
                df = df.iloc[[*range(n), rnd.randrange(n)]].reset_index(drop=True)
                n += 1
            col = SCHEMAS[frame].col(rnd.choice(FOCUS[frame] if rnd.random() < 0.7 else list(df.columns)))
            have = df[col.name].astype(object).tolist()
            pool = [None] if col.nullable else []
            pool += have + WORDS.get(col.name, [])
            pool += NUMBERS if col.dtype in ("Int64", "int64") else [True, False] if "bool" in col.dtype else []
            values = list(have)
            every = rnd.random() < 0.2  # one value in every row
            rows = [n - 1] if kind < 0.45 else range(n) if every else rnd.sample(range(n), rnd.randint(1, n))
            value = rnd.choice(pool)
            for i in rows:
                values[i] = value if every else rnd.choice(pool)
            out = df.copy()
            out[col.name] = pd.Series(values, index=df.index, dtype=object)
            try:
                df = SCHEMAS[frame].coerce(out)
            except Exception:  # a value the column cannot hold: leave the column as it was
                continue
        if df.empty:
            return df
    return df


def _cases(n: int = 36) -> list[tuple[str, int]]:
    return [(SAMPLES[i % len(SAMPLES)], i) for i in range(n)]


@pytest.fixture(scope="module")
def bundles() -> dict[str, kit.Bundle]:
    return {s: kit.open_bundle(ROOT / s) for s in SAMPLES}


def _outcome(fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # the helper must fail where the idiom fails, with the same error
        return f"{type(exc).__name__}: {exc}"


def _same(a: Any, b: Any) -> None:
    if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
        assert isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame), (a, b)
        pd.testing.assert_frame_equal(a, b)
    elif isinstance(a, pd.Series) or isinstance(b, pd.Series):
        assert isinstance(a, pd.Series) and isinstance(b, pd.Series), (a, b)
        pd.testing.assert_series_equal(a, b)
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys()
        for k in a:
            if not isinstance(a[k], str) and pd.isna(a[k]):
                assert not isinstance(b[k], str) and pd.isna(b[k]), (k, a, b)
            else:
                assert a[k] == b[k], (k, a, b)
    else:
        assert a == b


# -- the checks ---------------------------------------------------------------------------------------------------

def test_values_are_what_iloc_gives() -> None:
    frame = pd.DataFrame({"s": pd.array(["a", None, "b"], dtype="str"),
                          "c": pd.Categorical(["IPv4", None, "IPv6"]),
                          "i": pd.array([1, None, 3], dtype="Int64"), "b": pd.array([True, None, False], "boolean"),
                          "f": [True, False, True]})
    for col in frame.columns:
        got = routing.values(frame[col])
        want = [frame[col].iloc[i] for i in range(len(frame))]
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert (routing.isna(g) and pd.isna(w)) if pd.isna(w) else (g == w and type(g) is type(w)), (col, got, want)
    assert routing.values(pd.Series([], dtype="category")) == []
    assert routing.columns(frame.iloc[:0], ("s", "nothing")) == {"s": [], "nothing": []}


def test_isna() -> None:
    assert all(routing.isna(v) for v in (None, np.nan, pd.NA, pd.NaT, float("nan")))
    assert not any(routing.isna(v) for v in ("", "x", 0, False, np.int64(0), pd.Timestamp("2024-01-01")))


def test_by_order_is_a_stable_sort_with_unknown_last() -> None:
    order = [2, None, 0, 2, pd.NA, 1, 0]
    want = pd.DataFrame({"o": pd.array(order, dtype="Int64")}).sort_values("o", kind="stable").index.tolist()
    assert routing.by_order(list(range(len(order))), order) == want
    assert routing.by_order([3, 0, 2], order) == [2, 3, 0]  # ties keep the given order


@pytest.mark.parametrize(("sample", "seed"), _cases())
def test_route_choice_matches_the_pandas_idiom(bundles: dict[str, kit.Bundle], sample: str, seed: int) -> None:
    rnd = random.Random(seed)
    b = bundles[sample]
    routes = b.frame("routes") if seed < len(SAMPLES) else _variant(b.frame("routes"), "routes", rnd)
    for target in TARGETS:
        want = _outcome(lambda t=target: ref_candidate_routes(routes, t))
        _same(_outcome(lambda t=target: routing.candidate_routes(routes, t)), want)
        eff = _outcome(lambda t=target: routing.effective_route(routes, t))
        if isinstance(want, str):
            assert eff == want
        elif want.empty:
            assert eff is None
        else:
            _same(eff, want.drop(columns=["rank", "why"]).iloc[0])
        if not routes.empty:
            assert unread_routes(routes, target) == ref_unread_routes(routes, target)


@pytest.mark.parametrize(("sample", "seed"), _cases())
def test_primary_nic_matches_the_pandas_idiom(bundles: dict[str, kit.Bundle], sample: str, seed: int) -> None:
    rnd = random.Random(seed)
    b = bundles[sample]
    vary = seed >= len(SAMPLES)
    frames = {n: _variant(b.frame(n), n, rnd) if vary else b.frame(n)
              for n in ("adapters", "ip_addresses", "imds_network")}
    imds_ip = ref_first_imds_ip(frames["imds_network"])
    for ip in (imds_ip, None, "10.0.1.5"):
        want = ref_primary_interface(frames["adapters"], frames["ip_addresses"], ip)
        _same(routing.primary_interface(frames["adapters"], frames["ip_addresses"], ip), want)
        got = routing.source_address_for(frames["ip_addresses"], want)
        ref = ref_source_address_for(frames["ip_addresses"], want)
        assert (got is None) == (ref is None) and (got is None or got == ref), (got, ref)
    primary = routing.primary_nic(frames.__getitem__)
    want = ref_primary_interface(frames["adapters"], frames["ip_addresses"], imds_ip)
    if want["ip"] is not None and routing.as_ip(want["ip"]) is None:
        want["ip"] = None
    _same(primary, want)


@pytest.mark.parametrize(("sample", "seed"), _cases())
def test_reachability_matches_the_pandas_idiom(bundles: dict[str, kit.Bundle], sample: str, seed: int) -> None:
    rnd = random.Random(seed)
    b = bundles[sample]
    vary = seed >= len(SAMPLES)
    tcp, http = (_variant(b.frame(n), n, rnd) if vary else b.frame(n) for n in ("tcp_probes", "http_probes"))
    for t, h in ((tcp, http), (tcp.iloc[:0], http), (tcp, http.iloc[:0])):  # and with one kind of probe only
        pd.testing.assert_frame_equal(reachability(t, h), ref_reachability(t, h))


def test_the_variants_reach_the_cases_that_matter(bundles: dict[str, kit.Bundle]) -> None:
    """The checks above would prove little if the variants never left the samples' happy path."""
    notes, ranks, verdicts = 0, set(), set()
    for sample, seed in _cases():
        rnd = random.Random(seed)
        b = bundles[sample]
        routes = _variant(b.frame("routes"), "routes", rnd) if seed >= len(SAMPLES) else b.frame("routes")
        if not routes.empty:
            notes += sum(bool(unread_routes(routes, t)) for t in TARGETS)
            ranks |= {len(ref_candidate_routes(routes, t)) for t in TARGETS[:2] if not ref_unread_routes(routes, t)}
        rnd = random.Random(seed)
        tcp, http = (_variant(b.frame(n), n, rnd) for n in ("tcp_probes", "http_probes"))
        verdicts |= set(ref_reachability(tcp, http)["verdict"].astype(str))
    assert notes > 5 and len(ranks) > 2 and len(verdicts) >= 3, (notes, ranks, verdicts)


def test_a_matching_route_whose_prefix_was_not_read_ranks_nothing() -> None:
    """It could be the longest match, so which route Windows uses is unknown: no route is ranked (it raised a
    TypeError, and the HCI rule became RULE_FAILED), and no rule concludes from a guess."""
    b = kit.open_bundle(ROOT / "imds-route-secondary-nic")
    routes = b.frame("routes").copy()
    hit = routes["destination"].astype(str).str.startswith("169.254.169.254")
    routes.loc[hit, "prefix_len"] = pd.NA
    assert routing.candidate_routes(routes, "169.254.169.254").empty
    assert routing.effective_route(routes, "169.254.169.254") is None
    from kit.diagnose.engine import diagnose

    f = diagnose(b, frames={"routes": routes})
    assert "RULE_FAILED" not in set(f["code"])
