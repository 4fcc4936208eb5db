"""Secrets out of everything the kit shows, and bundles that are safe to share (`vmkit redact`).

One place knows what a secret looks like in an agent bundle (:data:`RULES`); every output channel masks with it,
the same way: ``sig=<redacted>``, ``"access_token": "<redacted>"``, ``-Password <redacted>``,
``Authorization: Bearer <redacted>``, ``AccountKey=<redacted>``, ``-----BEGIN PRIVATE KEY-----<redacted>-----END
PRIVATE KEY-----``. What is evidence stays: a Key Vault secret URL, an extension name, a storage account host name,
a certificate thumbprint, the presence of protectedSettings.

* :func:`redact_text` / :func:`redact_obj` mask a string / a JSON-like value.
* :func:`redact_frame` masks the text columns of a frame (what :meth:`kit.bundle.Bundle.frame` returns unless asked
  for ``raw=True``). It is vectorised: one case-insensitive literal pre-filter over each text column (Arrow's
  regex engine), then the patterns run only on the few rows that hold a candidate.
* :func:`scan_text` names the line and kind of every secret in a text, never the secret (``vmkit redact --check``).
* :func:`redact_bundle` writes a copy of a bundle with the secrets removed and, with a :class:`Pseudonymizer`,
  subscription ids, resource/VM/host/user names and private IPs replaced consistently (HMAC keyed by a salt the
  user keeps); manifest.json's sha256 and size entries are updated for every file that changed.

The kit's own patterns cover the Azure shapes (SAS ``sig=``, storage and Service Bus connection strings,
protectedSettings, extension command lines, IMDS token answers). The generic vendor-token detectors of
`detect-secrets <https://github.com/Yelp/detect-secrets>`_ (AWS, GitHub, Slack, Stripe, JWT, basic auth, private
keys...) are used where a file is scanned or rewritten line by line (:func:`scan_text`, :func:`redact_bundle`);
they are not fast enough for every row of a million-row frame (about 30 µs a line for the regex detectors, 50 µs
more for the keyword detector), so frames rely on the kit's patterns, which include JWTs and PEM/PKCS#8/PKCS#12
private keys.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import hmac
import ipaddress
import json
import re
import secrets as _secrets
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .schema import column_arrays

MASK = "<redacted>"

_Repl = Callable[[re.Match[str]], str]


@dataclass(frozen=True)
class Rule:
    """One secret shape: ``kind`` (what ``--check`` reports), the lowercase ``literals`` one of which a text must
    contain for the pattern to be tried, the pattern, and what a match becomes."""

    kind: str
    literals: tuple[str, ...]
    regex: str
    repl: _Repl

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compile(self.regex)


@functools.cache
def _compile(regex: str, flags: int = 0) -> re.Pattern[str]:
    """Compiled on first use: importing the kit (every `vmkit` run) compiles nothing it may not need."""
    return re.compile(regex, flags)


class _Lazy:
    """A regex compiled on first use (``search``, ``finditer``, ``sub``, ``fullmatch`` are forwarded)."""

    def __init__(self, regex: str, flags: int = 0) -> None:
        self.regex, self.flags = regex, flags

    def __getattr__(self, name: str) -> Any:
        return getattr(_compile(self.regex, self.flags), name)


def _keep(*groups: int, mask_at: int | None = None) -> _Repl:
    """A replacement keeping the given groups in order and putting MASK after group ``mask_at`` (default: last)."""
    at = groups[-1] if mask_at is None else mask_at

    def repl(m: re.Match[str]) -> str:
        out = []
        for g in groups:
            out.append(m.group(g) or "")
            if g == at:
                out.append(MASK)
        return "".join(out)

    return repl


# Value shapes shared by the command-line and key=value rules: a quoted value (a double-quoted one must end where
# a word would: else the quotes are a JSON string's end and the next one's start), a JSON-escaped quoted value
# (\"...\" inside a JSON string) or a bare token. A bare token ends at whitespace, quotes, a backslash (the
# start of a JSON escape) and the separators of connection strings and query strings.
_VALUE = (r"""(?!<redacted>)(?:'[^'\n]*'|"[^"\n]*"(?=[\s;,)\]}]|$)|\\"(?:[^"\\\n]|\\[^"\n])*"""
          r"""\\"|[^\s"',;&\\<>|]+?(?=[\]})]*(?:[\s"',;&\\<>|]|$)))""")
_SECRET_WORDS = (r"password|passwd|pwd|passphrase|secret|token|accountkey|accesskey|sharedaccesskey|sharedkey|"
                 r"secretkey|apikey|api_key|clientsecret|client_secret|sastoken|sas_token")
_JSON_KEY = (r"[A-Za-z0-9_]*(?:password|passwd|pwd|passphrase|secret|token|connectionstring|accountkey|accesskey|"
             r"primarykey|secondarykey|sharedaccesskey|sharedkey|apikey|api_key|privatekey|private_key|secretkey|pfx|"
             r"protectedsettings)")


