"""Secrets never reach an output; `vmkit redact` writes a bundle safe to share that diagnoses the same.

Every kind of secret is seeded into a copy of the healthy sample, where it would really be: extension settings
(public settings too), the extension's status (script output), its handler log, the agent log and an IMDS token
probe. The outputs are then searched for every secret value.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from kit import redact as R
from kit.bundle import open_bundle
from kit.cli import main
from kit.diagnose import diagnose, evidence_frame, findings_to_json

from .conftest import SAMPLE_NAMES, SAMPLES

CSE = "C/Packages/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15"
CSE_LOG = "C/WindowsAzure/Logs/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15/CustomScriptHandler.log"
AGENT_LOG = "C/WindowsAzure/Logs/WaAppAgent.log"


def _b64u(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()


def _jwt(oid: str) -> str:
    # the shape of an IMDS managed-identity token: RS256 header, claims, signature
    head = _b64u({"typ": "JWT", "alg": "RS256", "x5t": "kWbkaa6qs8wsTnBwiiNYOhHbnAw", "kid": "kWbkaa6qs8wsTnBwi"})
    claims = _b64u({"aud": "https://vault.azure.net", "iss": "https://sts.windows.net/72f988bf/", "oid": oid,
                    "xms_mirid": "/subscriptions/8c1b2f6e-0b7a-4d0e-9a51-3f2d1c6b9e40/resourcegroups/rg-support-lab"})
    sig = base64.urlsafe_b64encode(hashlib.sha512(oid.encode()).digest() * 3).rstrip(b"=").decode()
    return f"{head}.{claims}.{sig}"


def _keys() -> tuple[str, str]:
    """A PEM private key and a PFX (PKCS#12) in base64, made now."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    from datetime import UTC, datetime, timedelta

    from cryptography import x509

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web-01.contoso.com")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pfx = pkcs12.serialize_key_and_certificates(b"web", key, cert, None, serialization.NoEncryption())
    return pem, base64.b64encode(pfx).decode()


class Seeded:
    """The seeded bundle and the secret values it holds (each checked as a whole and by a distinctive part)."""

    def __init__(self, path: Path, secrets: dict[str, str]) -> None:
        self.path = path
        self.secrets = secrets

    def leaks(self, text: str) -> list[str]:
        found = []
        for kind, value in self.secrets.items():
            parts = [value] + ([value[len(value) // 2: len(value) // 2 + 24]] if len(value) > 40 else [])
            if any(p in text for p in parts):
                found.append(kind)
        return found


def _rehash(root: Path, extra: list[str] = ()) -> None:
    """Update (or add) the manifest entries of every file so the seeded bundle has no hash mismatch."""
    mf = root / "manifest.json"
    doc = json.loads(mf.read_text(encoding="utf-8"))
    paths = {a["path"]: a for a in doc["artifacts"]}
    for p in extra:
        paths.setdefault(p, {"path": p, "origin": p, "status": "collected", "note": None})
        if p not in [a["path"] for a in doc["artifacts"]]:
            doc["artifacts"].append(paths[p])
    for a in doc["artifacts"]:
        f = root / a["path"]
        if f.is_file():
            data = f.read_bytes()
            a["sha256"], a["size"], a["original_size"] = hashlib.sha256(data).hexdigest(), len(data), len(data)
    mf.write_text(json.dumps(doc, indent=2), encoding="utf-8")


def seed(dest: Path, name: str = "seeded") -> Seeded:
    root = dest / name
    shutil.copytree(SAMPLES / "healthy", root)
    pem, pfx = _keys()
    s = {
        "sas": "Zx9Qw2Er7Ty6Ui5Op4As3Df2Gh1Jk0Lz%2BXc%3D",
        "sas_log": "Mn8Bv7Cx6Za5Sd4Fg3Hj2Kl1Qw0Er9Ty%2FUi%3D",
        "jwt_status": _jwt("11111111-2222-3333-4444-555555555555"),
        "jwt_header": _jwt("66666666-7777-8888-9999-000000000000"),
        "jwt_probe": _jwt("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"),
        "ps_password": "Sup3rS3cret!Pw",
        "slash_p": "Hunter2Pass",
        "kv_password": "Plain0ldPw",
        "storage_key": base64.b64encode(hashlib.sha512(b"storage key").digest()).decode(),
        "sb_key": "q0KzMkB7s6tPjR1n5hUeW3xYvA9cD2fG4iL8oN0pS=",
        "pem": pem.split("\n")[3],
        "pfx": pfx,
        "protected": json.loads((root / CSE / "RuntimeSettings/0.settings").read_text())["runtimeSettings"][0][
            "handlerSettings"]["protectedSettings"],
    }
    url = ("https://stsupportlab01.blob.core.windows.net/scripts/install-monitoring.ps1"
           f"?sv=2022-11-02&sp=r&se=2024-03-09T00:00:00Z&spr=https&sig={s['sas']}")
    # settings: public settings carry a password three ways, a SAS URL and a storage key
    sf = root / CSE / "RuntimeSettings/0.settings"
    doc = json.loads(sf.read_text())
    pub = doc["runtimeSettings"][0]["handlerSettings"]["publicSettings"]
    pub["commandToExecute"] += (f" -Password '{s['ps_password']}' -Deploy /p:{s['slash_p']} "
                                f"password={s['kv_password']}")
    pub["fileUris"] = [url]
    pub["storageAccountName"] = "stsupportlab01"
    pub["storageAccountKey"] = s["storage_key"]
    sf.write_text(json.dumps(doc, indent=4), encoding="utf-8")
    # status: the script printed an IMDS token answer, a connection string and a private key
    st = root / CSE / "Status/0.status"
    doc = json.loads(st.read_text())
    token = json.dumps({"access_token": s["jwt_status"], "expires_in": "86399", "resource": "https://vault.azure.net",
                        "token_type": "Bearer"})
    doc[0]["status"]["substatus"][0]["formattedMessage"]["message"] = (
        f"Monitoring agent installed.\r\n{token}\r\nDefaultEndpointsProtocol=https;AccountName=stsupportlab01;"
        f"AccountKey={s['storage_key']};EndpointSuffix=core.windows.net\r\n"
        f"Endpoint=sb://sb-lab.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
        f"SharedAccessKey={s['sb_key']}\r\n{pem}")
    st.write_text(json.dumps(doc, indent=4), encoding="utf-8")
    # handler log: the settings line with the command, a download with the SAS URL, an Authorization header
    hl = root / CSE_LOG
    lines = hl.read_text(encoding="utf-8").split("\n")
    i = next(n for n, ln in enumerate(lines) if "HandlerSettings = " in ln)
    lines[i] = lines[i].replace("install-monitoring.ps1]", f"install-monitoring.ps1 -Password {s['ps_password']}]")
    lines.insert(i + 1, f"[5124+00000001] [03/08/2024 04:29:07.71] [INFO] Downloading {url}")
    lines.insert(i + 2, f"[5124+00000001] [03/08/2024 04:29:07.71] [INFO] Request headers: Authorization: Bearer "
                        f"{s['jwt_header']}")
    hl.write_text("\n".join(lines), encoding="utf-8")
    # agent log: a SAS URL and a PFX logged whole
    al = root / AGENT_LOG
    lines = al.read_text(encoding="utf-8").split("\n")
    lines.insert(3, "[00000006] 2024-03-08T04:15:27.800Z [INFO]  Downloading artifacts profile blob "
                    f"https://md-hdd-lab.blob.core.windows.net/$system/web-01.vmSettings?sv=2018-03-28&sr=b&sig="
                    f"{s['sas_log']}&se=2024-03-09")
    lines.insert(4, f"[00000006] 2024-03-08T04:15:27.900Z [INFO]  Certificate data: {pfx}")
    al.write_text("\n".join(lines), encoding="utf-8")
    # an IMDS token probe: the body is the token answer, JSON inside JSON
    probe = json.loads((root / "probes/imds_instance.json").read_text())
    probe["url"] = "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=" \
                   "https%3A%2F%2Fvault.azure.net"
    probe["body"] = json.dumps({"access_token": s["jwt_probe"], "client_id": "6f2d8a1c-3e4b-4c5d-9a7e-0b1c2d3e4f50",
                                "expires_in": "86399", "token_type": "Bearer"})
    (root / "probes/imds_token.json").write_text(json.dumps(probe, indent=4), encoding="utf-8")
    _rehash(root, extra=["probes/imds_token.json"])
    return Seeded(root, s)


@pytest.fixture
def seeded(tmp_path: Path) -> Seeded:
    return seed(tmp_path)


def _frame_text(df: pd.DataFrame) -> str:
    return df.astype(str).to_csv(index=False) if not df.empty else ""


# -- the seeding reaches the frames (so the tests below can fail) ----------------------------------------------------
def test_seeded_secrets_are_in_the_raw_frames(seeded: Seeded) -> None:
    b = open_bundle(seeded.path, redact=False)
    text = "\n".join(_frame_text(df) for df in b.frames().values())
    assert set(seeded.leaks(text)) >= {"sas", "sas_log", "jwt_status", "jwt_header", "jwt_probe", "ps_password",
                                       "slash_p", "kv_password", "storage_key", "sb_key", "pem", "pfx"}
    b2 = open_bundle(seeded.path)
    assert "ps_password" in seeded.leaks(_frame_text(b2.frame("ext_settings", raw=True)))
    assert b.issues.query("kind.str.contains('hash')", engine="python").empty


# -- every output channel --------------------------------------------------------------------------------------------
def test_no_secret_in_any_frame_or_findings(seeded: Seeded) -> None:
    b = open_bundle(seeded.path)
    for name, df in b.frames().items():
        assert seeded.leaks(_frame_text(df)) == [], name
    findings = diagnose(b)
    assert seeded.leaks(_frame_text(findings)) == []
    assert seeded.leaks(json.dumps(findings_to_json(findings))) == []
    assert seeded.leaks(_frame_text(evidence_frame(findings))) == []
    assert seeded.leaks(_frame_text(b.issues) + _frame_text(b.inventory) + b.summary() + b._repr_html_()) == []
    assert seeded.leaks(_frame_text(b.frame("parse_issues"))) == []


def test_masks_are_the_same_everywhere_and_evidence_stays(seeded: Seeded) -> None:
    b = open_bundle(seeded.path)
    settings = b.frame("ext_settings")
    pub = " ".join(settings["public_settings"].dropna())
    assert "sig=<redacted>" in pub and "-Password <redacted>" in pub and "/p:<redacted>" in pub
    assert "password=<redacted>" in pub and '"storageAccountKey":"<redacted>"' in pub
    # evidence, not secrets: the storage host, the script name, the extension, the thumbprint
    assert "stsupportlab01.blob.core.windows.net/scripts/install-monitoring.ps1?sv=2022-11-02" in pub
    assert settings["protected_cert_thumbprint"].notna().all()
    assert settings["has_protected_settings"].any()
    log = " ".join(b.frame("handler_log")["text"].dropna())
    assert "Authorization: Bearer <redacted>" in log and "sig=<redacted>" in log
    body = " ".join(b.frame("http_probes")["body"].dropna())
    assert '\\"access_token\\": \\"<redacted>\\"' in body or '"access_token": "<redacted>"' in body
    assert "6f2d8a1c-3e4b-4c5d-9a7e-0b1c2d3e4f50" in body  # a client id is evidence


def test_cli_diagnose_text_json_report_parse_inspect(seeded: Seeded, tmp_path: Path, capsys) -> None:
    outputs = []
    for argv in (["diagnose", str(seeded.path)], ["diagnose", str(seeded.path), "--json"],
                 ["inspect", str(seeded.path)], ["parse", str(seeded.path / CSE / "RuntimeSettings/0.settings")],
                 ["parse", str(seeded.path / CSE / "Status/0.status")], ["parse", str(seeded.path / CSE_LOG)],
                 ["parse", str(seeded.path / AGENT_LOG), "--rows", "200"],
                 ["parse", str(seeded.path / "probes/imds_token.json")]):
        main(argv)
        out = capsys.readouterr()
        outputs.append(out.out + out.err)
        assert seeded.leaks(out.out + out.err) == [], argv
    assert "<redacted>" in outputs[3]  # the parse of the settings file shows the mask
    html = tmp_path / "r.html"
    assert main(["report", str(seeded.path), "-o", str(html)]) == 0
    text = html.read_text(encoding="utf-8")
    assert seeded.leaks(text) == []
    assert main(["redact", "--check", str(html)]) == 0  # the kit's own scan agrees
    js = tmp_path / "findings.json"
    js.write_text(outputs[1], encoding="utf-8")
    assert main(["redact", "--check", str(js)]) == 0
    capsys.readouterr()
    csv = tmp_path / "settings.csv"
    main(["parse", str(seeded.path / CSE / "RuntimeSettings/0.settings"), "--csv", str(csv)])
    assert seeded.leaks(csv.read_text(encoding="utf-8")) == []


def test_parse_raw_shows_what_the_file_holds(seeded: Seeded, capsys) -> None:
    main(["parse", str(seeded.path / CSE / "RuntimeSettings/0.settings"), "--raw"])
    assert "ps_password" in seeded.leaks(capsys.readouterr().out)


def test_damaged_files_and_exceptions_do_not_leak(seeded: Seeded, capsys) -> None:
    s = seeded.secrets
    cut = (f'{{"runtimeSettings": [{{"handlerSettings": {{"publicSettings": {{"commandToExecute": '
           f'"run.cmd -Password {s["ps_password"]} /p:{s["slash_p"]} sig={s["sas"]}')
    (seeded.path / CSE / "RuntimeSettings/1.settings").write_text(cut, encoding="utf-8")
    (seeded.path / "commands/route_print.txt").write_text(f"garbage password={s['kv_password']} Bearer "
                                                          f"{s['jwt_header']}\n", encoding="utf-8")
    b = open_bundle(seeded.path)
    assert not b.issues.empty
    assert seeded.leaks(_frame_text(b.issues) + b.summary()) == []
    for f in (seeded.path / CSE / "RuntimeSettings/1.settings", seeded.path / "commands/route_print.txt"):
        main(["parse", str(f)])
        out = capsys.readouterr()
        assert seeded.leaks(out.out + out.err) == []
    from kit.errors import KitError
    from kit.parse import parse_text

    with pytest.raises(KitError) as exc:
        parse_text(f"not a log password={s['kv_password']} sig={s['sas']}", source="x.txt")
    assert seeded.leaks(str(exc.value)) == []
    main(["diagnose", str(seeded.path / "no-such" / f"sig={s['sas']}")])
    assert seeded.leaks(capsys.readouterr().err) == []


# -- the rules -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("https://a.blob.core.windows.net/c/x?sv=2022-11-02&sig=AbC%2B%3D&se=1", "https://a.blob.core.windows.net/c/x?"
     "sv=2022-11-02&sig=<redacted>&se=1"),
    ('{"access_token":"abc.def","token_type":"Bearer"}', '{"access_token":"<redacted>","token_type":"Bearer"}'),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic <redacted>"),
    ("run.ps1 -AdminPassword:'a b c' -Force", "run.ps1 -AdminPassword:<redacted> -Force"),
    ("cmdkey /add:srv /user:me /pass:Xyz", "cmdkey /add:srv /user:me /pass:<redacted>"),
    ("Server=db;User Id=sa;Password=Pa55;", "Server=db;User Id=sa;Password=<redacted>;"),
    ("https://me:Pa55@proxy.contoso.com:3128", "https://me:<redacted>@proxy.contoso.com:3128"),
    ("BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=sv=2020&ss=b&sig=X",
     "BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=<redacted>"),
])
def test_rule_masks(text: str, expected: str) -> None:
    assert R.redact_text(text) == expected
    assert R.redact_text(expected) == expected  # masking is idempotent
    assert R.scan_text(text) and not [h for h in R.scan_text(expected) if "detect-secrets" not in h.kind]


@pytest.mark.parametrize("text", [
    "https://kv-lab.vault.azure.net/secrets/web-cert/0123456789abcdef0123456789abcdef",
    "https://stsupportlab01.blob.core.windows.net/scripts/install-monitoring.ps1",
    "plugin (name: Microsoft.Azure.KeyVault.KeyVaultForWindows, version: 3.1.2195.61) enabled successfully.",
    "HandlerSettings = ProtectedSettingsCertThumbprint: REDACTED, ProtectedSettings: {REDACTED}",
    '"protectedSettingsCertThumbprint": "E3A4037E9FDBB8F7B7CF1F75AD3B22D508C12843"',
    "Authorization failed for the token request: 403",
    "Getting token from http://169.254.169.254/metadata/identity/oauth2/token",
    "-KeyVaultName kv-lab -Force",
    '"msiEndpoint":"http://localhost:50342/oauth2/token"',
    "[ERROR] AuthorizationFailed: The client does not have authorization to perform action",
])
def test_evidence_is_not_a_secret(text: str) -> None:
    assert R.redact_text(text) == text
    assert [h for h in R.scan_text(text) if "detect-secrets" not in h.kind] == []


def test_attested_data_and_certificates_are_kept() -> None:
    from kit.parse.attestation import __dict__ as att

    blob = next(v for k, v in att.items() if isinstance(v, str) and v.startswith("MII") and len(v) > 200)
    assert R.redact_text(blob) == blob  # CMS SignedData is evidence (kit.parse.attestation verifies it)
    _, pfx = _keys()
    assert R.redact_text(pfx) == R.MASK


def test_prefilter_is_a_superset_of_every_rule_literal() -> None:
    for lit in R._LITERALS:
        assert any(a in lit for a in R._ANCHORS), lit
        assert R.might_hold_secret(f"x {lit.upper()} y"), lit
        for form in (lit, lit.upper(), lit.title()):
            assert R._PREFILTER_RE.search(form), form
            assert R._arrow_hits([pd.Series(["clean", f"x {form} y"], dtype="str")])[0].tolist() == [False, True]


def test_redact_frame_keeps_dtypes_and_identity() -> None:
    df = pd.DataFrame({"a": pd.Series(["ok", "x sig=abc", None], dtype="str"), "n": [1, 2, 3],
                       "c": pd.Series(["p", "q", "p"], dtype="category")})
    out = R.redact_frame(df)
    assert out is not df and out["a"].tolist()[:2] == ["ok", "x sig=<redacted>"] and pd.isna(out["a"].iloc[2])
    assert out.dtypes.equals(df.dtypes) and df["a"].iloc[1] == "x sig=abc"
    clean = df.iloc[[0, 2]]
    assert R.redact_frame(clean) is clean
    cat = pd.DataFrame({"c": pd.Series(["sig=1", "sig=2", "z"], dtype="category")})
    assert R.redact_frame(cat)["c"].astype(str).tolist() == ["sig=<redacted>", "sig=<redacted>", "z"]
    # a large frame goes through the one-call Arrow pre-filter; the same rows come out
    n = R._ARROW_MIN_CELLS
    big = pd.DataFrame({"a": pd.Series(["ok"] * n, dtype="str"), "b": pd.Series(["fine"] * n, dtype="str")})
    big.loc[7, "b"] = "token=abc"
    big.loc[n - 1, "a"] = "Authorization: Bearer abcdefghijklmnopqrstuvwxyz"
    red = R.redact_frame(big)
    assert red.loc[7, "b"] == "token=<redacted>" and red.loc[n - 1, "a"] == "Authorization: Bearer <redacted>"
    assert (red.drop(index=[7, n - 1]) == big.drop(index=[7, n - 1])).all().all()


def test_redaction_is_cheap_on_a_million_rows() -> None:
    b = open_bundle(SAMPLES / "healthy")
    log = b.frame("agent_log", raw=True)
    n = 1_000_000
    big = pd.DataFrame({c: pd.Series((log[c].astype(object).tolist() * (n // len(log) + 1))[:n], dtype="str")
                        for c in ("message", "text")})
    big.loc[n // 2, "message"] = "Downloading https://x.blob.core.windows.net/c/b?sig=SECRETSIG1234&se=1"
    start = time.perf_counter()
    out = R.redact_frame(big)
    took = time.perf_counter() - start
    assert "SECRETSIG1234" not in out.loc[n // 2, "message"]
    assert took < 6.0, f"{took:.2f} s for 2 text columns of 1M rows"  # ~1 s on an idle 2-CPU machine


# -- vmkit redact ----------------------------------------------------------------------------------------------------
def _codes(path: Path) -> list[str]:
    return sorted(diagnose(open_bundle(path))["code"])


def _zip_text(path: Path) -> str:
    with zipfile.ZipFile(path) as zf:
        return "\n".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist())


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_redacted_copy_of_every_sample_diagnoses_the_same(name: str, tmp_path: Path) -> None:
    src = SAMPLES / name
    want = _codes(src)
    for pseudo in (False, True):
        out = tmp_path / f"{name}-{pseudo}.zip"
        R.redact_bundle(src, out, pseudonymize=pseudo, salt=b"0123456789abcdef0123" if pseudo else None)
        assert _codes(out) == want, (name, pseudo)
        b = open_bundle(out)
        kinds = set(b.issues["kind"].astype(str))
        assert not {k for k in kinds if "sha256" in k or "hash" in k or k == "unlisted-file"}, kinds
        assert R.scan_path(out) == []


def test_redact_cli_removes_every_seeded_secret(seeded: Seeded, tmp_path: Path, capsys) -> None:
    out = tmp_path / "shared.zip"
    assert main(["redact", str(seeded.path), "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert seeded.leaks(printed.out + printed.err) == []
    assert seeded.leaks(_zip_text(out)) == []
    b = open_bundle(out, redact=False)
    assert b.issues.query("kind.str.contains('hash')", engine="python").empty
    assert sorted(diagnose(b)["code"]) == _codes(seeded.path)
    assert main(["redact", "--check", str(out)]) == 0


def test_check_names_file_and_line_never_the_secret(seeded: Seeded, capsys) -> None:
    assert main(["redact", "--check", str(seeded.path)]) == 1
    out = capsys.readouterr().out
    assert seeded.leaks(out) == []
    for where in ("RuntimeSettings/0.settings:", "Status/0.status:", "CustomScriptHandler.log:", "WaAppAgent.log:",
                  "probes/imds_token.json:"):
        assert where in out, where
    line = next(n for n, ln in enumerate((seeded.path / AGENT_LOG).read_text().split("\n"), 1)
                if seeded.secrets["sas_log"] in ln)
    assert f"WaAppAgent.log:{line}: sas-signature" in out
    # a single file (a report someone wrote before this kit redacted) is checked too
    html = seeded.path.parent / "old.html"
    html.write_text(f"<pre>sig={seeded.secrets['sas']}</pre>", encoding="utf-8")
    assert main(["redact", "--check", str(html)]) == 1
    assert "old.html:1: sas-signature" in capsys.readouterr().out
    assert main(["redact", "--check", str(SAMPLES / "healthy")]) == 1  # protectedSettings is a secret blob


def test_pseudonymize_is_consistent_per_salt(tmp_path: Path) -> None:
    a = seed(tmp_path, "a").path
    b = tmp_path / "b"
    shutil.copytree(SAMPLES / "healthy", b)
    salt = tmp_path / "salt.txt"
    outs = {}
    for label, src, salt_file in (("a", a, salt), ("b", b, salt), ("c", b, tmp_path / "other-salt.txt")):
        out = tmp_path / f"{label}.zip"
        assert main(["redact", str(src), "-o", str(out), "--pseudonymize", "--salt-file", str(salt_file)]) == 0
        outs[label] = _zip_text(out)
    assert salt.exists() and (tmp_path / "other-salt.txt").exists()
    for original in ("web-01", "rg-support-lab", "8c1b2f6e-0b7a-4d0e-9a51-3f2d1c6b9e40", "10.0.1.4",
                     "stsupportlab01", "e88b7591-31db-4e32-98dc-b35f94c662cd"):
        for text in outs.values():
            assert original not in text, original
    for platform in ("168.63.129.16", "169.254.169.254"):
        assert platform in outs["b"] and platform in _folder_text(b)

    def names(text: str) -> set[str]:
        return set(re.findall(r"\b(?:vm|rg|host|user|res)-[0-9a-f]{6}\b", text))

    assert names(outs["a"]) & names(outs["b"])  # the same VM, resource group... under the same salt
    vm = json.loads(zipfile.ZipFile(tmp_path / "a.zip").read("manifest.json"))["vm"]["computer_name"]
    assert vm == json.loads(zipfile.ZipFile(tmp_path / "b.zip").read("manifest.json"))["vm"]["computer_name"]
    assert vm != json.loads(zipfile.ZipFile(tmp_path / "c.zip").read("manifest.json"))["vm"]["computer_name"]
    assert vm.startswith("vm-")
    assert names(outs["b"]).isdisjoint(names(outs["c"]))


def _folder_text(path: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in path.rglob("*") if p.is_file())


def test_private_addresses_keep_their_subnets() -> None:
    p = R.Pseudonymizer(b"k" * 20)
    a, gw, other = (p.private_ip(x) for x in ("10.0.1.4", "10.0.1.1", "10.0.2.4"))
    assert a.startswith("10.") and a.endswith(".4") and gw.endswith(".1")
    assert a.rsplit(".", 1)[0] == gw.rsplit(".", 1)[0] != other.rsplit(".", 1)[0]
    assert a.split(".")[:2] == other.split(".")[:2]  # 10.0.x.x stays one /16
    for ip in R.PLATFORM_ADDRESSES | {"8.8.8.8"}:
        assert p.private_ip(ip) == ip
    assert R.Pseudonymizer(b"x" * 20).private_ip("10.0.1.4") != a or R.Pseudonymizer(b"y" * 20).private_ip(
        "10.0.1.4") != a


def test_detect_secrets_detectors_back_up_the_kit_patterns(tmp_path: Path, capsys) -> None:
    """Vendor tokens the kit has no pattern for (an AWS key id, a GitHub token, as a script might print them) are
    found by detect-secrets' detectors in `vmkit redact` and `--check`."""
    pytest.importorskip("detect_secrets")
    root = tmp_path / "b"
    shutil.copytree(SAMPLES / "healthy", root)
    aws, gh = "AKIAZ7QF4XKJ3N2WLP5D", "ghp_" + "wWPw5k4aXcaT4fNP0UcnZwJUVFk6LO0pINUx"
    st = root / CSE / "Status/0.status"
    doc = json.loads(st.read_text())
    doc[0]["status"]["substatus"][0]["formattedMessage"]["message"] = f"aws {aws}\r\ngit clone with {gh}\r\n"
    st.write_text(json.dumps(doc, indent=4), encoding="utf-8")
    _rehash(root)
    assert main(["redact", "--check", str(root)]) == 1
    out = capsys.readouterr().out
    assert "Status/0.status:" in out and "(detect-secrets)" in out and aws not in out and gh not in out
    z = tmp_path / "b.zip"
    assert main(["redact", str(root), "-o", str(z)]) == 0
    text = _zip_text(z)
    assert aws not in text and gh not in text
    assert main(["redact", "--check", str(z)]) == 0
    assert sorted(diagnose(open_bundle(z))["code"]) == _codes(root)


def test_redact_a_zip_with_a_root_folder_and_a_binary_file(tmp_path: Path) -> None:
    root = tmp_path / "web-01-2024"
    shutil.copytree(SAMPLES / "healthy", root)
    (root / "commands/route_print.txt").write_bytes(bytes(range(256)) * 8)  # not text: cannot be checked
    _rehash(root)
    z = tmp_path / "in.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted(root.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(tmp_path).as_posix())
    out = tmp_path / "out.zip"
    rep = R.redact_bundle(z, out)
    assert [p for p, _ in rep.dropped] == ["web-01-2024/commands/route_print.txt"]
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("web-01-2024/manifest.json"))
    assert "web-01-2024/commands/route_print.txt" not in names and "web-01-2024/manifest.json" in names
    entry = next(a for a in manifest["artifacts"] if a["path"] == "commands/route_print.txt")
    assert entry["status"] == "skipped" and "vmkit redact" in entry["note"]
    b = open_bundle(out)
    kinds = set(b.issues["kind"].astype(str))
    assert "manifest-file-missing" not in kinds and "hash-mismatch" not in kinds
    assert "route_print" in set(b.missing["artifact"])


@pytest.mark.parametrize("name", ["cse-timeout-90min", "keyvault-legacy-msi", "proxy-intercepts-agent"])
def test_evidence_lines_holding_a_secret_are_masked_and_still_cited(name: str, tmp_path: Path, capsys) -> None:
    """A secret on the very log line a finding cites as evidence: the finding is the same, its evidence shows the
    line masked, and no output carries the secret."""
    root = tmp_path / name
    shutil.copytree(SAMPLES / name, root)
    ev = evidence_frame(diagnose(open_bundle(root)))
    row = ev[ev["artifact"].isin(["handler_log", "agent_log"]) & ev["line"].notna()].iloc[0]
    secret = "Kq7Vb2Nc9Xz4Lm1Pw8Rt5Ys3Ud6Ie0Oa%3D"
    f = root / row["source"]
    lines = f.read_text(encoding="utf-8").split("\n")
    lines[int(row["line"]) - 1] += (f" https://st.blob.core.windows.net/c/s.ps1?sv=2022-11-02&sig={secret} "
                                    f"-Password Pw{secret[:8]}")
    f.write_text("\n".join(lines), encoding="utf-8")
    _rehash(root)
    findings = diagnose(open_bundle(root))
    assert sorted(findings["code"]) == _codes(SAMPLES / name)
    cited = evidence_frame(findings)
    hit = cited[(cited["source"] == row["source"]) & (cited["line"] == row["line"])]
    assert not hit.empty and hit["text"].str.contains("sig=<redacted>", regex=False).all()
    main(["diagnose", str(root), "--json"])
    main(["diagnose", str(root)])
    out = capsys.readouterr().out
    assert secret not in out and secret[:8] not in out and "sig=<redacted>" in out
    assert secret not in _frame_text(cited) and f"Pw{secret[:8]}" not in _frame_text(cited)


_FRAGMENTS = ["password=", "-Password ", "/p:", "sig=", "token=", '"', "'", "\\", " ", ",", ":", "}", "]", "abc",
              "Bearer ", "Authorization: ", "AccountKey=", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.x",
              "-----BEGIN PRIVATE KEY-----", "\n", "https://u:p@h", "&", ";", "\\\""]


def test_masking_keeps_json_valid() -> None:
    """Frames hold JSON (public_settings, probe bodies) that rules parse after masking: any JSON document stays
    JSON, whatever secret-like fragments its strings hold, and every JSON file of the samples and the seeded
    bundle too."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    text = st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=6), max_size=8).map("".join)
    keys = st.sampled_from(["commandToExecute", "access_token", "password", "fileUris", "x", "protectedSettings"])
    doc = st.recursive(text, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
                       max_leaves=8)

    @settings(max_examples=400, deadline=None, derandomize=True)
    @given(doc)
    def check(obj) -> None:
        for dumped in (json.dumps(obj), json.dumps(obj, separators=(",", ":")), json.dumps(json.dumps(obj))):
            json.loads(R.redact_text(dumped))

    check()
    for f in list(SAMPLES.glob("*/**/*.json")) + list(SAMPLES.glob("*/**/*.settings")) + list(
            SAMPLES.glob("*/**/*.status")):
        text = f.read_text(encoding="utf-8-sig", errors="replace").rstrip("\x00")
        try:
            json.loads(text)
        except ValueError:
            continue
        json.loads(R.redact_text(text))


def test_redact_verifies_its_copy(seeded: Seeded, tmp_path: Path, capsys, monkeypatch) -> None:
    """`vmkit redact` scans what it wrote: were a shape to slip through, it says so and exits 1."""
    monkeypatch.setattr(R, "redact_file_text", lambda text, pseudo=None: text)
    assert main(["redact", str(seeded.path), "-o", str(tmp_path / "x.zip")]) == 1
    err = capsys.readouterr().err
    assert "still found:" in err and "do not share it" in err and seeded.leaks(err) == []


@pytest.mark.parametrize("lang", ["de", "ru", "ja"])
def test_localized_console_output_keeps_its_code_page(lang: str, tmp_path: Path) -> None:
    """route print / ipconfig written in cp850, cp866 or cp932: the pseudonymized copy (its private addresses
    replaced) is written back in the same code page, reads the same way and diagnoses the same."""
    from .test_same_answer import _localized

    root = _localized(tmp_path, lang, loose=False)
    out = tmp_path / f"{lang}.zip"
    rep = R.redact_bundle(root, out, pseudonymize=True, salt=b"0123456789abcdef0123")
    assert "commands/route_print.txt" in rep.changed
    before, after = open_bundle(root), open_bundle(out)
    enc = {b: dict(zip(x.inventory["path"], x.inventory["encoding"], strict=True)) for b, x in
           (("before", before), ("after", after))}
    assert enc["after"]["commands/route_print.txt"] == enc["before"]["commands/route_print.txt"]
    assert enc["after"]["commands/ipconfig_all.txt"] == enc["before"]["commands/ipconfig_all.txt"]
    assert len(after.frame("routes")) == len(before.frame("routes"))
    assert sorted(diagnose(after)["code"]) == sorted(diagnose(before)["code"])


def test_redact_and_check_survive_damaged_bundles(tmp_path: Path) -> None:
    """Every mutation of the fuzz harness, on every kind of file of a sample (the manifest too): `vmkit redact`
    and `--check` never raise, and the copy opens."""
    import random

    from .fuzz_harness import MUTATIONS

    rnd = random.Random(17)
    targets = ["manifest.json", AGENT_LOG, CSE_LOG, f"{CSE}/RuntimeSettings/0.settings", f"{CSE}/Status/0.status",
               "probes/imds_instance.json", "commands/route_print.txt"]
    for i, (_name, mutate) in enumerate(sorted(MUTATIONS.items())):
        root = tmp_path / f"c{i}"
        shutil.copytree(SAMPLES / "healthy", root)
        for rel in ("manifest.json", targets[1 + i % (len(targets) - 1)]):
            (root / rel).write_bytes(mutate((root / rel).read_bytes(), rnd))
        out = tmp_path / f"c{i}.zip"
        R.redact_bundle(root, out, pseudonymize=bool(i % 2), salt=b"0123456789abcdef0123")
        R.scan_path(root)
        R.scan_path(out)
        open_bundle(out).frames()


def test_a_hash_mismatch_in_the_input_is_not_laundered(tmp_path: Path) -> None:
    """A file changed after collection (its sha256 no longer matches) keeps saying so in the redacted copy; only the
    files redaction changed get new hashes."""
    root = tmp_path / "b"
    shutil.copytree(SAMPLES / "healthy", root)
    with (root / AGENT_LOG).open("a", encoding="utf-8") as f:
        f.write("[00000006] 2024-03-08T10:15:00.000Z [INFO]  appended after collection\n")
    before = set(open_bundle(root).issues["kind"].astype(str))
    out = tmp_path / "b.zip"
    R.redact_bundle(root, out)
    after = open_bundle(out).issues
    mism = [k for k in before if "sha256" in k or "hash" in k]
    assert mism and set(after["kind"].astype(str)) >= set(mism)
    assert AGENT_LOG in set(after.loc[after["kind"].astype(str).isin(mism), "source"])
