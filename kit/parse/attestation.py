"""IMDS attested data, decoded and checked offline.

``GET http://169.254.169.254/metadata/attested/document?api-version=2020-09-01&nonce=<nonce>`` (with
``Metadata: true``, no proxy) answers ``{"encoding": "pkcs7", "signature": "<base64 DER PKCS#7>"}``. The signature
is a CMS SignedData (RFC 5652) whose content is the JSON document IMDS signed::

    {"nonce": "1234566766", "plan": {"name": "", "product": "", "publisher": ""},
     "timeStamp": {"createdOn": "11/20/18 22:07:39 -0000", "expiresOn": "11/20/18 22:08:24 -0000"},
     "vmId": "...", "subscriptionId": "...", "sku": "...", "licenseType": "..."}

(the field list and the ``MM/DD/YY HH:MM:SS -0000`` time stamps are the IMDS article's, "Attested data").

What is checked here, without any network access:

* the structure: a SignedData whose signer certificate is inside it;
* the **signature**: over the content directly (what IMDS sends: no signed attributes, RSA PKCS#1 v1.5 with
  SHA-256, the digest algorithm written as ``sha256WithRSAEncryption``), or over the signed attributes when there
  are some (then their ``messageDigest`` must be the content's digest and their ``contentType`` the content's
  type) - RSA PKCS#1 v1.5, RSA-PSS and ECDSA signers;
* the **signer's name**: a DNS name of its Subject Alternative Name (its subject CN when it has no SAN) must be
  ``metadata.azure.com`` or a subdomain, or a sovereign cloud's equivalent (``metadata.azure.us``,
  ``metadata.azure.cn``, ``metadata.microsoftazure.de``, IMDS article "Signature Validation Guidance").

What is **not** checked: the certificate chain up to a trusted root. IMDS sends only the signing certificate;
the intermediate comes from the certificate's AIA URL and the root from the machine's trust store, neither of
which is in a bundle. :attr:`Attestation.chain` says so, and a finding never rests on the chain.

Time (``expiresOn``, the signer certificate's validity) and the nonce are compared by the caller, against the
bundle's own collection time - never against "now" (:func:`problems_at`).

ASN.1 is decoded with pyasn1 and the RFC 5652/5280 modules of pyasn1-modules; signatures are verified with
``cryptography`` (which can build and decrypt PKCS#7 but not verify it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: Domains a genuine signer's certificate names (and their subdomains), per cloud.
SIGNER_DOMAINS: dict[str, str] = {
    "metadata.azure.com": "Azure public cloud",
    "metadata.azure.us": "Azure Government",
    "metadata.azure.cn": "Azure operated by 21Vianet",
    "metadata.microsoftazure.de": "Azure Germany",
}
CHAIN_NOTE = ("chain not verified offline: IMDS sends only the signing certificate; its issuer (AIA URL) and the "
              "trusted root are not in the bundle")

#: The example answer's ``signature`` in the IMDS article ("Attested data", MicrosoftDocs/azure-compute-docs
#: articles/virtual-machines/instance-metadata-service.md): a genuine IMDS signature by a
#: testsubdomain.metadata.azure.com certificate over nonce 1234566766, created 11/20/18 22:07:39 and valid for 45 s.
#: Useful to see what a real one decodes to: ``decode(IMDS_ARTICLE_EXAMPLE)``.
IMDS_ARTICLE_EXAMPLE = (
    "MIIEEgYJKoZIhvcNAQcCoIIEAzCCA/8CAQExDzANBgkqhkiG9w0BAQsFADCBugYJKoZIhvcNAQcBoIGsBIGpeyJub25jZSI6IjEyMzQ1NjY3NjYi"
    "LCJwbGFuIjp7Im5hbWUiOiIiLCJwcm9kdWN0IjoiIiwicHVibGlzaGVyIjoiIn0sInRpbWVTdGFtcCI6eyJjcmVhdGVkT24iOiIxMS8yMC8xOCAy"
    "MjowNzozOSAtMDAwMCIsImV4cGlyZXNPbiI6IjExLzIwLzE4IDIyOjA4OjI0IC0wMDAwIn0sInZtSWQiOiIifaCCAj8wggI7MIIBpKADAgECAhBn"
    "xW5Kh8dslEBA0E2mIBJ0MA0GCSqGSIb3DQEBBAUAMCsxKTAnBgNVBAMTIHRlc3RzdWJkb21haW4ubWV0YWRhdGEuYXp1cmUuY29tMB4XDTE4MTEy"
    "MDIxNTc1N1oXDTE4MTIyMDIxNTc1NlowKzEpMCcGA1UEAxMgdGVzdHN1YmRvbWFpbi5tZXRhZGF0YS5henVyZS5jb20wgZ8wDQYJKoZIhvcNAQEB"
    "BQADgY0AMIGJAoGBAML/tBo86ENWPzmXZ0kPkX5dY5QZ150mA8lommszE71x2sCLonzv4/UWk4H+jMMWRRwIea2CuQ5RhdWAHvKq6if4okKNt66f"
    "xm+YTVz9z0CTfCLmLT+nsdfOAsG1xZppEapC0Cd9vD6NCKyE8aYI1pliaeOnFjG0WvMY04uWz2MdAgMBAAGjYDBeMFwGA1UdAQRVMFOAENnYkHLa"
    "04Ut4Mpt7TkJFfyhLTArMSkwJwYDVQQDEyB0ZXN0c3ViZG9tYWluLm1ldGFkYXRhLmF6dXJlLmNvbYIQZ8VuSofHbJRAQNBNpiASdDANBgkqhkiG"
    "9w0BAQQFAAOBgQCLSM6aX5Bs1KHCJp4VQtxZPzXF71rVKCocHy3N9PTJQ9Fpnd+bYw2vSpQHg/AiG82WuDFpPReJvr7Pa938mZqW9HUOGjQKK2FY"
    "DTg6fXD8pkPdyghlX5boGWAMMrf7bFkup+lsT+n2tRw2wbNknO1tQ0wICtqy2VqzWwLi45RBwTGB6DCB5QIBATA/MCsxKTAnBgNVBAMTIHRlc3Rz"
    "dWJkb21haW4ubWV0YWRhdGEuYXp1cmUuY29tAhBnxW5Kh8dslEBA0E2mIBJ0MA0GCSqGSIb3DQEBCwUAMA0GCSqGSIb3DQEBAQUABIGAld1BM/yY"
    "Iqqv8SDE4kjQo3Ul/IKAVR8ETKcve5BAdGSNkTUooUGVniTXeuvDj5NkmazOaKZp9fEtByqqPOyw/nlXaZgOO44HDGiPUJ90xVYmfeK6p9RpJBu6"
    "kiKhnnYTelUk5u75phe5ZbMZfBhuPhXmYAdjc7Nmw97nx8NnprQ=")

_OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
_OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
#: Digest algorithms by OID, including the signature-algorithm OIDs IMDS writes in the digestAlgorithm field.
_HASHES = {
    "1.3.14.3.2.26": "sha1", "2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512", "1.2.840.113549.1.1.5": "sha1", "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384", "1.2.840.113549.1.1.13": "sha512",
}
_RSA = {"1.2.840.113549.1.1.1", "1.2.840.113549.1.1.5", "1.2.840.113549.1.1.11", "1.2.840.113549.1.1.12",
        "1.2.840.113549.1.1.13"}
_RSA_PSS = "1.2.840.113549.1.1.10"
_EC_KEY = "1.2.840.10045.2.1"  # id-ecPublicKey, written by some signers in signatureAlgorithm
_ECDSA = {"1.2.840.10045.4.1": "sha1", "1.2.840.10045.4.3.2": "sha256", "1.2.840.10045.4.3.3": "sha384",
          "1.2.840.10045.4.3.4": "sha512"}
#: ``createdOn``/``expiresOn`` as IMDS writes them, then the ISO forms a re-serialised copy might use.
_TIME_FORMATS = ("%m/%d/%y %H:%M:%S %z", "%m/%d/%Y %H:%M:%S %z")


@dataclass
class Attestation:
    """What a PKCS#7 attested-data signature holds and whether it verifies (time and nonce aside)."""

    document: dict[str, Any] | None = None  # the signed JSON document
    content: str | None = None  # the signed content as text
    signature_valid: bool | None = None  # None: could not be checked (see problems)
    signer_subject: str | None = None
    signer_issuer: str | None = None
    signer_names: tuple[str, ...] = ()  # SAN DNS names, else the subject CN
    signer_domain: str | None = None  # the SIGNER_DOMAINS entry a name falls under
    signer_not_before: pd.Timestamp | None = None
    signer_not_after: pd.Timestamp | None = None
    chain: str = CHAIN_NOTE
    problems: list[str] = field(default_factory=list)  # structural/signature/signer problems found

    def get(self, *path: str) -> Any:
        d: Any = self.document
        for p in path:
            d = d.get(p) if isinstance(d, dict) else None
        return d

    @property
    def nonce(self) -> str | None:
        v = self.get("nonce")
        return None if v is None else str(v)

    @property
    def created_on(self) -> pd.Timestamp | None:
        return parse_time(self.get("timeStamp", "createdOn"))

    @property
    def expires_on(self) -> pd.Timestamp | None:
        return parse_time(self.get("timeStamp", "expiresOn"))