def _variants(words: tuple[str, ...], ends: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(w + e for w in words for e in ends)


# Pre-filter literals: a secret word followed by what introduces its value. "key", "secret" and "token" alone are
# everywhere in agent logs (KeyVault, /secrets/ URLs, "Getting token"); these forms are rare.
_CMD_WORDS = ("password", "passwd", "pwd", "passphrase", "secret", "token", "accountkey", "accesskey", "sharedkey",
              "apikey", "secretkey")
_KV_WORDS = (*_CMD_WORDS, "sharedaccesskey", "api_key", "clientsecret", "client_secret", "sastoken", "sas_token")
_JSON_LITERALS = _variants(("password", "passwd", "pwd", "passphrase", "secret", "token", "key", "pfx",
                            "protectedsettings", "connectionstring"), ('"', '\\"'))
# A PEM body: base64, whitespace, header punctuation, and the JSON escapes of a newline (\\n, \\r, \\/); never a
# backslash that escapes a quote (the end of the JSON string the key sits in)
_PEM_BODY = r"(?:[A-Za-z0-9+/=\s:,.\-]|\\[nr/\\])"

RULES: tuple[Rule, ...] = (
    Rule("private-key (PEM)", ("private key",),
         (r"-----BEGIN (?P<label>[A-Z0-9 ]*PRIVATE KEY[A-Z ]*)-----(?!<redacted>)" + _PEM_BODY +
                    r"*?(?:-----END (?P=label)-----|(?!" + _PEM_BODY + r")|\Z)"),
         lambda m: f"-----BEGIN {m.group('label')}-----{MASK}-----END {m.group('label')}-----"),
    # DER private keys in base64, recognised by their ASN.1 start, not by length or entropy: PKCS#12 (PFX,
    # SEQUENCE { INTEGER 3, SEQUENCE ...}), PKCS#8 (SEQUENCE { INTEGER 0, SEQUENCE ...}) and PKCS#1 RSA keys
    # (SEQUENCE { INTEGER 0, INTEGER ...}). Certificates (SEQUENCE { SEQUENCE ...}) and CMS blobs such as IMDS
    # attested data (SEQUENCE { OID ...}) do not match: they are evidence.
    Rule("private-key (PKCS#12/PKCS#8 base64)", ("mii", "mig"),
         (r"(?<![A-Za-z0-9+/])(?:MII[A-Za-z0-9+/]{2}[AQgw]IBA[zDA]|MIG[A-Za-z0-9+/]AgE[AD])"
                    r"[A-Za-z0-9+/]{40,}={0,2}"),
         lambda m: MASK),
    Rule("jwt", ("eyj",),
         (r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
         lambda m: MASK),
    # "access_token": "...", also inside a JSON string (\"access_token\":\"...\") as in an HTTP probe's body
    Rule("json-secret-value", _JSON_LITERALS,
         (r'(?i)("' + _JSON_KEY + r'"\s*:\s*")(?!<redacted>")((?:[^"\\]|\\.)+)(")'),
         lambda m: m.group(1) + MASK + m.group(3)),
    Rule("json-secret-value", _JSON_LITERALS,
         (r'(?i)(\\"' + _JSON_KEY + r'\\"\s*:\s*\\")(?!<redacted>\\")((?:[^"\\]|\\\\|\\[^"\\])+)(\\")'),
         lambda m: m.group(1) + MASK + m.group(3)),
    Rule("connection-string-secret", ("sharedaccesssignature=",),
         (r"(?i)(?<![A-Za-z0-9_])(SharedAccessSignature=)(?!<redacted>)[^;\"'\s<>\\]+"), _keep(1)),
    Rule("sas-signature", ("sig=",),
         (r"(?i)(?<![A-Za-z0-9_])(sig=)(?!<redacted>)[^&\s\"'<>;,\\|]+"), _keep(1)),
    Rule("authorization-header", ("authorization",),
         (r"(?i)(?<![A-Za-z0-9_])(authorization\\?\"?\s*[:=]\s*\\?\"?\s*)"
                    r"(?:(bearer|basic|negotiate|ntlm|sharedkey|sharedkeylite|sharedaccesssignature|digest)\s+)?"
                    r"(?!<redacted>)([^\s\"',;\\]{16,}|(?<=\s)[^\s\"',;\\]+(?=\s*$|[\s\"',;\\]))"),
         lambda m: m.group(1) + (m.group(2) + " " if m.group(2) else "") + MASK
         if m.group(2) or len(m.group(3)) >= 16 else m.group(0)),
    Rule("bearer-token", ("bearer",),
         (r"(?i)(?<![A-Za-z0-9_])(bearer\s+)(?!<redacted>)[A-Za-z0-9\-._~+/]{16,}=*"), _keep(1)),
    Rule("url-credentials", ("@",),
         (r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@\"'<>]+:)(?!<redacted>@)([^/\s@\"'<>]+)(@)"),
         lambda m: m.group(1) + MASK + m.group(3)),
    # -Password x, --password=x, -StorageAccountKey 'x' (PowerShell and other command lines)
    Rule("command-line-secret", _variants(_CMD_WORDS, (" ", "\t", ":", "=")),
         (r"(?i)(?<![\w-])(--?[A-Za-z]*(?:password|passwd|pwd|passphrase|secret|token|accountkey|"
                    r"accesskey|sharedkey|apikey|secretkey)(?:\s*[:=]\s*|\s+))" + _VALUE),
         _keep(1)),
    # /p:x, /password:x (msbuild, msdeploy, cmdkey, net use /p:...)
    Rule("command-line-secret", ("/p:", "/p=", "/pw:", "/pw=", "/pwd:", "/pwd=", "/pass", "/rp:", "/rp="),
         (r"(?i)(?<![\w/])(/(?:p|pw|pwd|pass|password|passwd|rp)[:=])" + _VALUE), _keep(1)),
    # password=x, AccountKey=x;, ?token=x& (connection strings, query strings, command lines)
    Rule("key-value-secret", _variants(_KV_WORDS, ("=", " =")),
         (r"(?i)(?<![\w.\-/])([A-Za-z0-9_.\-]*(?:" + _SECRET_WORDS + r")\s*=\s*)" + _VALUE), _keep(1)),
)

_LITERALS: tuple[str, ...] = tuple(sorted({lit for r in RULES for lit in r.literals}))
#: One case-insensitive regex that matches wherever any rule's literal occurs (a superset: tests check it), in a
#: factored form that Arrow's RE2 runs faster than the flat alternation of every literal.
PREFILTER = ("(?:" + "|".join(sorted({*_CMD_WORDS, *_KV_WORDS, "passphrase"}, key=len, reverse=True)) +
             r')(?:[ \t:="]| =|\\")|(?:key|pfx|protectedsettings|connectionstring)(?:"|\\")'
             r"|/(?:p|pw|pwd|rp)[:=]|/pass|@|authorization|bearer|eyj|mig|mii|private key|sharedaccesssignature=|sig=")
_PREFILTER_RE = _Lazy(PREFILTER, re.IGNORECASE)
#: Every rule literal contains one of these (tests check it): a text holding none of them is clean, and ``in`` on a
#: lowercased string costs a fraction of one regex search.
_ANCHORS = ("sig=", "pass", "pwd", "secret", "token", "key", "pfx", "protectedsettings", "connectionstring", "/p",
            "/rp", "@", "authorization", "bearer", "eyj", "mig", "mii", "sharedaccess")
#: Below this many cells, a frame is pre-filtered in Python: each Arrow regex call compiles RE2 anew and builds its
#: DFA while matching, a few milliseconds that only pay off on large columns.
_ARROW_MIN_CELLS = 20_000


@functools.cache
def _by_anchor() -> dict[str, tuple[str, ...]]:
    return {a: tuple(lit for lit in _LITERALS if a in lit) for a in _ANCHORS}


def might_hold_secret(text: str) -> bool:
    """Cheap test: False means no rule can match ``text`` (no rule's literal occurs in it). Substring tests only:
    Python's regex engine would try a 40-way alternation at every position."""
    low = text.lower()
    lits = _by_anchor()
    return any(lit in low for a in _ANCHORS if a in low for lit in lits[a])


def redact_text(text: str) -> str:
    """``text`` with every secret masked (see :data:`RULES`); the same object when nothing matched."""
    if not isinstance(text, str) or not text or not might_hold_secret(text):
        return text
    low = text.lower()
    out = text
    for rule in RULES:
        if any(lit in low for lit in rule.literals):
            new = rule.pattern.sub(rule.repl, out)
            if new is not out and new != out:
                out = new
                low = out.lower()
    return text if out == text else out


def redact_obj(obj: Any) -> Any:
    """A JSON-like value (dicts, lists, strings) with every string redacted; keys are kept."""
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, dict):
        return {k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v) for v in obj]
    return obj


