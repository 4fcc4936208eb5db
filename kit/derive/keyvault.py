"""``keyvault_certificates``: the Key Vault VM extension's settings, one row per observed certificate.

    >>> bundle.frame("keyvault_certificates")        # computed once per bundle (kit.derive)
"""

from __future__ import annotations

import functools
import json
import re
from collections import namedtuple
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from ..schema import LINE, SOURCE, Col, FrameSchema, categorical
from .filters import contains, keep
from .operations import row_values

# -------------------------------------------------------------------------------------------------- Key Vault
#: Publisher.Type of the Key Vault VM extension (Windows; Linux for mixed fleets).
KEYVAULT_EXTENSION = re.compile(r"^Microsoft\.Azure\.KeyVault\.KeyVaultFor(?:Windows|Linux)$", re.IGNORECASE)
#: Key Vault DNS suffixes: public cloud, 21Vianet, US Government, Germany.
VAULT_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,22}[a-z0-9])\.vault\.(?:azure\.net|azure\.cn|usgovcloudapi\.net|"
                        r"microsoftazure\.de)$", re.IGNORECASE)
_OBJECT_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
STORE_LOCATIONS = ("LocalMachine", "CurrentUser")

KEYVAULT_CERTIFICATES = FrameSchema(
    "keyvault_certificates",
    "The Key Vault VM extension's public settings, one row per observed certificate (derived from `ext_settings` by "
    "`kit.derive.keyvault.keyvault_certificates`). Version 1.x writes the store and the URLs as a string list in "
    "secretsManagementSettings; 3.x+ writes one object per certificate with its own store. A settings block "
    "without observed certificates gives one row with `url` NA.",
    (SOURCE, LINE,
     Col("extension", "str", "Publisher.Type (from the path)."),
     Col("ext_version", "str", "Handler version (from the path)."),
     Col("seq", "Int64", "Settings sequence number."),
     Col("settings_as_string", "bool", "publicSettings arrived as an escaped JSON string (not an object); the "
         "other columns show what that string holds when it is JSON.", False),
     Col("schema", "category", "`list` (1.x: observedCertificates is a list of URLs), `objects` (3.x+) or NA.", True),
     Col("cert_index", "Int64", "Index in observedCertificates."),
     Col("url", "str", "The observed certificate URL."),
     Col("url_problem", "str", "Why the URL is not `https://<vault>.vault.azure.net/secrets/<name>`; NA when it is."),
     Col("certificate_store_name", "str", "certificateStoreName (per certificate in 3.x, global in 1.x)."),
     Col("certificate_store_location", "str", "certificateStoreLocation as written (exactly LocalMachine or "
         "CurrentUser; case-sensitive)."),
     Col("accounts", "str", "accounts granted read access to the private key, comma-separated (3.x)."),
     Col("polling_interval_s", "str", "pollingIntervalInS as written (a string in the documented schema)."),
     Col("link_on_renewal", "boolean", "linkOnRenewal."),
     Col("require_initial_sync", "boolean", "requireInitialSync."),
     Col("msi_endpoint", "str", "authenticationSettings.msiEndpoint."),
     Col("msi_client_id", "str", "authenticationSettings.msiClientId."),
     Col("settings_problem", "str", "The settings object could not be read (not JSON, not an object)."),
     Col("public_settings", "str", "The public settings as the file holds them.")),
)


def keyvault_url_problem(url: object) -> str | None:
    """Why ``url`` is not a Key Vault secret URL (``https://<vault>.vault.azure.net/secrets/<name>[/<version>]``,
    port 443 allowed, sovereign vault suffixes accepted); None when it is one."""
    if not isinstance(url, str) or not url.strip():
        return "empty URL"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return "not a URL"
    if parts.scheme.lower() != "https":
        return f"scheme {parts.scheme or 'missing'}, not https"
    host = parts.hostname or ""
    if not VAULT_HOST.match(host):
        return f"host {host or 'missing'} is not a Key Vault (<vault>.vault.azure.net)"
    if port not in (None, 443):
        return f"port {port}, not 443"
    segs = [s for s in parts.path.split("/") if s]
    if not segs:
        return "no /secrets/<name> path"
    kind = segs[0].lower()
    if kind == "certificates":
        return "/certificates/ path: it returns the certificate without its private key; use /secrets/"
    if kind == "keys":
        return "/keys/ path: a key, not a certificate; use the certificate's /secrets/ URL"
    if kind != "secrets":
        return f"/{segs[0]}/ path, not /secrets/"
    if len(segs) < 2 or len(segs) > 3 or not all(_OBJECT_NAME.match(s) for s in segs[1:]):
        return "not /secrets/<name> or /secrets/<name>/<version>"
    if parts.query or parts.fragment:
        return "has a query or fragment"
    return None


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    return None