def parse_time(raw: Any) -> pd.Timestamp | None:
    """``11/20/18 22:07:39 -0000`` (IMDS), or an ISO 8601 time; None when absent or unreadable."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    from datetime import datetime

    for fmt in _TIME_FORMATS:
        try:
            return pd.Timestamp(datetime.strptime(raw.strip(), fmt)).tz_convert("UTC")
        except ValueError:
            continue
    try:
        ts = pd.Timestamp(raw.strip())
    except (ValueError, TypeError):
        return None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def signer_domain(names: tuple[str, ...]) -> str | None:
    """The genuine signer domain one of ``names`` equals or falls under (wildcards allowed), else None."""
    for name in names:
        n = name.strip().lower().rstrip(".")
        n = n[2:] if n.startswith("*.") else n
        for dom in SIGNER_DOMAINS:
            if n == dom or n.endswith("." + dom):
                return dom
    return None


def _tlv(buf: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at ``pos``."""
    tag = buf[pos]
    length = buf[pos + 1]
    head = 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + 2 + n > len(buf):
            raise ValueError("unsupported DER length")
        length = int.from_bytes(buf[pos + 2:pos + 2 + n], "big")
        head += n
    start = pos + head
    if start + length > len(buf):
        raise ValueError("DER element runs past the end of the data")
    return tag, start, start + length


