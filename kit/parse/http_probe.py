"""HTTP probes from the VM: ``probes/imds_*.json``, ``probes/wireserver_*.json``, ``probes/hostgaplugin_*.json``.

The envelope (docs/bundle-format.md), one per request, or a list of them::

    {"url": "http://169.254.169.254/metadata/instance?api-version=2021-02-01", "status": 200,
     "headers": {"Content-Type": "application/json; charset=utf-8"}, "body": "{\\"compute\\": {...}}",
     "error": null, "elapsed_ms": 12.5, "time": "2024-03-08T10:15:02.530Z"}

Outcome of each request:

* ``connection-error`` - no status (``error`` says why; ``detail`` sorts it as the TCP probes do);
* ``proxy-answer`` - an answer that did not come from the platform. Deliberately conservative signs only:
  a ``Via`` or ``Proxy-*`` response header, a ``Server``/``X-Squid-Error`` header naming a proxy product, status
  407; a proxy's signature in the body or error text (``cannotconnect`` - the reason phrase a client proxy puts on
  a 502, formats doc §1.4 - ``GATEWAY_TIMEOUT``, ``This Page Cannot Be Displayed``, Zscaler, Squid, Blue Coat,
  McAfee/Skyhigh Web Gateway) when the body is not a JSON/XML document of the platform; or an HTML page from IMDS
  or WireServer (neither ever answers HTML). HostGAPlugin returns 502 for its own internal errors (formats doc
  §9, §10), so neither a bare 502 nor HTML alone from port 32526 is called a proxy answer; a bare 502 without
  any sign from IMDS/WireServer stays ``http-error`` and its ``detail`` says a proxy is the likely cause;
* ``throttled`` - 429; ``ok`` - 2xx; ``http-error`` - any other status.

``detail`` explains a status per endpoint (IMDS error table, formats doc §5.8; HostGAPlugin/WireServer bodies,
§9-10).

From an IMDS ``/metadata/instance`` (or ``/metadata/instance/network``) answer the parser also fills
``imds_network`` (one row per private IP; NIC 0 / IP 0 is the primary) and ``imds_compute``. The document
shape is the public one in azure-docs ``articles/virtual-machines/instance-metadata-service.md``
(https://learn.microsoft.com/azure/virtual-machines/instance-metadata-service): ``network.interface[i]
.ipv4.ipAddress[k].{privateIpAddress, publicIpAddress}``, ``.ipv4.subnet[j].{address, prefix}``,
``.macAddress`` (12 hex digits, ``000D3AF806EC``), and ``compute.{vmId, name, location, vmSize, osType,
azEnvironment, resourceId, zone, ...}``.

From an attested-data answer (``probes/imds_attested.json``: ``/metadata/attested/document``, the envelope plus a
top-level ``nonce``) it fills ``imds_attestation``: the PKCS#7 signature decoded and verified offline by
:mod:`kit.parse.attestation` (signed vmId, sku, subscriptionId, nonce, timeStamp, plan; signature and signer name). The
same answer from Azure Stack HCI's endpoint (169.254.169.253) is read the same way. Time and nonce are judged by the
diagnosis, against the bundle's collection time.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from ..net import ENDPOINT_NAMES, endpoint_name
from ..schema import LINE, SOURCE, Col, FrameSchema
from ._jsonutil import as_list, get, to_int
from .base import ParseIssue, ParseResult
from .tcp_probes import load_objects, parse_time, to_float
from .tcp_probes import outcome as tcp_outcome

NAME = "http_probe"
DESCRIPTION = "HTTP probes from the VM to IMDS / WireServer / HostGAPlugin (kit envelope JSON)."
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
IMDS_ATTESTATION = FrameSchema(
    "imds_attestation",
    "One row per attested-data answer (GET /metadata/attested/document): the fields IMDS signed, decoded offline from "
    "the PKCS#7 signature, and whether that signature verifies. Whether the document had expired and whether its "
    "nonce is the one sent are judged by the diagnosis (IMDS_ATTESTATION_INVALID) against the time the bundle says it "
    "was fetched, never against the time of reading.",
    (SOURCE, Col("url", "str", "Requested URL.", False),
     Col("fetched_at", "datetime", "When the request was made (the envelope's `time`)."),
     Col("nonce_sent", "str", "The nonce the collector sent (envelope `nonce`, else the URL's `nonce=`)."),
     Col("encoding", "str", "The answer's `encoding` (IMDS: pkcs7)."),
     Col("vm_id", "str", "Signed vmId."),
     Col("subscription_id", "str", "Signed subscriptionId."),
     Col("sku", "str", "Signed sku (the image SKU)."),
     Col("license_type", "str", "Signed licenseType (Azure Hybrid Benefit), when present."),
     Col("plan", "str", "Signed plan as name/product/publisher (Marketplace images; empty otherwise)."),
     Col("nonce_signed", "str", "Signed nonce."),
     Col("created_on", "datetime", "Signed timeStamp.createdOn (IMDS writes `MM/DD/YY HH:MM:SS -0000`)."),
     Col("expires_on", "datetime", "Signed timeStamp.expiresOn."),
     Col("signature_valid", "boolean", "The PKCS#7 signature verifies with the signer certificate it carries; NA "
         "when it could not be checked (see problems)."),
     Col("signer_subject", "str", "Subject of the signing certificate."),
     Col("signer_names", "str", "Its SAN DNS names (subject CN when it has no SAN), comma-separated."),
     Col("signer_domain", "str", "metadata.azure.com, or the sovereign-cloud domain a signer name falls under; NA "
         "when none does."),
     Col("signer_issuer", "str", "Issuer of the signing certificate."),
     Col("signer_not_before", "datetime", "Signing certificate validity start."),
     Col("signer_not_after", "datetime", "Signing certificate validity end."),
     Col("chain", "str", "What was not verified offline (the chain to a trusted root).", False),
     Col("problems", "str", "Problems found while decoding and verifying (signature, signer, structure), "
         "`; `-separated; NA when none."),
     Col("document", "str", "The signed JSON document as text.")),
)
FRAMES = {"http_probes": HTTP_PROBES, "imds_network": IMDS_NETWORK, "imds_compute": IMDS_COMPUTE,
          "imds_attestation": IMDS_ATTESTATION}
#: IMDS (Azure) and the Azure Stack HCI host's attestation endpoint ("Azure verification for VMs").
ATTESTED_HOSTS = ("169.254.169.254", "169.254.169.253")
ATTESTED_PATH = re.compile(r"/metadata/attested/document/?$", re.IGNORECASE)

OUTCOMES = ("ok", "connection-error", "http-error", "throttled", "proxy-answer")

#: Proxy signatures in a body / error text (formats doc §1.4, §5.8).
_PROXY_TEXT = re.compile(r"\(cannotconnect\)|\bcannotconnect\b|GATEWAY_TIMEOUT|This Page Cannot Be Displayed|Zscaler|"
                         r"\bsquid\b|Blue ?Coat|McAfee Web Gateway|Skyhigh", re.IGNORECASE)
#: Proxy products in a ``Server`` header.
_PROXY_SERVER = re.compile(r"squid|bluecoat|blue coat|zscaler|mcafee|skyhigh|proxysg|webwasher|fortiproxy|"
                           r"forcepoint|websense|ccproxy", re.IGNORECASE)
_HTML = re.compile(r"<\s*(!doctype\s+html|html)\b", re.IGNORECASE)

IMDS_STATUS = {
    400: "Bad Request: missing `Metadata: true` header, or missing parameter format=json on a leaf node",
    404: "Not Found: the requested element does not exist",
    405: "Method Not Allowed: the HTTP method (verb) is not supported on the endpoint",
    410: "Gone: retry after some time, for up to 70 seconds",
    429: "Too Many Requests: IMDS rate limit exceeded (5 requests per second); back off",
    500: "Service Error: retry after some time (at least 1 second)",
}
#: The managed identity endpoint's own limits (IMDS article, "Rate limiting").
IMDS_IDENTITY_429 = ("Too Many Requests: IMDS rate limit exceeded (managed identity: 20 requests per second, 5 "
                     "concurrent); back off exponentially")


def sniff(head: str) -> bool:
    low = head.lower()
    return '"url"' in low and '"status"' in low and '"body"' in low


def _headers(raw: Any) -> dict[str, str]:
    """Response headers as {name: value}; PowerShell 7 writes each value as a list, joined here with ", "."""
    if isinstance(raw, dict):
        return {str(k): ", ".join(str(x) for x in v) if isinstance(v, list) else ("" if v is None else str(v))
                for k, v in raw.items()}
    if isinstance(raw, list):  # [{"Key": ..., "Value": ...}] from a plain ConvertTo-Json of a header collection
        out = {}
        for item in raw:
            k, v = get(item, "Key"), get(item, "Value")
            if k is not None:
                out[str(k)] = ", ".join(str(x) for x in v) if isinstance(v, list) else str(v)
        return out
    return {}


def _is_platform_document(body: str) -> bool:
    """A JSON document, or XML that is not HTML: what IMDS, WireServer and HostGAPlugin answer."""
    b = body.lstrip("\ufeff \t\r\n")
    if b.startswith(("{", "[")):
        try:
            json.loads(b)
            return True
        except RecursionError:  # nested too deep to decode, but a JSON document all the same
            return True
        except ValueError:
            return False
    return b.startswith("<?xml") and not _HTML.search(b[:2000])


def proxy_signs(status: int | None, body: str, headers: dict[str, str], error: str | None,
                endpoint: str) -> list[str]:
    """Why an answer looks like it came from a proxy rather than the platform (empty when it does not)."""
    signs = []
    low = {k.lower(): v for k, v in headers.items()}
    if "via" in low:
        signs.append(f"Via header ({low['via']})")
    signs += [f"{k} header" for k in headers if k.lower().startswith("proxy-")]
    for name in ("server", "x-squid-error"):
        if name in low and (name == "x-squid-error" or _PROXY_SERVER.search(low[name])):
            signs.append(f"{name} header names a proxy ({low[name]})")
    if status == 407:
        signs.append("407 Proxy Authentication Required")
    if error and _PROXY_TEXT.search(error):
        signs.append(f"error text has a proxy signature ({_PROXY_TEXT.search(error)[0]})")
    if body and not _is_platform_document(body):
        m = _PROXY_TEXT.search(body)
        if m:
            signs.append(f"body has a proxy signature ({m[0]})")
        elif endpoint in ("imds", "wireserver") and (_HTML.search(body[:4000])
                                                     or "text/html" in low.get("content-type", "").lower()):
            signs.append("HTML page from an endpoint that never answers HTML")
    return signs


def classify(status: int | None, body: str, headers: dict[str, str], error: str | None, endpoint: str) -> str:
    if status is None:
        return "connection-error"
    if proxy_signs(status, body, headers, error, endpoint):
        return "proxy-answer"
    if 200 <= status < 300:
        return "ok"
    return "throttled" if status == 429 else "http-error"


def detail(endpoint: str, path: str, status: int | None, body: str, headers: dict[str, str], error: str | None,
           outcome: str) -> str | None:
    """A short explanation of a non-2xx answer (or of a missing one)."""
    if outcome == "proxy-answer":
        return "answered by a proxy, not the platform: " + "; ".join(proxy_signs(status, body, headers, error,
                                                                                    endpoint))
    if status is None:
        kind = tcp_outcome(False, error)
        return {"forbidden": "connect forbidden by a local firewall / WFP filter (WSAEACCES)",
                "refused": "connection refused", "timeout": "no answer (timed out)"}.get(kind, "no answer")
    low_body = body.lower()
    if endpoint == "imds":
        if status == 400 and "newest-versions" in low_body:
            return "Bad Request: api-version was not specified in the request (body lists newest-versions)"
        if status == 400 and "metadata header" in low_body:
            return "Bad Request: Required metadata header not specified (send `Metadata: true`)"
        if status in (502, 504):
            return f"{status} from IMDS: IMDS does not answer this itself; a proxy in the path is the likely cause"
        if status == 429 and "/metadata/identity" in path.lower():
            return IMDS_IDENTITY_429
        return IMDS_STATUS.get(status)
    if endpoint == "hostgaplugin":
        if status == 502:
            return ("502 from HostGAPlugin: its own internal error ('[Internal error in HostGAPlugin]', formats doc "
                    "§9); not a proxy by itself")
        if status == 404 and "vmsettings" in path.lower():
            return "HostGAPlugin does not support the vmSettings API (no FastTrack)"
        if status == 410:
            return "Gone: the goal state changed; refresh it"
        if status == 403:
            return "Forbidden: HostGAPlugin rejected the client (AccessDenied, 'Error during client validation')"
        if status == 200 and "vmsettings" in path.lower() and not any(k.lower() == "etag" for k in headers):
            return "vmSettings answer without an Etag header (the agent rejects it)"
        return None
    if endpoint == "wireserver":
        if status == 410:
            return "Gone: ResourceNotAvailable, the goal state changed; refresh the cache"
        if status == 503:
            return "503 Server Unavailable: WireServer busy, or a proxy (Squid answers 503, formats doc §1.4)"
        if status == 500:
            return "WireServer server error (platform side)"
        if status in (502, 504):
            return f"{status} from WireServer: it does not answer this itself; a proxy in the path is the likely cause"
    return None


def _mac(raw: Any) -> str | None:
    if raw is None:
        return None
    hexes = re.sub(r"[^0-9A-Fa-f]", "", str(raw))
    if len(hexes) != 12:
        return str(raw)
    return "-".join(hexes[j:j + 2] for j in range(0, 12, 2)).lower()


def _imds_rows(body: str, path: str, *, source: str, issues: list[ParseIssue]) -> tuple[list[dict], list[dict]]:
    docs, more = load_objects(body, source=source, parser=NAME)
    issues += [ParseIssue(i.source, None, i.kind, "IMDS body: " + i.message, i.text, NAME) for i in more]
    doc = docs[0] if docs and isinstance(docs[0], dict) else {}
    network = doc if path.rstrip("/").lower().endswith("/metadata/instance/network") else get(doc, "network")
    nets, comps = [], []
    for i, nic in enumerate(as_list(get(network, "interface"))):
        subnet = (as_list(get(nic, "ipv4", "subnet")) or [{}])[0]
        for k, ip in enumerate(as_list(get(nic, "ipv4", "ipAddress"))):
            nets.append({"source": source, "nic_index": i, "mac": _mac(get(nic, "macAddress")), "ip_index": k,
                         "private_ip": get(ip, "privateIpAddress") or None,
                         "public_ip": get(ip, "publicIpAddress") or None,
                         "subnet_address": get(subnet, "address") or None,
                         "subnet_prefix": to_int(get(subnet, "prefix"))})
    c = get(doc, "compute")
    if isinstance(c, dict):
        comps.append({"source": source, "vm_id": get(c, "vmId") or None, "name": get(c, "name") or None,
                      "location": get(c, "location") or None, "vm_size": get(c, "vmSize") or None,
                      "os_type": get(c, "osType") or None, "az_environment": get(c, "azEnvironment") or None,
                      "resource_id": get(c, "resourceId") or None, "zone": get(c, "zone") or None})
    return nets, comps


_CUT_URL = re.compile(r'"url"\s*:\s*"([^"]+)"', re.IGNORECASE)
_CUT_STATUS = re.compile(r'"status"\s*:\s*(\d{3}|null)', re.IGNORECASE)


def parse(text: str, *, source: str) -> ParseResult:
    items, issues = load_objects(text, source=source, parser=NAME)
    envelopes = [o for o in items if isinstance(o, dict) and get(o, "url")]
    if not envelopes and issues and _CUT_URL.search(text):
        # a single envelope cut mid-write: keep what its first fields say (url, status), flag it
        st = _CUT_STATUS.search(text)
        envelopes = [{"url": _CUT_URL.search(text)[1], "status": None if not st or st[1] == "null" else int(st[1]),
                      "_cut": True}]
    cut = any(i.kind == "bad-json" for i in issues)
    for o in items:
        if not cut and not (isinstance(o, dict) and get(o, "url")):  # in a cut file, fragments are expected
            issues.append(ParseIssue(source, None, "unexpected-shape", "expected an envelope {url, status, headers, "
                                     f"body}}; found {str(o)[:80]!r}", parser=NAME))
    rows: list[dict] = []
    nets: list[dict] = []
    comps: list[dict] = []
    attests: list[dict] = []
    for o in envelopes:
        url = str(get(o, "url")).strip()
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            issues.append(ParseIssue(source, None, "unexpected-shape", f"expected an http URL; found {url!r}",
                                     parser=NAME))
            parts, host, port = urlsplit(""), None, None
        endpoint = endpoint_name(host, port)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        status = to_int(get(o, "status"))
        body = get(o, "body")
        body = "" if body is None else body if isinstance(body, str) else json.dumps(body)
        headers = _headers(get(o, "headers"))
        error = get(o, "error")
        error = None if error is None or not str(error).strip() else str(error)
        if o.get("_cut"):
            error = error or "envelope cut mid-write: only url and status could be read"
        outcome = classify(status, body, headers, error, endpoint)
        rows.append({"source": source, "line": None, "endpoint": endpoint, "url": url, "path": path or None,
                     "status": status, "ok": None if status is None else 200 <= status < 300, "outcome": outcome,
                     "error": error,
                     "elapsed_ms": to_float(get(o, "elapsed_ms")),
                     "time": parse_time(get(o, "time"), source=source, parser=NAME, issues=issues),
                     "content_type": next((v for k, v in headers.items() if k.lower() == "content-type"), None),
                     "headers": json.dumps(headers, sort_keys=True, ensure_ascii=False), "body": body,
                     "detail": detail(endpoint, path, status, body, headers, error, outcome)})
        if (endpoint == "imds" and outcome == "ok" and body
                and re.search(r"/metadata/instance(/network)?/?$", parts.path, re.IGNORECASE)):
            n, c = _imds_rows(body, parts.path, source=source, issues=issues)
            nets += n
            comps += c
        if host in ATTESTED_HOSTS and status == 200 and ATTESTED_PATH.search(parts.path or ""):
            attests.append(_attested_row(o, url, parts.query, body, rows[-1]["time"], source=source))
    df = HTTP_PROBES.from_records(rows, categories={"endpoint": ENDPOINT_NAMES, "outcome": OUTCOMES})
    return ParseResult({"http_probes": df, "imds_network": IMDS_NETWORK.from_records(nets),
                        "imds_compute": IMDS_COMPUTE.from_records(comps),
                        "imds_attestation": IMDS_ATTESTATION.from_records(attests)}, issues)


def _attested_row(envelope: dict, url: str, query: str, body: str, fetched_at, *, source: str) -> dict:
    """One ``imds_attestation`` row from a 200 answer of /metadata/attested/document."""
    from urllib.parse import parse_qs

    from ..parse import attestation

    sent = get(envelope, "nonce")
    if sent is None:
        sent = (parse_qs(query).get("nonce") or [None])[0]
    row: dict = {"source": source, "url": url, "fetched_at": fetched_at,
                 "nonce_sent": None if sent is None else str(sent), "chain": attestation.CHAIN_NOTE}
    try:
        answer = json.loads(body.lstrip("\ufeff"))
    except (ValueError, RecursionError):
        answer = None
    if not isinstance(answer, dict) or not isinstance(get(answer, "signature"), str):
        return {**row, "problems": "the answer is not the attested-data JSON {\"encoding\", \"signature\"}"}
    att = attestation.decode(get(answer, "signature"))
    enc = get(answer, "encoding")
    enc_problem = [] if enc is None or str(enc).lower() == "pkcs7" else [f"encoding is {enc!r}, not pkcs7"]
    plan = att.get("plan")
    plan_txt = ("/".join(str(plan.get(k) or "") for k in ("name", "product", "publisher"))
                if isinstance(plan, dict) and any(plan.values()) else None)

    def text(*p: str) -> str | None:
        v = att.get(*p)
        return None if v is None or v == "" else str(v)

    return {**row, "encoding": get(answer, "encoding"), "vm_id": text("vmId"),
            "subscription_id": text("subscriptionId"), "sku": text("sku"), "license_type": text("licenseType"),
            "plan": plan_txt, "nonce_signed": att.nonce, "created_on": att.created_on, "expires_on": att.expires_on,
            "signature_valid": att.signature_valid, "signer_subject": att.signer_subject,
            "signer_names": ", ".join(att.signer_names) or None, "signer_domain": att.signer_domain,
            "signer_issuer": att.signer_issuer, "signer_not_before": att.signer_not_before,
            "signer_not_after": att.signer_not_after,
            "problems": "; ".join(enc_problem + att.problems) or None,
            "document": att.content}