def _ci(d: Any, key: str) -> Any:
    """``d[key]`` with a case-insensitive key (the extension reads settings case-insensitively)."""
    if not isinstance(d, dict):
        return None
    if key in d:
        return d[key]
    low = key.lower()
    return next((v for k, v in d.items() if isinstance(k, str) and k.lower() == low), None)


def keyvault_certificates(ext_settings: pd.DataFrame) -> pd.DataFrame:
    """The ``keyvault_certificates`` frame from an ``ext_settings`` frame (see :data:`KEYVAULT_CERTIFICATES`)."""
    if ext_settings.empty:
        return KEYVAULT_CERTIFICATES.empty()
    is_kv = contains(ext_settings["extension"], KEYVAULT_EXTENSION)  # anchored at both ends
    if not is_kv.any():  # no Key Vault extension (most VMs): the empty frame, as the loop below would give it
        return _no_certificates().copy()
    kv = keep(ext_settings, is_kv)
    rows: list[dict[str, Any]] = []
    for r in map(_Settings._make, row_values(kv, *_Settings._fields)):  # (itertuples costs several times more)
        raw = r.public_settings if isinstance(r.public_settings, str) else None
        base: dict[str, Any] = {"source": r.source, "line": r.line, "extension": r.extension,
                                "ext_version": r.ext_version, "seq": r.seq, "public_settings": raw,
                                "settings_as_string": False}
        settings: Any = None
        # ext_settings keeps an object as compact JSON with its keys listed, and a string value as the string itself
        # (public_settings_keys NA): that string is what the customer passed as text.
        is_string = raw is not None and pd.isna(r.public_settings_keys)
        if raw is not None:
            try:
                settings = json.loads(raw)
            except ValueError:
                base["settings_problem"] = ("publicSettings is a string that is not JSON" if is_string
                                            else "publicSettings is not JSON")
            if is_string and isinstance(settings, dict):
                base["settings_as_string"] = True
        if settings is not None and not isinstance(settings, dict):
            base["settings_problem"] = f"publicSettings is a JSON {type(settings).__name__}, not an object"
            settings = None
        sms = _ci(settings, "secretsManagementSettings")
        auth = _ci(settings, "authenticationSettings")
        if not isinstance(auth, dict):  # some deployments nest it inside secretsManagementSettings
            auth = _ci(sms, "authenticationSettings")
        base.update({"polling_interval_s": _text(_ci(sms, "pollingIntervalInS")),
                     "link_on_renewal": _bool(_ci(sms, "linkOnRenewal")),
                     "require_initial_sync": _bool(_ci(sms, "requireInitialSync")),
                     "msi_endpoint": _text(_ci(auth, "msiEndpoint")),
                     "msi_client_id": _text(_ci(auth, "msiClientId"))})
        certs = _ci(sms, "observedCertificates")
        certs = certs if isinstance(certs, list) else []
        if not certs:
            rows.append({**base, "certificate_store_name": _text(_ci(sms, "certificateStoreName")),
                         "certificate_store_location": _text(_ci(sms, "certificateStoreLocation"))})
            continue
        for i, c in enumerate(certs):
            row = {**base, "cert_index": i}
            if isinstance(c, dict):
                accounts = _ci(c, "accounts")
                row.update({"schema": "objects", "url": _text(_ci(c, "url")),
                            "certificate_store_name": _text(_ci(c, "certificateStoreName")),
                            "certificate_store_location": _text(_ci(c, "certificateStoreLocation")),
                            "accounts": ", ".join(str(a) for a in accounts) if isinstance(accounts, list)
                            else _text(accounts)})
            else:
                row.update({"schema": "list", "url": _text(c),
                            "certificate_store_name": _text(_ci(sms, "certificateStoreName")),
                            "certificate_store_location": _text(_ci(sms, "certificateStoreLocation"))})
            row["url_problem"] = keyvault_url_problem(row["url"])
            rows.append(row)
    df = KEYVAULT_CERTIFICATES.from_records(rows)
    df["schema"] = categorical([r.get("schema") for r in rows], _SCHEMA_DTYPE)  # (set_categories costs more)
    return df


_Settings = namedtuple("_Settings", ["source", "line", "extension", "ext_version", "seq", "public_settings",
                                     "public_settings_keys"])
_SCHEMA_DTYPE = pd.CategoricalDtype(pd.Index(["list", "objects"], dtype="str"))


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df["schema"] = df["schema"].cat.set_categories(["list", "objects"])
    return df


@functools.cache
def _no_certificates() -> pd.DataFrame:
    return _typed(KEYVAULT_CERTIFICATES.empty())


__all__ = ["KEYVAULT_CERTIFICATES", "KEYVAULT_EXTENSION", "STORE_LOCATIONS", "keyvault_certificates",
           "keyvault_url_problem"]
