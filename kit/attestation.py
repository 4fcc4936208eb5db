"""Offline check of IMDS attested data (``/metadata/attested/document``).

IMDS answers ``{"encoding": "pkcs7", "signature": "<base64 DER PKCS#7 SignedData>"}``. The signed content is a JSON
document (vmId, sku, subscriptionId, nonce, plan, timeStamp createdOn/expiresOn). Per Microsoft's IMDS article, a
consumer should check the signature, that the signer certificate is issued to ``metadata.azure.com`` (sovereign
clouds: ``metadata.azure.us``, ``metadata.azure.cn``, ``metadata.microsoftazure.de``), the nonce it sent, and the
expiry.

``cryptography`` reads the certificates of a PKCS#7 structure but offers no SignedData verification, and no ASN.1
library is a dependency here, so the few SignedData fields needed (encapsulated content, signer infos) are read by a
small DER walker below; the signature itself is verified by ``cryptography``. The certificate chain up to a
Microsoft root is **not** checked offline (IMDS does not send the intermediates); the result says so.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

SIGNER_NAMES = ("metadata.azure.com", "metadata.azure.us", "metadata.azure.cn", "metadata.microsoftazure.de")
_OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
_OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_DIGESTS = {"2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384", "2.16.840.1.101.3.4.2.3": "sha512",
            "1.3.14.3.2.26": "sha1",
            # signature-algorithm OIDs written in the digestAlgorithm field (as IMDS does: sha256WithRSAEncryption)
            "1.2.840.113549.1.1.11": "sha256", "1.2.840.113549.1.1.12": "sha384", "1.2.840.113549.1.1.13": "sha512",
            "1.2.840.113549.1.1.5": "sha1"}


class DerError(ValueError):
    pass


def _tlv(data: bytes, pos: int) -> tuple[int, int, int, int]:
    """(tag, content start, content end, next position) of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise DerError(f"truncated DER at byte {pos}")
    tag = data[pos]
    ln = data[pos + 1]
    p = pos + 2
    if ln & 0x80:
        n = ln & 0x7F
        if n == 0 or n > 4 or p + n > len(data):
            raise DerError(f"bad DER length at byte {pos}")
        ln = int.from_bytes(data[p:p + n], "big")
        p += n
    if p + ln > len(data):
        raise DerError(f"DER element at byte {pos} runs past the end")
    return tag, p, p + ln, p + ln


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, content start, content end, element start) of each element between ``start`` and ``end``."""
    out, p = [], start
    while p < end:
        at = p
        tag, s, e, p = _tlv(data, p)
        out.append((tag, s, e, at))
    return out


def _oid(raw: bytes) -> str:
    first = raw[0]
    parts = [first // 40, first % 40]
    v = 0
    for b in raw[1:]:
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(v)
            v = 0
    return ".".join(map(str, parts))


@dataclass
class Attestation:
    """What the attested document says and whether it holds."""

    document: dict | None = None
    signer_subject: str | None = None
    signer_not_after: datetime | None = None
    signature_valid: bool | None = None
    problems: list[str] = field(default_factory=list)
    chain_checked: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def _parse_signed_data(der: bytes) -> tuple[bytes, list[dict]]:
    tag, s, e, _ = _tlv(der, 0)
    ci = _children(der, s, e)
    if len(ci) < 2 or ci[0][0] != 0x06 or _oid(der[ci[0][1]:ci[0][2]]) != _OID_SIGNED_DATA:
        raise DerError("not a PKCS#7 SignedData structure")
    _, s, e, _ = ci[1]  # [0] EXPLICIT
    _, s, e, _ = _tlv(der, s)  # SignedData SEQUENCE
    parts = _children(der, s, e)
    encap = parts[2]  # version, digestAlgorithms, encapContentInfo, [certificates], [crls], signerInfos
    ec = _children(der, encap[1], encap[2])
    content = b""
    if len(ec) > 1:  # [0] EXPLICIT OCTET STRING (possibly constructed)
        _, cs, _, _ = ec[1]
        tag, os_s, os_e, _ = _tlv(der, cs)
        if tag == 0x04:
            content = der[os_s:os_e]
        elif tag == 0x24:  # constructed OCTET STRING: concatenate the pieces
            content = b"".join(der[a:b] for _, a, b, _ in _children(der, os_s, os_e))
        else:
            raise DerError("encapsulated content is not an OCTET STRING")
    signer_set = parts[-1]
    signers = []
    for _, s2, e2, _ in _children(der, signer_set[1], signer_set[2]):
        f = _children(der, s2, e2)
        # version, sid (issuerAndSerialNumber), digestAlgorithm, [0] signedAttrs?, signatureAlgorithm, signature
        sid = _children(der, f[1][1], f[1][2])
        serial = int.from_bytes(der[sid[1][1]:sid[1][2]], "big") if len(sid) > 1 else None
        dig = _children(der, f[2][1], f[2][2])[0]
        dig_oid = _oid(der[dig[1]:dig[2]])
        i = 3
        attrs_der, digest_attr = None, None
        if f[i][0] == 0xA0:
            raw = bytearray(der[f[i][3]:f[i][2]])
            raw[0] = 0x31  # signed attributes are signed as a SET OF (RFC 5652 5.4), stored as [0] IMPLICIT
            attrs_der = bytes(raw)
            for _, a_s, a_e, _ in _children(der, f[i][1], f[i][2]):
                a = _children(der, a_s, a_e)
                if _oid(der[a[0][1]:a[0][2]]) == _OID_MESSAGE_DIGEST:
                    vals = _children(der, a[1][1], a[1][2])
                    digest_attr = der[vals[0][1]:vals[0][2]]
            i += 1
        alg = _children(der, f[i][1], f[i][2])[0]
        sig_alg = _oid(der[alg[1]:alg[2]])
        signature = der[f[i + 1][1]:f[i + 1][2]]
        signers.append({"serial": serial, "digest": _DIGESTS.get(dig_oid), "signed_attrs": attrs_der,
                        "message_digest": digest_attr, "sig_alg": sig_alg, "signature": signature})
    return content, signers


def _stamp(text: object) -> datetime | None:
    """IMDS time stamps: ``11/28/20 00:00:00 -0000``."""
    if not isinstance(text, str):
        return None
    for fmt in ("%m/%d/%y %H:%M:%S %z", "%m/%d/%Y %H:%M:%S %z"):
        try:
            return datetime.strptime(text.strip(), fmt).astimezone(UTC)
        except ValueError:
            continue
    return None


def check(body: str, *, nonce: str | None, at: datetime | None) -> Attestation:
    """Decode and check IMDS's attested-document answer. ``at`` is the collection time (expiry is judged then)."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.serialization import pkcs7

    res = Attestation()
    try:
        outer = json.loads(body)
        der = base64.b64decode(outer["signature"], validate=False)
    except (ValueError, KeyError, TypeError) as exc:
        res.problems.append(f"expected IMDS's JSON with a base64 'signature', found something else ({exc})")
        return res
    if str(outer.get("encoding", "pkcs7")).lower() != "pkcs7":
        res.problems.append(f"expected encoding pkcs7, found {outer.get('encoding')!r}")
    try:
        content, signers = _parse_signed_data(der)
        certs = pkcs7.load_der_pkcs7_certificates(der)
    except (DerError, IndexError, ValueError) as exc:
        res.problems.append(f"the signature is not a readable PKCS#7 SignedData ({exc})")
        return res
    try:
        res.document = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        res.problems.append(f"the signed content is not JSON ({exc})")
    if not signers:
        res.problems.append("the PKCS#7 structure has no signer")
        return res
    sig = signers[0]
    cert = next((c for c in certs if c.serial_number == sig["serial"]), certs[0] if certs else None)
    if cert is None:
        res.problems.append("the PKCS#7 structure holds no signer certificate")
        return res
    cn = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    res.signer_subject = cert.subject.rfc4514_string()
    res.signer_not_after = cert.not_valid_after_utc
    name = str(cn[0]).lower() if cn else ""
    if not any(name == n or name.endswith("." + n) for n in SIGNER_NAMES):
        res.problems.append(f"the signer certificate is issued to '{name or res.signer_subject}', not to "
                            f"{' / '.join(SIGNER_NAMES)}")
    algo = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512(),
            "sha1": hashes.SHA1()}.get(sig["digest"] or "")
    if algo is None:
        res.problems.append("unknown digest algorithm in the signature")
        return res
    signed = content
    if sig["signed_attrs"] is not None:
        if sig["message_digest"] != hashlib.new(sig["digest"], content).digest():
            res.signature_valid = False
            res.problems.append("the signed content does not match the signature's message digest (tampered)")
        signed = sig["signed_attrs"]
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(sig["signature"], signed, padding.PKCS1v15(), algo)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig["signature"], signed, ec.ECDSA(algo))
        else:
            raise InvalidSignature("unsupported key type")
        if res.signature_valid is None:
            res.signature_valid = True
    except InvalidSignature:
        res.signature_valid = False
        res.problems.append("the signature does not verify with the signer certificate's key")
    doc = res.document or {}
    if nonce is not None and str(doc.get("nonce")) != str(nonce):
        res.problems.append(f"the nonce in the document is {doc.get('nonce')!r}, the collector sent {nonce!r}")
    ts = doc.get("timeStamp") if isinstance(doc.get("timeStamp"), dict) else {}
    exp = _stamp(ts.get("expiresOn"))
    if at is not None and exp is not None and at > exp:
        res.problems.append(f"the document expired at {exp:%Y-%m-%d %H:%M} UTC, before it was checked "
                            f"({at:%Y-%m-%d %H:%M} UTC)")
    return res
