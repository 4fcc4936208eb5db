"""``reachability``: one verdict per platform endpoint (WireServer, HostGAPlugin, IMDS) from the VM's own probes.

    >>> bundle.frame("reachability")      # computed once per bundle (kit.derive)

The verdict is read from the probes the collector (or ``kit.live``) made *from the VM*, without any proxy:

* ``reachable`` - at least one TCP connect succeeded, and no HTTP answer of that endpoint failed;
* ``answers-with-error`` - TCP connects, but the HTTP request got an error status or a proxy's answer;
* ``unreachable`` - every TCP connect failed (``outcome`` says how: forbidden = a local firewall, refused,
  timeout, error), or every HTTP request failed to connect when no TCP probe was made;
* ``cannot-tell`` - no probe of that endpoint was read (nothing is concluded from an absent file).

The routes and the proxy are not folded in: the rules judge them (a route that sends IMDS elsewhere shows here as
``unreachable`` with the probes' own outcome); this frame is what the probes saw.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..net import HOSTGAPLUGIN_PORT, IMDS_IP, WIRESERVER_IP, WIRESERVER_PORT
from ..schema import Col, FrameSchema
from .routes import columns, isna

#: The endpoints every case is about: (name, address, port, the http_probes endpoint name).
ENDPOINTS: tuple[tuple[str, str, int, str], ...] = (
    ("WireServer", WIRESERVER_IP, WIRESERVER_PORT, "wireserver"),
    ("HostGAPlugin", WIRESERVER_IP, HOSTGAPLUGIN_PORT, "hostgaplugin"),
    ("IMDS", IMDS_IP, 80, "imds"),
)
VERDICTS = ("reachable", "answers-with-error", "unreachable", "cannot-tell")

REACHABILITY = FrameSchema(
    "reachability",
    "One row per platform endpoint (WireServer 168.63.129.16:80, HostGAPlugin 168.63.129.16:32526, IMDS "
    "169.254.169.254:80): what the probes made from the VM saw (derived from `tcp_probes` and `http_probes` by "
    "`kit.derive.reachability.reachability`).",
    (Col("endpoint", "str", "WireServer, HostGAPlugin or IMDS.", False),
     Col("address", "str", "The endpoint's address.", False),
     Col("port", "Int64", "The endpoint's port.", False),
     Col("tcp_ok", "Int64", "TCP connects that succeeded (NA: no TCP probe read)."),
     Col("tcp_attempts", "Int64", "TCP connects made (NA: no TCP probe read)."),
     Col("tcp_outcomes", "str", "The TCP probes' outcomes (ok, forbidden, refused, timeout, error), comma-separated."),
     Col("http_status", "str", "HTTP statuses of the requests to this endpoint, comma-separated (NA: none read)."),
     Col("http_outcomes", "str", "The HTTP requests' outcomes (ok, http-error, proxy-answer, connection-error...)."),
     Col("verdict", "category", "reachable, answers-with-error, unreachable or cannot-tell.", False),
     Col("reason", "str", "The verdict in words, from the values above.", False),
     Col("sources", "str", "Probe files read, comma-separated.")),
)


def _join(values: Any) -> str | None:
    vals = [str(v) for v in dict.fromkeys(values) if v is not None and not pd.isna(v) and str(v) != ""]
    return ", ".join(vals) or None


def reachability(tcp_probes: pd.DataFrame, http_probes: pd.DataFrame) -> pd.DataFrame:
    """The ``reachability`` frame (see :data:`REACHABILITY`)."""
    # The probe frames have a few rows: their columns are read once as lists and each endpoint's rows picked in plain
    # Python (kit.derive.routes.values), the same rows pandas' filters pick at a fraction of their cost.
    tcp = columns(tcp_probes, ("target", "port", "ok", "outcome", "source"))
    http = columns(http_probes, ("endpoint", "status", "outcome", "source"))
    rows = []
    for name, address, port, http_name in ENDPOINTS:
        t = [i for i, (a, p) in enumerate(zip(tcp["target"], tcp["port"], strict=True))
             if a == address and not isna(p) and p == port]
        h = [i for i, e in enumerate(http["endpoint"]) if e == http_name]
        ok = [tcp["ok"][i] for i in t if not isna(tcp["ok"][i])]
        h_outcome = [http["outcome"][i] for i in h]
        row: dict[str, Any] = {"endpoint": name, "address": address, "port": port,
                               "tcp_ok": int(sum(ok)) if ok else None,
                               "tcp_attempts": len(ok) if ok else None,
                               "tcp_outcomes": _join(tcp["outcome"][i] for i in t) if t else None,
                               "http_status": _join(int(http["status"][i]) for i in h if not isna(http["status"][i]))
                               if h else None,
                               "http_outcomes": _join(h_outcome) if h else None,
                               "sources": _join([*(tcp["source"][i] for i in t), *(http["source"][i] for i in h)])}
        http_bad = [o for o in h_outcome if o in ("http-error", "proxy-answer", "throttled")]
        http_conn = [o for o in h_outcome if o == "connection-error"]
        http_good = [o for o in h_outcome if o == "ok"]
        where = f"{address}:{port}"
        if ok and any(ok):
            if http_bad:
                row["verdict"] = "answers-with-error"
                row["reason"] = (f"TCP to {where} connects ({row['tcp_ok']}/{row['tcp_attempts']}), but HTTP "
                                 f"answered {row['http_status'] or '-'} ({_join(http_bad)})")
            else:
                row["verdict"] = "reachable"
                row["reason"] = f"TCP to {where} connects ({row['tcp_ok']}/{row['tcp_attempts']})" + (
                    f"; HTTP {row['http_status']}" if http_good else "")
        elif ok:
            row["verdict"] = "unreachable"
            row["reason"] = f"every TCP connect to {where} failed ({row['tcp_outcomes']})"
        elif http_good or http_bad:
            row["verdict"] = "answers-with-error" if http_bad and not http_good else "reachable"
            row["reason"] = f"no TCP probe; HTTP to {where} answered {row['http_status']}"
        elif http_conn:
            row["verdict"] = "unreachable"
            row["reason"] = f"no TCP probe; every HTTP request to {where} failed to connect"
        else:
            row["verdict"] = "cannot-tell"
            row["reason"] = f"no probe of {where} was read"
        rows.append(row)
    df = REACHABILITY.from_records(rows)
    df["verdict"] = df["verdict"].cat.set_categories(VERDICTS)
    return df


__all__ = ["ENDPOINTS", "REACHABILITY", "VERDICTS", "reachability"]