def _is_text_dtype(dtype: Any) -> bool:
    return isinstance(dtype, pd.StringDtype) or dtype is object or str(dtype) == "object"


def _is_arrow_str(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow"


def _arrow_hits(cols: list[pd.Series]) -> list[np.ndarray] | None:
    """Pre-filter of several Arrow string columns in one Arrow RE2 call (case-insensitive, on the columns' own
    buffers; pandas' ``str.contains(case=False)`` would fall back to Python). None when Arrow refuses."""
    try:
        chunks: list[pa.Array] = []
        for s in cols:
            arr = pa.array(s.array)
            for c in arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]:
                chunks.append(c if c.type == pa.large_string() else c.cast(pa.large_string()))
        ca = pa.chunked_array(chunks, type=pa.large_string())
        if ca.num_chunks > 16:
            ca = ca.combine_chunks()
        found = pc.fill_null(pc.match_substring_regex(ca, PREFILTER, ignore_case=True), False)
        flat = found.to_numpy(zero_copy_only=False).astype(bool, copy=False)
    except (pa.ArrowException, TypeError, ValueError):  # pragma: no cover - the Python path is the same test
        return None
    bounds = np.cumsum([0] + [len(s) for s in cols])
    return [flat[bounds[i]:bounds[i + 1]] for i in range(len(cols))]


def _python_hits(s: pd.Series) -> np.ndarray:
    return np.fromiter((isinstance(v, str) and might_hold_secret(v) for v in s.tolist()), bool, len(s))


