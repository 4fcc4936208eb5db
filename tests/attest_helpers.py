"""Throwaway keys and certificates to build real IMDS-style PKCS#7 attested documents in tests.

Nothing here is a secret: keys are generated per test session and never written anywhere.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

UTC = dt.UTC
#: The document IMDS signs (IMDS article "Attested data"), with its MM/DD/YY time stamps.
VM_ID = "3f2b6c1e-8a4d-4e7b-9c21-5d0e7a9b4c13"
SUBSCRIPTION = "8c1b2f6e-0b7a-4d0e-9a51-3f2d1c6b9e40"


@cache
def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def cert(names: tuple[str, ...] = ("westeurope.metadata.azure.com", "metadata.azure.com"), *,
         not_before: dt.datetime = dt.datetime(2024, 1, 1, tzinfo=UTC),
         not_after: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=UTC)) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    issuer = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test CA (throwaway)"),
                        x509.NameAttribute(NameOID.COMMON_NAME, "Throwaway Test Issuing CA")])
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(_key().public_key())
            .serial_number(0x1F2E3D4C5B6A).not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(_key(), hashes.SHA256()))


def stamp(t: dt.datetime) -> str:
    return t.strftime("%m/%d/%y %H:%M:%S -0000")


def document(nonce: str, created: dt.datetime, *, lifetime: dt.timedelta = dt.timedelta(hours=6),
             vm_id: str = VM_ID) -> dict:
    return {"nonce": nonce, "plan": {"name": "", "product": "", "publisher": ""},
            "timeStamp": {"createdOn": stamp(created), "expiresOn": stamp(created + lifetime)},
            "vmId": vm_id, "subscriptionId": SUBSCRIPTION, "sku": "2022-datacenter-azure-edition"}


def sign(doc: dict | bytes, signer: x509.Certificate | None = None, *, attributes: bool = False) -> bytes:
    """DER PKCS#7 over the compact JSON of ``doc``; like IMDS, without signed attributes unless asked."""
    data = doc if isinstance(doc, bytes) else json.dumps(doc, separators=(",", ":")).encode()
    opts = [pkcs7.PKCS7Options.Binary] + ([] if attributes else [pkcs7.PKCS7Options.NoAttributes])
    return (pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(signer or cert(), _key(), hashes.SHA256())
            .sign(serialization.Encoding.DER, opts))


def envelope(der: bytes, *, nonce: str | None, time: dt.datetime,
             host: str = "169.254.169.254") -> dict:
    """probes/imds_attested.json: the kit's HTTP probe envelope plus the nonce it sent."""
    url = f"http://{host}/metadata/attested/document?api-version=2020-09-01" + (f"&nonce={nonce}" if nonce else "")
    env = {"url": url, "status": 200, "headers": {"Content-Type": "application/json; charset=utf-8"},
           "body": json.dumps({"encoding": "pkcs7", "signature": base64.b64encode(der).decode()},
                              separators=(",", ":")),
           "error": None, "elapsed_ms": 4.8, "time": time.strftime("%Y-%m-%dT%H:%M:%S.") + "120Z"}
    if nonce is not None:
        env["nonce"] = nonce
    return env


def tamper(der: bytes, old: bytes, new: bytes) -> bytes:
    assert len(old) == len(new) and der.count(old) == 1
    return der.replace(old, new)