def _children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, value start, value end) of each element between ``start`` and ``end``."""
    out, pos = [], start
    while pos < end:
        tag, vs, ve = _tlv(buf, pos)
        out.append((tag, pos, vs, ve))
        pos = ve
    return out


def _raw_signed_attrs(der: bytes) -> bytes | None:
    """The first SignerInfo's signedAttrs exactly as sent, re-tagged as the SET OF the signature covers
    (RFC 5652 §5.4); None when there are none. The structure was already validated by pyasn1."""
    _, vs, ve = _tlv(der, 0)  # ContentInfo
    kids = _children(der, vs, ve)
    _, _, cvs, _ = kids[1]  # [0] EXPLICIT content
    _, svs, sve = _tlv(der, cvs)  # SignedData SEQUENCE
    signer_infos = _children(der, svs, sve)[-1]  # signerInfos SET is the last field
    first = _children(der, signer_infos[2], signer_infos[3])[0]
    fields = _children(der, first[2], first[3])
    for tag, es, _vs, fe in fields:
        if tag == 0xA0:  # [0] IMPLICIT SignedAttributes
            return b"\x31" + der[es + 1:fe]
    return None


def _hash(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()


def _crypto_hash(name: str):
    from cryptography.hazmat.primitives import hashes

    return {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
            "sha512": hashes.SHA512()}[name]


def _verify(cert, sig_alg: str, hash_name: str, signature: bytes, data: bytes) -> bool:
    """True/False; raises ValueError for an algorithm this module does not verify."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    key = cert.public_key()
    try:
        if sig_alg in _RSA and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), _crypto_hash(hash_name))
        elif sig_alg == _RSA_PSS and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PSS(mgf=padding.MGF1(_crypto_hash(hash_name)),
                                                    salt_length=padding.PSS.AUTO), _crypto_hash(hash_name))
        elif (sig_alg in _ECDSA or sig_alg == _EC_KEY) and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(_crypto_hash(_ECDSA.get(sig_alg, hash_name))))
        else:
            raise ValueError(f"signature algorithm {sig_alg} with a {type(key).__name__} key is not supported")
    except InvalidSignature:
        return False
    return True