def _apply(s: pd.Series, hit: np.ndarray) -> pd.Series:
    """``s`` with the rows flagged by the pre-filter redacted; the same object when none changed."""
    if not hit.any():
        return s
    pos = hit.nonzero()[0]
    old = s.iloc[pos].tolist()
    new = [redact_text(v) if isinstance(v, str) else redact_obj(v) for v in old]
    changed = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a is not b and a != b]
    if not changed:
        return s
    out = s.copy()
    out.iloc[pos[changed]] = [new[i] for i in changed]
    return out


def _redact_categorical(s: pd.Series) -> pd.Series:
    cats = s.cat.categories
    if not _is_text_dtype(cats.dtype) or len(cats) == 0:
        return s
    new = [redact_text(c) if isinstance(c, str) else c for c in cats]
    if all(a == b for a, b in zip(new, cats, strict=True)):
        return s
    if len(set(new)) == len(new):
        return s.cat.rename_categories(new)
    return s.astype(object).map(lambda v: redact_text(v) if isinstance(v, str) else v).astype(
        pd.CategoricalDtype(ordered=s.dtype.ordered))


def redact_series(s: pd.Series) -> pd.Series:
    """``s`` with secrets masked; the same object when nothing changed. Only rows passing the literal pre-filter are
    looked at in Python."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return _redact_categorical(s)
    if not _is_text_dtype(s.dtype) or s.empty:
        return s
    hits = _arrow_hits([s]) if _is_arrow_str(s) and len(s) >= _ARROW_MIN_CELLS // 4 else None
    return _apply(s, hits[0] if hits is not None else _python_hits(s))


def _all_text(arrays: list) -> str:
    """Text that holds every string of the column ``arrays`` (text, object or categorical) as a substring, so that
    :func:`might_hold_secret` of it is False only when it is False for each of them. An Arrow string column gives its
    value buffers (every value's characters back to back) instead of a Python string per value: ~10x cheaper, and a
    superset (bytes of sliced-off values, a literal across two values) costs at most the exact per-value test."""
    parts: list[str] = []
    for arr in arrays:
        if isinstance(arr.dtype, pd.CategoricalDtype):
            values = arr.categories.tolist()
        elif isinstance(arr, pd.arrays.ArrowStringArray):
            pa_arr = pa.array(arr)
            chunks = pa_arr.chunks if isinstance(pa_arr, pa.ChunkedArray) else [pa_arr]
            if all(c.type in (pa.string(), pa.large_string()) for c in chunks):
                parts += [d.to_pybytes().decode("utf-8", "replace") for c in chunks if (d := c.buffers()[2])]
                continue
            values = arr.tolist()
        else:
            values = arr.tolist()
        parts += [v for v in values if isinstance(v, str)]
    return "\n".join(parts)


def redact_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with secrets masked in its text columns (str, object, categories of str); the same object when
    nothing changed, else a shallow copy with only the changed columns replaced (dtypes kept). All Arrow string
    columns of a large frame are pre-filtered in one Arrow call."""
    if df.empty:
        return df
    if df.columns.is_unique:  # small and clean (most frames): one test over all the frame's text, column arrays only
        arrays = [a for a in column_arrays(df) if _is_text_dtype(a.dtype) or isinstance(a.dtype, pd.CategoricalDtype)]
        if not arrays or (len(arrays) * len(df) < _ARROW_MIN_CELLS and not might_hold_secret(_all_text(arrays))):
            return df
    cols = [c for c, dt in df.dtypes.items() if _is_text_dtype(dt) or isinstance(dt, pd.CategoricalDtype)]
    if not cols:
        return df
    if len(cols) * len(df) < _ARROW_MIN_CELLS:  # small: one Python test over all the frame's text first
        cells: list[str] = []
        for c in cols:
            s = df[c]
            vals = s.cat.categories.tolist() if isinstance(s.dtype, pd.CategoricalDtype) else s.tolist()
            cells += [v for v in vals if isinstance(v, str)]
        if not might_hold_secret("\n".join(dict.fromkeys(cells))):  # each distinct value once
            return df
    arrow = [c for c in cols if _is_arrow_str(df[c])]
    hits: dict[Any, np.ndarray] = {}
    if arrow and len(arrow) * len(df) >= _ARROW_MIN_CELLS:
        found = _arrow_hits([df[c] for c in arrow])
        if found is not None:
            hits = dict(zip(arrow, found, strict=True))
    out = None
    for col in cols:
        s = df[col]
        if col in hits:
            new = _apply(s, hits[col])
        elif isinstance(s.dtype, pd.CategoricalDtype):
            new = _redact_categorical(s)
        else:
            new = _apply(s, _python_hits(s))
        if new is not s:
            if out is None:
                out = df.copy(deep=False)
            out[col] = new
    return df if out is None else out


def redacted_frame(owner: object, name: str, df: pd.DataFrame) -> pd.DataFrame:
    """:func:`redact_frame`, cached on ``owner`` (a Bundle) per frame name as long as the raw frame is the same
    object, so diagnosis reading a frame many times pays once."""
    cache: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = owner.__dict__.setdefault("_redacted_frames", {})
    hit = cache.get(name)
    if hit is not None and hit[0] is df:
        return hit[1]
    red = redact_frame(df)
    cache[name] = (df, red)
    return red


# -- scanning (vmkit redact --check) ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    """A secret found: where (line is 1-based) and what kind; never the secret."""

    path: str
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}"


