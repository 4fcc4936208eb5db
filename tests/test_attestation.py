"""IMDS attested data: the PKCS#7 signature decoded and verified offline (kit.parse.attestation), and the
imds_attestation frame the HTTP probe parser fills from probes/imds_attested.json."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pandas as pd
import pytest

from kit.parse import attestation, http_probe
from tests import attest_helpers as ah

T0 = dt.datetime(2024, 3, 8, 10, 14, 58, tzinfo=dt.UTC)

#: The IMDS article's own example answer (kit.parse.attestation.IMDS_ARTICLE_EXAMPLE).
DOC_EXAMPLE = attestation.IMDS_ARTICLE_EXAMPLE


def at(t: dt.datetime) -> pd.Timestamp:
    return pd.Timestamp(t)


def test_the_imds_article_example_verifies() -> None:
    a = attestation.decode(DOC_EXAMPLE)
    assert a.problems == [] and a.signature_valid is True
    assert a.signer_names == ("testsubdomain.metadata.azure.com",)  # no SAN: the subject CN is used
    assert a.signer_domain == "metadata.azure.com"
    assert a.nonce == "1234566766"
    assert a.created_on == pd.Timestamp("2018-11-20 22:07:39", tz="UTC")
    assert a.expires_on == pd.Timestamp("2018-11-20 22:08:24", tz="UTC")
    fetched = pd.Timestamp("2018-11-20 22:07:40", tz="UTC")
    assert attestation.problems_at(a, at=fetched, nonce_sent="1234566766") == []
    # judged at a later time, the same document has expired (and so has nothing else)
    later = attestation.problems_at(a, at=fetched + pd.Timedelta(minutes=5), nonce_sent="1234566766")
    assert len(later) == 1 and "expired" in later[0]
    # the IMDS article's example has its signed content altered by one byte: the signature fails
    der = bytearray(base64.b64decode(DOC_EXAMPLE))
    der[der.index(b"1234566766")] = ord("9")
    bad = attestation.decode(base64.b64encode(bytes(der)).decode())
    assert bad.signature_valid is False and any("does not verify" in p for p in bad.problems)


@pytest.mark.parametrize("attributes", [False, True], ids=["like-imds", "signed-attributes"])
def test_valid_document(attributes: bool) -> None:
    der = ah.sign(ah.document("8675309112", T0), attributes=attributes)
    a = attestation.decode(base64.b64encode(der).decode())
    assert a.signature_valid is True and a.problems == []
    assert a.get("vmId") == ah.VM_ID and a.get("subscriptionId") == ah.SUBSCRIPTION
    assert a.signer_domain == "metadata.azure.com" and "Throwaway Test Issuing CA" in a.signer_issuer
    assert attestation.problems_at(a, at=at(T0 + dt.timedelta(seconds=2)), nonce_sent="8675309112",
                                   vm_id=ah.VM_ID.upper()) == []
    assert a.chain == attestation.CHAIN_NOTE  # the chain is never claimed to be verified


def test_wrong_nonce_and_wrong_vm() -> None:
    a = attestation.decode(base64.b64encode(ah.sign(ah.document("1111111111", T0))).decode())
    probs = attestation.problems_at(a, at=at(T0), nonce_sent="2222222222", vm_id="0ec5a4f2-0000-4000-8000-000000000001")
    assert any("nonce '1111111111' is not the nonce sent ('2222222222')" in p for p in probs)
    assert any("vmId" in p for p in probs)
    # no nonce was sent (a customer's own capture): nothing to compare, not a problem
    assert attestation.problems_at(a, at=at(T0), nonce_sent=None) == []


def test_expired_relative_to_the_fetch_time_not_now() -> None:
    doc = ah.document("3141592653", T0, lifetime=dt.timedelta(seconds=45))
    a = attestation.decode(base64.b64encode(ah.sign(doc)).decode())
    assert attestation.problems_at(a, at=at(T0 + dt.timedelta(seconds=10)), nonce_sent="3141592653") == []
    probs = attestation.problems_at(a, at=at(T0 + dt.timedelta(minutes=3)), nonce_sent="3141592653")
    assert len(probs) == 1 and "expired at 2024-03-08 10:15:43 UTC" in probs[0]
    # the signer certificate's validity is judged at the same time
    old = ah.cert(not_after=dt.datetime(2024, 3, 1, tzinfo=dt.UTC))
    a = attestation.decode(base64.b64encode(ah.sign(ah.document("3141592653", T0), old)).decode())
    assert any("certificate expired" in p for p in attestation.problems_at(a, at=at(T0), nonce_sent=None))


@pytest.mark.parametrize(("names", "ok"), [
    (("attacker.example.net",), False),
    (("metadata.azure.com.evil.example",), False),
    (("notmetadata.azure.com",), False),
    (("metadata.azure.com",), True),
    (("eastus.metadata.azure.com", "metadata.azure.com"), True),
    (("*.metadata.azure.us",), True),
    (("chinaeast2.metadata.azure.cn",), True),
    (("germanycentral.metadata.microsoftazure.de",), True),
])
def test_signer_name(names: tuple[str, ...], ok: bool) -> None:
    a = attestation.decode(base64.b64encode(ah.sign(ah.document("5555555555", T0), ah.cert(names))).decode())
    assert a.signature_valid is True  # the signature itself is fine: only the signer is foreign
    assert (a.signer_domain is not None) == ok
    assert (a.problems == []) == ok
    if not ok:
        assert "not metadata.azure.com or a sovereign-cloud equivalent" in a.problems[0]


@pytest.mark.parametrize("attributes", [False, True], ids=["like-imds", "signed-attributes"])
def test_tampered_document(attributes: bool) -> None:
    der = ah.sign(ah.document("7777777777", T0), attributes=attributes)
    bad = ah.tamper(der, b'"sku":"2022-datacenter-azure-edition"', b'"sku":"2022-datacenter-azure-editiom"')
    a = attestation.decode(base64.b64encode(bad).decode())
    assert a.signature_valid is False
    assert a.get("sku") == "2022-datacenter-azure-editiom"  # what was shown is what was (not) signed


@pytest.mark.parametrize("value", ["", "not base64!", base64.b64encode(b"\x30\x03\x02\x01\x01").decode(),
                                   base64.b64encode(b"hello world").decode(), DOC_EXAMPLE[:200],
                                   base64.b64encode(base64.b64decode(DOC_EXAMPLE)[:-40]).decode()])
def test_garbage_never_raises(value: str) -> None:
    a = attestation.decode(value)
    assert a.problems and a.signature_valid in (None, False)


def test_random_bytes_never_raise() -> None:
    import random

    rng = random.Random(6)
    der = base64.b64decode(DOC_EXAMPLE)
    for _ in range(300):
        b = bytearray(der)
        for _ in range(rng.randint(1, 6)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        a = attestation.decode(base64.b64encode(bytes(b[: rng.randint(1, len(b))])).decode())
        assert isinstance(a.problems, list)


def test_probe_envelope_fills_the_frame() -> None:
    der = ah.sign(ah.document("4242424242", T0))
    env = ah.envelope(der, nonce="4242424242", time=T0 + dt.timedelta(seconds=1))
    r = http_probe.parse(json.dumps(env, indent=2), source="probes/imds_attested.json")
    assert r.issues == []
    row = r.frames["imds_attestation"].iloc[0]
    assert row["nonce_sent"] == row["nonce_signed"] == "4242424242"
    assert row["vm_id"] == ah.VM_ID and row["sku"] == "2022-datacenter-azure-edition" and pd.isna(row["plan"])
    assert bool(row["signature_valid"]) and row["signer_domain"] == "metadata.azure.com" and pd.isna(row["problems"])
    assert row["created_on"] == pd.Timestamp(T0.replace(tzinfo=None), tz="UTC")
    assert row["fetched_at"] == pd.Timestamp("2024-03-08 10:14:59.120", tz="UTC")
    probes = r.frames["http_probes"]
    assert probes["endpoint"].tolist() == ["imds"] and probes["outcome"].tolist() == ["ok"]
    assert http_probe.IMDS_ATTESTATION.check_dtypes(r.frames["imds_attestation"]) == []


def test_nonce_from_the_url_when_the_envelope_has_none() -> None:
    env = ah.envelope(ah.sign(ah.document("1212121212", T0)), nonce="1212121212", time=T0)
    del env["nonce"]
    row = http_probe.parse(json.dumps(env), source="probes/imds_attested.json").frames["imds_attestation"].iloc[0]
    assert row["nonce_sent"] == "1212121212"


def test_error_answers_and_other_bodies() -> None:
    env = ah.envelope(ah.sign(ah.document("1", T0)), nonce="1", time=T0)
    failed = {**env, "status": None, "body": "", "error": "Unable to connect to the remote server"}
    r = http_probe.parse(json.dumps(failed), source="probes/imds_attested.json")
    assert r.frames["imds_attestation"].empty and r.frames["http_probes"]["outcome"].tolist() == ["connection-error"]
    odd = {**env, "body": '{"error": "not what IMDS sends"}'}
    row = http_probe.parse(json.dumps(odd), source="probes/imds_attested.json").frames["imds_attestation"].iloc[0]
    assert "not the attested-data JSON" in row["problems"]
    hci = ah.envelope(ah.sign(ah.document("2", T0)), nonce="2", time=T0, host="169.254.169.253")
    r = http_probe.parse(json.dumps(hci), source="probes/imds_attested.json")
    assert len(r.frames["imds_attestation"]) == 1 and r.frames["http_probes"]["endpoint"].tolist() == ["other"]