def _names(cert) -> tuple[str, ...]:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        if dns:
            return dns
    except x509.ExtensionNotFound:
        pass
    return tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))


def decode(signature_b64: str) -> Attestation:
    """Decode and verify an attested-data ``signature`` (base64 DER PKCS#7). Never raises: what is wrong becomes
    :attr:`Attestation.problems`."""
    out = Attestation()
    try:
        der = base64.b64decode(re.sub(r"\s+", "", signature_b64 or ""), validate=True)
    except (binascii.Error, ValueError):
        out.problems.append("the signature is not base64")
        return out
    if not der:
        out.problems.append("the signature is empty")
        return out
    try:
        from pyasn1.codec.der import decoder, encoder
        from pyasn1.error import PyAsn1Error
        from pyasn1_modules import rfc5652
    except ImportError as exc:  # pragma: no cover - a declared dependency
        out.problems.append(f"cannot decode PKCS#7: {exc} (install pyasn1-modules)")
        return out
    try:
        ci, rest = decoder.decode(der, asn1Spec=rfc5652.ContentInfo())
        if str(ci["contentType"]) != _OID_SIGNED_DATA:
            out.problems.append(f"not a PKCS#7 SignedData (content type {ci['contentType']})")
            return out
        sd, _ = decoder.decode(ci["content"], asn1Spec=rfc5652.SignedData())
    except (PyAsn1Error, ValueError, TypeError) as exc:
        out.problems.append(f"not a PKCS#7 SignedData structure ({type(exc).__name__})")
        return out
    if rest:
        out.problems.append(f"{len(rest)} bytes after the PKCS#7 structure")
    eci = sd["encapContentInfo"]
    if not eci["eContent"].isValue:
        out.problems.append("the signature carries no content (detached signature)")
        return out
    content = bytes(eci["eContent"])
    out.content = content.decode("utf-8", errors="replace")
    try:
        doc = json.loads(out.content)
        out.document = doc if isinstance(doc, dict) else None
        if out.document is None:
            out.problems.append("the signed content is JSON but not an object")
    except ValueError:
        out.problems.append("the signed content is not JSON")
    if len(sd["signerInfos"]) != 1:
        out.problems.append(f"expected one signer, found {len(sd['signerInfos'])}")
        if len(sd["signerInfos"]) == 0:
            return out
    si = sd["signerInfos"][0]
    from cryptography import x509

    certs = []
    if sd["certificates"].isValue:
        for choice in sd["certificates"]:
            if choice.getName() == "certificate":
                try:
                    certs.append(x509.load_der_x509_certificate(encoder.encode(choice["certificate"])))
                except ValueError:
                    out.problems.append("a certificate in the signature cannot be read")
    sid = si["sid"]
    signer = None
    for c in certs:
        if sid.getName() == "issuerAndSerialNumber":
            ias = sid["issuerAndSerialNumber"]
            if (int(ias["serialNumber"]) == c.serial_number
                    and encoder.encode(ias["issuer"]) == c.issuer.public_bytes()):
                signer = c
        else:
            try:
                ski = c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                ski = None
            if ski is not None and ski == bytes(sid["subjectKeyIdentifier"]):
                signer = c
        if signer is not None:
            break
    if signer is None:
        out.problems.append("the signer's certificate is not in the signature")
        return out
    out.signer_subject = signer.subject.rfc4514_string()
    out.signer_issuer = signer.issuer.rfc4514_string()
    out.signer_names = _names(signer)
    out.signer_domain = signer_domain(out.signer_names)
    out.signer_not_before = pd.Timestamp(signer.not_valid_before_utc)
    out.signer_not_after = pd.Timestamp(signer.not_valid_after_utc)
    if out.signer_domain is None:
        out.problems.append(f"the signer ({', '.join(out.signer_names) or out.signer_subject}) is not "
                            "metadata.azure.com or a sovereign-cloud equivalent")
    digest_oid = str(si["digestAlgorithm"]["algorithm"])
    hash_name = _HASHES.get(digest_oid)
    sig_alg = str(si["signatureAlgorithm"]["algorithm"])
    if hash_name is None and sig_alg in _ECDSA:
        hash_name = _ECDSA[sig_alg]
    if hash_name is None:
        out.problems.append(f"digest algorithm {digest_oid} is not supported; signature not checked")
        return out
    signed_data = content
    if si["signedAttrs"].isValue:
        attrs = {str(a["attrType"]): a["attrValues"] for a in si["signedAttrs"]}
        md = attrs.get(_OID_MESSAGE_DIGEST)
        try:
            md_value = bytes(decoder.decode(bytes(md[0]))[0]) if md is not None and len(md) else None
        except (PyAsn1Error, ValueError, TypeError):
            md_value = None
        if md_value != _hash(hash_name, content):
            out.signature_valid = False
            out.problems.append("the signed message digest does not match the content (the content was changed "
                                "after signing)")
            return out
        ct = attrs.get(_OID_CONTENT_TYPE)
        try:
            ct_value = str(decoder.decode(bytes(ct[0]))[0]) if ct is not None and len(ct) else None
        except (PyAsn1Error, ValueError, TypeError):
            ct_value = None
        if ct_value != str(eci["eContentType"]):
            out.problems.append("the signed content type does not match the content's type")
        try:
            raw = _raw_signed_attrs(der)
        except (ValueError, IndexError):
            raw = None
        signed_data = raw if raw is not None else b"\x31" + encoder.encode(si["signedAttrs"])[1:]
    try:
        out.signature_valid = _verify(signer, sig_alg, hash_name, bytes(si["signature"]), signed_data)
    except ValueError as exc:
        out.problems.append(f"{exc}; signature not checked")
        return out
    if not out.signature_valid:
        out.problems.append("the signature does not verify with the signer's certificate (the document or the "
                            "signature was altered, or another key signed it)")
    return out