# detect-secrets detectors that are not used: the keyword detector (slow, and it flags code), the public-IP
# detector (168.63.129.16 is public and is evidence), the entropy detectors (thumbprints, hashes, ids)
_DS_SKIP = {"KeywordDetector", "IPPublicDetector", "Base64HighEntropyString", "HexHighEntropyString"}


@functools.lru_cache(maxsize=1)
def _ds_plugins() -> tuple[Any, ...] | None:
    """detect-secrets' regex detectors, or None when the package is not installed."""
    try:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    except ImportError:
        return None
    out = []
    for cls in get_mapping_from_secret_type_to_class().values():
        if cls.__name__ in _DS_SKIP:
            continue
        try:
            out.append(cls())
        except Exception:  # pragma: no cover - a plugin needing configuration
            continue
    return tuple(out)


def detect_secrets_available() -> bool:
    return _ds_plugins() is not None


def _ds_findings(line: str) -> list[tuple[str, str]]:
    """(kind, secret value) found by detect-secrets in one line; values that are already masked are skipped."""
    plugins = _ds_plugins()
    if not plugins:
        return []
    out = []
    for p in plugins:
        try:
            found = list(p.analyze_string(line))
        except Exception:  # pragma: no cover - a detector bug must not stop a scan
            continue
        for value in found:
            if value and MASK not in value and MASK[1:-1] not in value:
                out.append((f"{p.secret_type} (detect-secrets)", value))
    return out


def scan_text(text: str, path: str = "<text>") -> list[Hit]:
    """Every secret in ``text``: its line and kind (the kit's rules, then detect-secrets' detectors)."""
    hits: set[tuple[int, str]] = set()
    low = text.lower()
    starts: list[int] | None = None

    def line_of(pos: int) -> int:
        nonlocal starts
        if starts is None:
            starts = [m.start() for m in re.finditer("\n", text)]
        return bisect.bisect_left(starts, pos) + 1

    for rule in RULES:
        if not any(lit in low for lit in rule.literals):
            continue
        for m in rule.pattern.finditer(text):
            if rule.repl(m) != m.group(0):
                kind = rule.kind
                if kind == "json-secret-value":  # name the key (protectedSettings, access_token): it is no secret
                    kind += f" ({m.group(1).strip().lstrip(chr(92)).split(chr(34))[1].strip(chr(92))})"
                hits.add((line_of(m.start()), kind))
    if _ds_plugins():
        for i, line in enumerate(text.splitlines(), 1):
            for kind, _ in _ds_findings(line):
                hits.add((i, kind))
    return [Hit(path, ln, kind) for ln, kind in sorted(hits)]


# -- pseudonyms ------------------------------------------------------------------------------------------------------
#: Addresses of the platform and the machine itself: never pseudonymized (they are what the diagnosis is about).
PLATFORM_ADDRESSES = frozenset({"168.63.129.16", "169.254.169.254", "169.254.169.253", "127.0.0.1"})
#: Private ranges and how many leading bits are kept (the range itself).
_PRIVATE = ((ipaddress.ip_network("10.0.0.0/8"), 8), (ipaddress.ip_network("172.16.0.0/12"), 12),
            (ipaddress.ip_network("192.168.0.0/16"), 16))
