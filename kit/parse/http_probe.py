"""HTTP probes from the VM: ``probes/imds_*.json``, ``probes/wireserver_*.json`` (envelope in docs/bundle-format.md).

Each answer is sorted into an outcome (STYLE.md item 10): ok, connection-error (no answer), http-error,
throttled (429), or proxy-answer - an answer that did not come from the platform: an HTML page or a proxy's reason
phrase (``cannotconnect``, ``GATEWAY_TIMEOUT``, Zscaler, "This Page Cannot Be Displayed"), or a ``Via``/
``Proxy-*`` header. HostGAPlugin returns 502 for its own internal errors (formats doc §9-10), so a bare 502 is not
called a proxy answer. IMDS bodies also give the primary NIC's IP (``imds_network``) and a few VM facts
(``imds_compute``).
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pandas as pd

from ..net import endpoint_name
from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import as_list, get, load, to_int
from .base import ParseIssue, ParseResult

NAME = "http_probe"
DESCRIPTION = "HTTP probes from the VM to IMDS / WireServer (kit envelope JSON)."
PATTERNS = ("probes/imds_*.json", "probes/wireserver_*.json", "probes/hostgaplugin_*.json")

HTTP_PROBES = FrameSchema(
    "http_probes",
    "One row per HTTP request the collector made from the VM.",
    (SOURCE, LINE,
     Col("endpoint", "category", "imds, wireserver, hostgaplugin or other.", False),
     Col("url", "str", "Requested URL.", False),
     Col("path", "str", "URL path and query."),
     Col("status", "Int64", "HTTP status; NA when no answer arrived."),
     Col("ok", "boolean", "2xx."),
     Col("outcome", "category", "ok, connection-error, http-error, throttled or proxy-answer.", False),
     Col("error", "str", "Why no answer arrived."),
     Col("elapsed_ms", "float64", "Request time in ms."),
     Col("time", "datetime", "When it was made (UTC)."),
     Col("content_type", "str", "Content-Type of the answer."),
     Col("headers", "str", "Response headers as JSON text."),
     Col("body", "str", "The body as received."),
     Col("detail", "str", "What the status means for this endpoint (IMDS error table, formats doc §5.8).")),
)
IMDS_NETWORK = FrameSchema(
    "imds_network",
    "Private IPs per NIC as IMDS reports them (network.interface[]); nic 0 / ip 0 is the primary.",
    (SOURCE, Col("nic_index", "Int64", "Index in network.interface[].", False),
     Col("mac", "str", "MAC address, lower-case with dashes."),
     Col("ip_index", "Int64", "Index in ipv4.ipAddress[]."),
     Col("private_ip", "str", "privateIpAddress."),
     Col("public_ip", "str", "publicIpAddress."),
     Col("subnet_address", "str", "ipv4.subnet[0].address."),
     Col("subnet_prefix", "Int64", "ipv4.subnet[0].prefix.")),
)
IMDS_COMPUTE = FrameSchema(
    "imds_compute",
    "A few compute facts from IMDS (compute.*).",
    (SOURCE, Col("vm_id", "str", "compute.vmId."), Col("name", "str", "compute.name."),
     Col("location", "str", "compute.location."), Col("vm_size", "str", "compute.vmSize."),
     Col("os_type", "str", "compute.osType."), Col("az_environment", "str", "compute.azEnvironment."),
     Col("resource_id", "str", "compute.resourceId."), Col("zone", "str", "compute.zone.")),
)
FRAMES = {"http_probes": HTTP_PROBES, "imds_network": IMDS_NETWORK, "imds_compute": IMDS_COMPUTE}

_PROXY_BODY = re.compile(r"cannotconnect|GATEWAY_TIMEOUT|This Page Cannot Be Displayed|Zscaler|squid|"
                         r"Blue ?Coat|McAfee Web Gateway|Skyhigh", re.IGNORECASE)
IMDS_STATUS = {
    400: "Bad Request: missing `Metadata: true` header, or missing api-version / format=json",
    404: "Not Found: the requested element does not exist",
    405: "Method Not Allowed: the HTTP verb is not supported",
    410: "Gone: retry after some time, for up to 70 seconds",
    429: "Too Many Requests: rate limit exceeded (5 requests per second); back off",
    500: "Service Error: retry after some time",
}


def sniff(head: str) -> bool:
    low = head.lower()
    return '"url"' in low and '"status"' in low and '"body"' in low


def _detail(endpoint: str, status: int | None, body: str) -> str | None:
    if status is None or 200 <= status < 300:
        return None
    if endpoint == "imds":
        if status == 400 and "newest-versions" in body:
            return "Bad Request: api-version was not specified"
        if status == 400 and "metadata header" in body.lower():
            return "Bad Request: Required metadata header not specified (send `Metadata: true`)"
        return IMDS_STATUS.get(status)
    if endpoint == "wireserver" and status in (500, 503):
        return "WireServer server error (platform side)"
    return None


def _outcome(status: int | None, body: str, headers: dict, endpoint: str) -> str:
    hdrs = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    via_proxy = "via" in hdrs or any(k.startswith("proxy-") for k in hdrs)
    if status is None:
        return "connection-error"
    html = "<html" in body.lower() or "text/html" in hdrs.get("content-type", "")
    if via_proxy or _PROXY_BODY.search(body) or (html and endpoint in ("imds", "wireserver")):
        return "proxy-answer"
    if 200 <= status < 300:
        return "ok"
    return "throttled" if status == 429 else "http-error"


def parse(text: str, *, source: str) -> ParseResult:
    data, issues = load(text, source=source, parser=NAME)
    rows, nets, comps = [], [], []
    for o in as_list(data):
        url = get(o, "url")
        if not url:
            issues.append(ParseIssue(source, None, "unexpected-shape", "expected {url, status, headers, body}",
                                     parser=NAME))
            continue
        parts = urlsplit(str(url))
        endpoint = endpoint_name(parts.hostname, parts.port or 80)
        status = to_int(get(o, "status"))
        body = get(o, "body") or ""
        if not isinstance(body, str):
            body = json.dumps(body)
        headers = get(o, "headers") or {}
        rows.append({"source": source, "line": None, "endpoint": endpoint, "url": str(url),
                     "path": parts.path + (f"?{parts.query}" if parts.query else ""), "status": status,
                     "ok": None if status is None else 200 <= status < 300,
                     "outcome": _outcome(status, body, headers, endpoint), "error": get(o, "error"),
                     "elapsed_ms": pd.to_numeric(get(o, "elapsed_ms"), errors="coerce"),
                     "time": pd.to_datetime(get(o, "time"), utc=True, errors="coerce") if get(o, "time") else None,
                     "content_type": next((str(v) for k, v in headers.items() if str(k).lower() == "content-type"),
                                          None) if isinstance(headers, dict) else None,
                     "headers": json.dumps(headers, sort_keys=True), "body": body,
                     "detail": _detail(endpoint, status, body)})
        if endpoint == "imds" and status == 200 and "/metadata/instance" in parts.path:
            doc, more = load(body, source=source, parser=NAME)
            issues += more
            for i, nic in enumerate(as_list(get(doc, "network", "interface"))):
                mac = get(nic, "macAddress")
                mac = "-".join(mac[j:j + 2] for j in range(0, len(mac), 2)).lower() if mac and len(mac) == 12 else mac
                subnet = (as_list(get(nic, "ipv4", "subnet")) or [{}])[0]
                for k, ip in enumerate(as_list(get(nic, "ipv4", "ipAddress"))):
                    nets.append({"source": source, "nic_index": i, "mac": mac, "ip_index": k,
                                 "private_ip": get(ip, "privateIpAddress"), "public_ip": get(ip, "publicIpAddress")
                                 or None, "subnet_address": get(subnet, "address"),
                                 "subnet_prefix": to_int(get(subnet, "prefix"))})
            c = get(doc, "compute")
            if isinstance(c, dict):
                comps.append({"source": source, "vm_id": get(c, "vmId"), "name": get(c, "name"),
                              "location": get(c, "location"), "vm_size": get(c, "vmSize"),
                              "os_type": get(c, "osType"), "az_environment": get(c, "azEnvironment"),
                              "resource_id": get(c, "resourceId"), "zone": get(c, "zone") or None})
    return ParseResult({"http_probes": HTTP_PROBES.from_records(rows), "imds_network": IMDS_NETWORK.from_records(nets),
                        "imds_compute": IMDS_COMPUTE.from_records(comps)}, issues)