def problems_at(att: Attestation, *, at: pd.Timestamp | None, nonce_sent: str | None,
                vm_id: str | None = None) -> list[str]:
    """Every problem of ``att``: its own, plus the nonce (when one was sent), the VM id (when IMDS's instance
    document gave one) and time, judged at ``at`` - the time the bundle says the document was fetched, never the
    time of reading."""
    out = judge(att, created_on=att.created_on, expires_on=att.expires_on, at=at, nonce_sent=nonce_sent, vm_id=vm_id)
    raw = att.get("timeStamp", "expiresOn")
    if raw and att.expires_on is None:
        out.append(f"expiresOn {raw!r} is not a time stamp")
    return out


def judge(att: Attestation, *, created_on: pd.Timestamp | None, expires_on: pd.Timestamp | None,
          at: pd.Timestamp | None, nonce_sent: str | None, vm_id: str | None = None) -> list[str]:
    """:func:`problems_at` from already decoded values (the ``imds_attestation`` frame's columns)."""
    out = list(att.problems)
    if att.document is None:
        return out
    if nonce_sent is not None and att.nonce != nonce_sent:
        out.append(f"the signed nonce {att.nonce!r} is not the nonce sent ({nonce_sent!r}): a replayed or cached "
                   "document")
    signed_vm = att.get("vmId")
    if vm_id and signed_vm and str(signed_vm).lower() != vm_id.lower():
        out.append(f"the signed vmId {signed_vm} is not this VM's ({vm_id})")
    if at is not None:
        if expires_on is not None and at > expires_on:
            out.append(f"the document expired at {expires_on:%Y-%m-%d %H:%M:%S} UTC, before it was fetched "
                       f"({at:%Y-%m-%d %H:%M:%S} UTC)")
        if created_on is not None and at < created_on - pd.Timedelta(minutes=5):
            out.append(f"the document was created at {created_on:%Y-%m-%d %H:%M:%S} UTC, after it was fetched "
                       f"({at:%Y-%m-%d %H:%M:%S} UTC)")
        if att.signer_not_after is not None and at > att.signer_not_after:
            out.append(f"the signer's certificate expired at {att.signer_not_after:%Y-%m-%d %H:%M:%S} UTC")
        if att.signer_not_before is not None and at < att.signer_not_before:
            out.append(f"the signer's certificate is not valid before {att.signer_not_before:%Y-%m-%d %H:%M:%S} UTC")
    return out


__all__ = ["CHAIN_NOTE", "IMDS_ARTICLE_EXAMPLE", "SIGNER_DOMAINS", "Attestation", "decode", "judge", "parse_time",
           "problems_at", "signer_domain"]