_IPV4 = _Lazy(r"(?<![\d.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_RESOURCE_ID = _Lazy(r"(?i)/subscriptions/(" + _GUID + r")((?:/[^/\s\"'\\?#<>,;]+)*)")
_ID_KEYS = _Lazy(r'(?i)\\?"(subscriptionId|vmId|vm_id|tenantId|tenant_id|clientId|client_id|msiClientId|'
                     r'principalId|objectId|object_id|oid|appid)\\?"\s*:\s*\\?"(' + _GUID + r')\\?"'
                     r"|(?<![A-Za-z0-9_])(?:appid|oid|tid|client_id|object_id|principal_id)=(" + _GUID + r")")
_NAME_KEYS = _Lazy(r'(?i)\\?"(computerName|computer_name|host|vmScaleSetName|resourceGroupName|'
                        r'adminUsername)\\?"\s*:\s*\\?"([^"\\]{2,})\\?"')
_HOST_NAME_LINE = _Lazy(r"(?m)^\s*Host Name[ .]*:\s*(\S+)\s*$")  # ipconfig /all, English label only
_USER_PATH = _Lazy(r"(?i)[\\/]Users[\\/]+([^\\/\s\"'<>:*?|]+)")
_CUSTOMER_HOST = _Lazy(
    r"(?i)(?<![A-Za-z0-9.-])([a-z0-9][a-z0-9-]{1,62})\.((?:vault|managedhsm)\.(?:azure\.net|usgovcloudapi\.net|"
    r"azure\.cn)|(?:blob|file|queue|table|dfs)\.core\.(?:windows\.net|usgovcloudapi\.net|chinacloudapi\.cn))\b")
#: Default profiles and built-in accounts: not a person's name.
_COMMON_USERS = {"public", "default", "default user", "all users", "defaultuser0", "administrator", "administrators",
                 "system", "localsystem", "networkservice", "localservice", "guest", "defaultapppool"}
#: Resource types whose instance names are evidence (an extension's name says what ran), not identity.
_KEEP_TYPES = {"extensions"}
_PREFIX = {"vm": "vm-", "host": "host-", "rg": "rg-", "res": "res-", "user": "user-", "kv": "kv", "st": "st"}
#: Which kind names a value when it was seen as several (a VM name that is also the host name is a VM name).
_KIND_ORDER = ("vm", "host", "rg", "kv", "st", "res", "user")


@dataclass
class Pseudonymizer:
    """Consistent replacement names, keyed by a salt: the same value gives the same pseudonym with the same salt
    (in every bundle), another with another salt. :meth:`learn` every text first, then :meth:`apply`."""

    salt: bytes
    names: dict[str, str] = field(default_factory=dict)  # lowercase value -> kind
    guids: set[str] = field(default_factory=set)  # lowercase
    _compiled: re.Pattern[str] | None = None
    _map: dict[str, str] | None = None

    def _h(self, kind: str, value: str, n: int) -> str:
        return hmac.new(self.salt, f"{kind}:{value.lower()}".encode(), hashlib.sha256).hexdigest()[:n]

    def _add_name(self, value: str, kind: str) -> None:
        v = value.strip().strip(".").lower()
        if len(v) < 3 or v in _COMMON_USERS or v in PLATFORM_ADDRESSES or _IPV4.fullmatch(v):
            return
        old = self.names.get(v)
        if old is None or _KIND_ORDER.index(kind) < _KIND_ORDER.index(old):
            self.names[v] = kind
        self._compiled = None

    def learn(self, text: str, *, path: str = "") -> None:
        """Collect the identifying values ``text`` holds (resource ids, VM/host/user names, vault and storage
        account names, subscription/VM/tenant ids)."""
        for m in _RESOURCE_ID.finditer(text):
            self.guids.add(m.group(1).lower())
            parts = [p for p in m.group(2).split("/") if p]
            i = 0
            while i + 1 < len(parts):
                typ, name = parts[i], parts[i + 1]
                if typ.lower() == "resourcegroups":
                    self._add_name(name, "rg")
                elif typ.lower() == "providers":
                    i += 2  # "providers" and the namespace (Microsoft.Compute): what follows is type/name pairs
                    continue
                elif typ.lower() not in _KEEP_TYPES:
                    self._add_name(name, "vm" if typ.lower() == "virtualmachines" else "res")
                i += 2
        for m in _ID_KEYS.finditer(text):
            self.guids.add((m.group(2) or m.group(3)).lower())
        for m in _NAME_KEYS.finditer(text):
            key = m.group(1).lower()
            if key == "host" and not path.lower().endswith("manifest.json"):
                continue
            kind = {"resourcegroupname": "rg", "adminusername": "user", "vmscalesetname": "res"}.get(key, "vm")
            self._add_name(m.group(2), kind)
        for m in _HOST_NAME_LINE.finditer(text):
            self._add_name(m.group(1), "host")
        for m in _USER_PATH.finditer(text):
            self._add_name(m.group(1), "user")
        for m in _CUSTOMER_HOST.finditer(text):
            self._add_name(m.group(1), "kv" if "vault" in m.group(2).lower() or "hsm" in m.group(2).lower()
                           else "st")

    def pseudonym(self, value: str) -> str:
        """The replacement of one learned name or GUID."""
        v = value.lower()
        if v in self.guids:
            h = self._h("guid", v, 32)
            h = h[:12] + "4" + h[13:16] + "8" + h[17:]
            return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        kind = self.names[v]
        if kind in ("kv", "st"):  # vault names: 3-24 alphanumerics and hyphens; storage accounts: lowercase alnum
            return _PREFIX[kind] + self._h(kind, v, 10)
        return _PREFIX[kind] + self._h(kind, v, 6)

    def private_ip(self, ip: str) -> str:
        """A private IPv4 address mapped prefix-preservingly inside its range (two addresses that share their first
        n bits still do, so subnets and gateways keep their relations); the last octet is kept. Others unchanged."""
        try:
            a = ipaddress.IPv4Address(ip)
        except ValueError:
            return ip
        if ip in PLATFORM_ADDRESSES:
            return ip
        keep = next((k for net, k in _PRIVATE if a in net), None)
        if keep is None:
            return ip
        bits = int(a)
        out = bits
        for i in range(keep, 24):  # bits counted from the most significant; 24..31 (the last octet) are kept
            prefix = bits >> (32 - i)
            flip = hmac.new(self.salt, f"ip:{i}:{prefix}".encode(), hashlib.sha256).digest()[0] & 1
            out ^= flip << (31 - i)
        return str(ipaddress.IPv4Address(out))

    def _pattern(self) -> re.Pattern[str] | None:
        if self._compiled is None:
            values = sorted(set(self.names) | self.guids, key=len, reverse=True)
            if not values:
                return None
            self._compiled = re.compile(r"(?i)(?<![A-Za-z0-9_])(?:" + "|".join(re.escape(v) for v in values) +
                                        r")(?![A-Za-z0-9_])")
        return self._compiled

    def apply(self, text: str) -> str:
        """``text`` with every learned value and every private IPv4 address replaced."""
        pat = self._pattern()
        if pat is not None:
            text = pat.sub(lambda m: self.pseudonym(m.group(0)), text)

        def ip(m: re.Match[str]) -> str:
            octets = [int(g) for g in m.groups()]
            if any(o > 255 for o in octets):
                return m.group(0)
            return self.private_ip(m.group(0))

        return _IPV4.sub(ip, text)


def load_salt(path: str | Path) -> tuple[bytes, bool]:
    """The salt kept in ``path``; created (32 random bytes, hex) when the file does not exist. Returns
    (salt, created)."""
    p = Path(path)
    if p.exists():
        data = p.read_text(encoding="ascii").strip()
        if len(data) < 16:
            raise ValueError(f"{p}: expected a salt of at least 16 characters, found {len(data)}")
        return data.encode("ascii"), False
    salt = _secrets.token_hex(32)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(salt + "\n", encoding="ascii")
    with contextlib.suppress(OSError):  # file systems without modes
        p.chmod(0o600)
    return salt.encode("ascii"), True


# -- bundles ---------------------------------------------------------------------------------------------------------
@dataclass
class RedactionReport:
    """What :func:`redact_bundle` did."""

    output: Path
    files: int = 0
    changed: list[str] = field(default_factory=list)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    hashes_updated: int = 0
    manifest_note: str | None = None
    pseudonyms: int = 0


def _encode(text: str, encoding: str, bom: bool) -> bytes:
    """``text`` in the encoding it was read in (a Windows code page such as cp850 or cp932 too), so a rewritten file
    decodes as its original did; UTF-8 when that codec cannot hold a replacement (pseudonyms are ASCII)."""
    if encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + text.encode("utf-8", errors="surrogatepass")
    if encoding.startswith("utf-16"):
        enc = "utf-16-le" if encoding == "utf-16-le" else "utf-16-be"
        prefix = (b"\xff\xfe" if enc == "utf-16-le" else b"\xfe\xff") if bom else b""
        return prefix + text.encode(enc, errors="surrogatepass")
    try:
        return text.encode(encoding)
    except (LookupError, UnicodeEncodeError):
        return text.encode("utf-8", errors="surrogatepass")


def _looks_binary(text: str) -> bool:
    """Decoded text that is mostly control characters is not text (NUL padding, which Windows writes into status
    files, is removed by :func:`kit.textio.decode` and does not count)."""
    head = text[:8192]
    ctrl = sum(1 for ch in head if ord(ch) < 32 and ch not in "\t\r\n\f\v")
    return bool(head) and ctrl > len(head) // 50


def redact_file_text(text: str, pseudo: Pseudonymizer | None = None) -> str:
    """A whole file's text with secrets masked (the kit's rules, then detect-secrets' line detectors) and, with a
    pseudonymizer, names and private addresses replaced."""
    out = redact_text(text)
    if _ds_plugins():
        lines = out.split("\n")
        for i, line in enumerate(lines):
            for _, value in _ds_findings(line):
                line = line.replace(value, MASK)
            lines[i] = line
        out = "\n".join(lines)
    if pseudo is not None:
        out = pseudo.apply(out)
    return out


def _iter_source(path: Path):
    from .bundle.safezip import DEFAULT_MAX_FILE, DEFAULT_MAX_TOTAL
    from .bundle.sources import FolderSource, ZipSource

    if path.is_dir():
        return FolderSource(path), DEFAULT_MAX_FILE
    return ZipSource(path, max_total_bytes=DEFAULT_MAX_TOTAL, max_file_bytes=DEFAULT_MAX_FILE), DEFAULT_MAX_FILE


def redact_bundle(path: str | Path, output: str | Path, *, pseudonymize: bool = False,
                  salt: bytes | None = None) -> RedactionReport:
    """Write ``output`` (a zip): the bundle at ``path`` (folder or zip) with secrets removed and, with
    ``pseudonymize`` (needs ``salt``), identifying names and private addresses replaced. Files that are not text are
    dropped (they cannot be checked); manifest.json's sha256 and size entries are updated for every changed file.
    """
    from .bundle.sources import TooLarge
    from .errors import BundleError, UnsafeArchiveError
    from .textio import decode

    src_path, out = Path(path), Path(output)
    if not src_path.exists():
        raise BundleError(f"{src_path}: no such folder or file")
    if pseudonymize and not salt:
        raise ValueError("pseudonymize needs a salt")
    src, limit = _iter_source(src_path)
    report = RedactionReport(out)
    try:
        entries = src.list()
        texts: dict[str, tuple[str, Any, bytes]] = {}
        for e in entries:
            try:
                data = src.read(e.path, limit)
            except (OSError, UnsafeArchiveError, TooLarge) as exc:
                report.dropped.append((e.path, f"could not be read ({type(exc).__name__})"))
                continue
            dec = decode(data)
            if _looks_binary(dec.text):
                report.dropped.append((e.path, "not text: it cannot be checked for secrets"))
                continue
            texts[e.path] = (dec.text, dec, data)
        for rel, why in src.refused:
            report.dropped.append((rel, why))
    finally:
        src.close()

    pseudo = Pseudonymizer(salt) if pseudonymize and salt else None
    if pseudo is not None:
        for name, (text, _, _) in texts.items():
            pseudo.learn(text, path=name)
            pseudo.learn(name, path=name)
        report.pseudonyms = len(pseudo.names) + len(pseudo.guids)

    new_files: dict[str, bytes] = {}
    renamed: dict[str, str] = {}
    manifest_name = None
    for name, (text, dec, data) in texts.items():
        new_name = pseudo.apply(name) if pseudo is not None else name
        renamed[name] = new_name
        if name.rsplit("/", 1)[-1].lower() == "manifest.json" and (manifest_name is None
                                                                 or name.count("/") < manifest_name.count("/")):
            manifest_name = name
        red = redact_file_text(text, pseudo)
        if red == text:
            new_files[new_name] = data
        else:
            new_files[new_name] = _encode(red, dec.encoding, dec.bom)
            report.changed.append(name)
    report.files = len(new_files)

    if manifest_name is not None:
        _update_manifest(manifest_name, renamed, new_files, report, pseudo)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(new_files):
            zf.writestr(name, new_files[name])
    tmp.replace(out)
    return report


def _update_manifest(manifest_name: str, renamed: dict[str, str], files: dict[str, bytes],
                     report: RedactionReport, pseudo: Pseudonymizer | None) -> None:
    """sha256 and size of every changed file; entries of dropped files become ``skipped`` with the reason."""
    from .textio import decode

    new_manifest = renamed[manifest_name]
    root = new_manifest[: -len("manifest.json")]
    try:
        doc = json.loads(decode(files[new_manifest]).text)
    except (ValueError, RecursionError):
        report.manifest_note = ("manifest.json is not JSON (or nested too deep to read): its sha256 entries could "
                                "not be updated")
        return
    arts = doc.get("artifacts") if isinstance(doc, dict) else None
    if not isinstance(arts, list):
        report.manifest_note = "manifest.json has no artifacts list: nothing to update"
        return
    by_lower = {k.lower(): k for k in files}
    changed = {renamed[n].lower() for n in report.changed}
    dropped = {(pseudo.apply(p) if pseudo is not None else p).lower(): why for p, why in report.dropped}
    for a in arts:
        if not isinstance(a, dict) or not isinstance(a.get("path"), str):
            continue
        full = (root + a["path"].replace("\\", "/")).lower()
        key = by_lower.get(full)
        if key is None:
            if full in dropped and a.get("status") in ("collected", "truncated"):
                a["status"], a["note"] = "skipped", f"removed by vmkit redact: {dropped[full]}"
                report.hashes_updated += 1
            continue
        if key.lower() not in changed:  # unchanged bytes: the manifest's hash stays, matching or not (a mismatch
            continue                     # that was there says the file changed after collection: keep saying it)
        data = files[key]
        digest = hashlib.sha256(data).hexdigest()
        if a.get("sha256") and str(a["sha256"]).lower() != digest:
            a["sha256"] = digest
            if isinstance(a.get("size"), int):
                if a.get("original_size") == a["size"]:
                    a["original_size"] = len(data)
                a["size"] = len(data)
            report.hashes_updated += 1
    doc["redaction"] = {"secrets_removed": True, "pseudonymized": bool(report.pseudonyms),
                        "files_changed": len(report.changed), "note": "rewritten by vmkit redact; sha256 and size "
                        "of changed files updated, files that are not text removed (status skipped)"}
    files[new_manifest] = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def scan_path(path: str | Path) -> list[Hit]:
    """Every secret in a file, a folder or a zip (bundle): file, line and kind, never the value."""
    from .bundle.sources import TooLarge
    from .errors import BundleError, UnsafeArchiveError
    from .textio import decode

    p = Path(path)
    if not p.exists():
        raise BundleError(f"{p}: no such folder or file")
    if p.is_file() and not zipfile.is_zipfile(p):
        return scan_text(decode(p.read_bytes()).text, str(p))
    src, limit = _iter_source(p)
    hits: list[Hit] = []
    try:
        for e in src.list():
            try:
                data = src.read(e.path, limit)
            except (OSError, UnsafeArchiveError, TooLarge):
                hits.append(Hit(e.path, 0, "unreadable: not checked"))
                continue
            hits += scan_text(decode(data).text, e.path)
    finally:
        src.close()
    return hits


__all__ = ["MASK", "PLATFORM_ADDRESSES", "RULES", "Hit", "Pseudonymizer", "RedactionReport", "load_salt",
           "redact_bundle", "redact_frame", "redact_obj", "redact_series", "redact_text", "scan_path", "scan_text"]
