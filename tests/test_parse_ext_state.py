"""Extension state parsers on the real layouts of formats doc §6.1-6.3 (status, runtime settings, HandlerManifest,
HandlerEnvironment, aggregate status): values, dtypes, half-written files, encodings, sniffing, and that
protectedSettings never reaches a frame, a repr or an issue."""

from __future__ import annotations

import json
from types import ModuleType

import pandas as pd
import pytest

from kit.parse import aggregate_status, ext_settings, ext_status, handler_env, handler_manifest, match_path, sniff
from kit.parse._jsonutil import load, salvage
from kit.parse.base import ParseResult, issues_frame
from kit.textio import decode

# -- formats doc §6.1: Status\N.status of Microsoft.Compute.CustomScriptExtension 1.10.9, verbatim ------------------
CSE_STATUS = """[
    {
        "version": "1",
        "timestampUTC": "2021-01-02T23:56:55.6741325Z",
        "status": {
            "name": "SecureCommand_2",
            "operation": "Command Execution Finished",
            "status": "success",
            "code": 0,
            "formattedMessage": {
                "lang": "en-US",
                "message": "Command execution finished"
            },
            "substatus": [
                {
                    "name": "StdOut",
                    "status": "success",
                    "code": 0,
                    "formattedMessage": {
                        "lang": "en-US",
                        "message": "\\r\\n"
                    }
                },
                {
                    "name": "StdErr",
                    "status": "success",
                    "code": 0,
                    "formattedMessage": {
                        "lang": "en-US",
                        "message": ""
                    }
                }
            ]
        }
    }
]"""
CSE_DIR = "C/Packages/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.9"
STATUS_SRC = f"{CSE_DIR}/Status/2.status"

# §6.1 Linux example (WALinuxAgent issue #713, LinuxAsm 0.status), verbatim (tabs as in the source).
LINUX_ASM_STATUS = """[
\t{
\t\t"version": 1,
\t\t"timestampUTC": "2017-05-13T18:56:32Z",
\t\t"status": {
\t\t\t"operation": "Enable ASM",
\t\t\t"status": "error",
\t\t\t"formattedMessage": {
\t\t\t\t"lang": "en",
\t\t\t\t"message": "Enable ASM failed: OS is not supported. Error: Failed to locate a release file. OS Name and version cannot be determined."
\t\t\t}
\t\t}
\t}
]"""

# §11 (AGEX CSE workflow): the reboot-in-script failure message.
CSE_REBOOT_MSG = ("Command execution finished, but failed because it returned a non-zero exit code of: '1'. Command "
                  "execution may have been interrupted by a VM restart")


def _status_doc(message: str, *, status: str = "error", code: object = 1, **extra: object) -> str:
    st = {"name": "SecureCommand_3", "operation": "Command Execution Finished", "status": status, "code": code,
          "formattedMessage": {"lang": "en-US", "message": message}, **extra}
    return json.dumps([{"version": "1", "timestampUTC": "2021-01-03T00:12:01.1234567Z", "status": st}], indent=4)


def test_cse_status_values_and_dtypes() -> None:
    r = ext_status.parse(CSE_STATUS.replace("\n", "\r\n"), source=STATUS_SRC)
    st, sub = r.frames["ext_status"], r.frames["ext_substatus"]
    assert ext_status.EXT_STATUS.check_dtypes(st) == [] and ext_status.EXT_SUBSTATUS.check_dtypes(sub) == []
    assert len(st) == 1 and not r.issues
    row = st.iloc[0]
    assert row["source"] == STATUS_SRC and pd.isna(row["line"])
    assert (row["extension"], row["ext_version"], row["seq"]) == ("Microsoft.Compute.CustomScriptExtension",
                                                                  "1.10.9", 2)
    assert (row["status_version"], row["name"], row["operation"]) == ("1", "SecureCommand_2",
                                                                      "Command Execution Finished")
    assert row["timestamp"] == pd.Timestamp("2021-01-02T23:56:55.6741325Z")
    assert row["timestamp"].nanosecond == 500 and str(row["timestamp"].tz) == "UTC"  # all 7 fractional digits kept
    assert (row["status"], row["code"], row["message"]) == ("success", 0, "Command execution finished")
    assert row["substatus_count"] == 2 and pd.isna(row["exit_code"]) and pd.isna(row["configuration_applied_time"])
    assert not row["damaged"] and pd.isna(row["damage"])
    assert list(st["status"].cat.categories) == ["success"]
    assert sub["name"].tolist() == ["StdOut", "StdErr"] and sub["parent_name"].tolist() == ["SecureCommand_2"] * 2
    assert sub["message"].tolist() == ["\r\n", ""] and sub["code"].tolist() == [0, 0]
    assert sub["seq"].tolist() == [2, 2] and sub["line"].isna().all()


@pytest.mark.parametrize(("message", "exit_code"), [
    (CSE_REBOOT_MSG, 1),
    ("Command execution finished, but failed because it returned a non-zero exit code of: '1'.", 1),
    ("Command execution finished. Command exited with code: 0", 0),  # RunCommand v1 (§3.1)
    ("RunCommand script execution finished with exit code: 0", 0),  # RunCommand v2 (§3.1)
    ("(000003)Non-zero exit code: 14, asm-extension enable", 14),  # Linux HandlerStatus (§6.1)
    ("Enable failed: failed to execute command: command terminated with exit status=50\n[stdout]\n\n[stderr]\nnc: "
     "connect to mcr.microsoft.com port 443 (tcp) failed: Connection timed out", 50),  # Linux CSE (§6.1)
    ("Command execution finished", None),
    ("Finished executing command, StdOut: 3 lines", None),
])
def test_exit_code_from_message(message: str, exit_code: int | None) -> None:
    row = ext_status.parse(_status_doc(message), source=STATUS_SRC).frames["ext_status"].iloc[0]
    assert row["message"] == message and row["status"] == "error" and row["code"] == 1
    assert (pd.isna(row["exit_code"]) if exit_code is None else row["exit_code"] == exit_code)


def test_linux_status_number_version_and_missing_fields() -> None:
    r = ext_status.parse(LINUX_ASM_STATUS, source="C/Packages/Plugins/Microsoft.OSTCExtensions.LinuxAsm/2.2.3/"
                                                  "Status/0.status")
    row = r.frames["ext_status"].iloc[0]
    assert (row["status_version"], row["seq"], row["operation"], row["status"]) == ("1", 0, "Enable ASM", "error")
    assert pd.isna(row["name"]) and pd.isna(row["code"]) and row["substatus_count"] == 0
    assert row["message"].startswith("Enable ASM failed: OS is not supported.")
    assert row["timestamp"] == pd.Timestamp("2017-05-13T18:56:32Z") and not r.issues


def test_report_status_layout_message_id_params_and_applied_time() -> None:
    # ReportStatus.ps1 generic layout (§6.1): "version": 1.0, configurationAppliedTime, message{id, params}.
    doc = [{"version": 1.0, "timestampUTC": "2023-06-01T10:00:00.0000000Z", "status": {
        "name": "EnvironmentChecker", "operation": "Enable", "configurationAppliedTime": "2023-06-01T09:59:58Z",
        "status": "Warning", "code": "0x80070005", "message": {"id": "Validation {0} failed on {1}",
                                                              "params": ["Connectivity", "node1"]}}},
           {"version": "1.0", "timestampUTC": "2023-06-01T10:05:00Z", "status": {
               "status": "transitioning", "code": "-1", "message": {"id": "InProgress", "params": ["step 2", 3]}}}]
    r = ext_status.parse(json.dumps(doc), source=STATUS_SRC)
    st = r.frames["ext_status"]
    assert st["status_version"].tolist() == ["1.0", "1.0"]
    assert st["message"].tolist() == ["Validation Connectivity failed on node1", "InProgress: step 2, 3"]
    assert st["status"].tolist() == ["warning", "transitioning"]
    assert st["code"].tolist() == [0x80070005, -1]
    assert st["configuration_applied_time"].iloc[0] == pd.Timestamp("2023-06-01T09:59:58Z")
    assert not r.issues


def test_lone_object_and_utf16_nul_padded_status() -> None:
    lone = json.dumps(json.loads(CSE_STATUS)[0], indent=2)  # ConvertTo-Json writes a lone object
    raw = "\ufeff".encode("utf-16-le") + lone.replace("\n", "\r\n").encode("utf-16-le") + b"\x00" * 64
    text = decode(raw).text
    r = ext_status.parse(text, source=STATUS_SRC)
    assert r.frames["ext_status"]["name"].tolist() == ["SecureCommand_2"] and not r.issues
    assert len(r.frames["ext_substatus"]) == 2


def test_half_written_status_keeps_what_was_complete() -> None:
    cut = CSE_STATUS.index('"name": "StdErr"') + 5  # cut inside the second substatus
    r = ext_status.parse(CSE_STATUS[:cut], source=STATUS_SRC)
    st, sub = r.frames["ext_status"], r.frames["ext_substatus"]
    row = st.iloc[0]
    assert len(st) == 1 and row["damaged"] and (row["extension"], row["seq"]) == (
        "Microsoft.Compute.CustomScriptExtension", 2)
    # the members written before the cut are kept: the entry said success, and StdOut is complete
    assert (row["status"], row["code"], row["name"]) == ("success", 0, "SecureCommand_2")
    assert sub["name"].tolist() == ["StdOut"] and row["substatus_count"] == 1
    [issue] = r.issues
    assert issue.kind == "bad-json" and issue.source == STATUS_SRC and issue.line == CSE_STATUS[:cut].count("\n") + 1
    assert f"line {issue.line} column" in issue.message and "expected" in issue.message
    assert "found" in issue.message and row["damage"] == issue.message


def test_status_cut_before_any_entry_is_still_a_row() -> None:
    for text in (CSE_STATUS[:9], "", "   \r\n", "[]", '{"unrelated": true}'):
        r = ext_status.parse(text, source=STATUS_SRC)
        st = r.frames["ext_status"]
        assert len(st) == 1 and bool(st["damaged"].iloc[0]) and st["seq"].iloc[0] == 2, text
        assert st["extension"].iloc[0] == "Microsoft.Compute.CustomScriptExtension"
        assert r.issues and r.issues[0].kind in ("bad-json", "empty", "unexpected-shape")
        assert "expected" in r.issues[0].message and "found" in r.issues[0].message


def test_every_prefix_of_a_status_file_parses() -> None:
    # every 5th cut plus the cuts right at and after each bracket and quote
    cuts = set(range(0, len(CSE_STATUS) + 1, 5)) | {i + d for i, c in enumerate(CSE_STATUS) if c in "{}[]\""
                                                    for d in (0, 1)}
    for n in sorted(c for c in cuts if c <= len(CSE_STATUS)):
        r = ext_status.parse(CSE_STATUS[:n], source=STATUS_SRC)
        st = r.frames["ext_status"]
        assert len(st) >= 1
        assert bool(st["damaged"].all()) == (n < len(CSE_STATUS)), n


def test_pii_placeholder_timestamp_is_flagged_not_lost() -> None:
    doc = json.loads(CSE_STATUS)
    doc[0]["timestampUTC"] = "{ALPHANUMERICPII}"
    r = ext_status.parse(json.dumps(doc), source=STATUS_SRC)
    row = r.frames["ext_status"].iloc[0]
    assert pd.isna(row["timestamp"]) and row["damaged"] and "{ALPHANUMERICPII}" in row["damage"]
    assert row["status"] == "success"
    assert [i.kind for i in r.issues] == ["bad-timestamp"] and r.issues[0].text == "{ALPHANUMERICPII}"


def test_status_outside_the_plugin_layout() -> None:
    row = ext_status.parse(CSE_STATUS, source="0.status").frames["ext_status"].iloc[0]
    assert pd.isna(row["extension"]) and pd.isna(row["ext_version"]) and row["seq"] == 0
    row = ext_status.parse(CSE_STATUS, source="status.txt").frames["ext_status"].iloc[0]
    assert pd.isna(row["extension"]) and pd.isna(row["seq"]) and row["name"] == "SecureCommand_2"


# -- formats doc §6.2: RuntimeSettings\N.settings ------------------------------------------------------------------
SECRET = ("MIIByAYJKoZIhvcNAQcDoIIBuTCCAbUCAQAxggFxMIIBbQIBADBVMEExPzA9BgoJkiaJk/IsZAEZFi9XaW5kb3dzIEF6dXJlIENS"
          "UCBDZXJ0aWZpY2F0ZSBHZW5lcmF0b3ICEGX7nvqHk2qxQbLm1mVZx9MwDQYJKoZIhvcNAQEBBQAEggEAq8Zw3Rv0PQtestOnly=")
THUMB = "1BE9A13AA1321C7C515EF109746998BAB6D86FD1"
# Chef handler layout (single line; §6.2) with a real-shaped publicSettings object in place of "{...}".
CHEF_SETTINGS = ('{"runtimeSettings":[{"handlerSettings":{"protectedSettingsCertThumbprint":"' + THUMB + '",'
                 '"protectedSettings":"' + SECRET + '","publicSettings":{"runlist":"recipe[getting-started]",'
                 '"client_rb":"ssl_verify_mode :verify_none","autoUpdateClient":"false"}}}]}')
# Linux CSE example (custom-script-extension-linux issue #121; §6.2), verbatim.
LINUX_CSE_SETTINGS = """{
  "runtimeSettings": [
    {
      "handlerSettings": {
        "protectedSettings": null,
        "publicSettings": {
          "commandToExecute": "./customscript-test.sh",
          "fileUris": [
            "https://raw.githubusercontent.com/johanburati/ms/master/customscript-test.shx"
          ],
          "timestamp": 21094
        },
        "protectedSettingsCertThumbprint": null
      }
    }
  ]
}"""
SET_SRC = f"{CSE_DIR}/RuntimeSettings/0.settings"


def _everything_visible(r: ParseResult) -> str:
    df = r.frames["ext_settings"]
    parts = [repr(df), str(df), df.to_csv(), df.to_json(), df.to_string(), repr(r.issues),
             repr(issues_frame(r.issues)), issues_frame(r.issues).to_csv()]
    parts += [str(i) for i in r.issues] + [json.dumps(i.as_record()) for i in r.issues]
    parts += [str(v) for v in df.to_dict("records")]
    return "\n".join(parts)


def _assert_no_secret(blob: str, secret: str = SECRET, width: int = 8) -> None:
    leaked = [secret[i:i + width] for i in range(len(secret) - width + 1) if secret[i:i + width] in blob]
    assert not leaked, f"protected value leaked: {leaked[:3]}"


def test_chef_settings_public_part_only() -> None:
    r = ext_settings.parse(CHEF_SETTINGS, source=SET_SRC)
    df = r.frames["ext_settings"]
    assert ext_settings.EXT_SETTINGS.check_dtypes(df) == [] and not r.issues and len(df) == 1
    row = df.iloc[0]
    assert (row["extension"], row["ext_version"], row["seq"], row["handler_index"]) == (
        "Microsoft.Compute.CustomScriptExtension", "1.10.9", 0, 0)
    assert row["public_settings"] == ('{"autoUpdateClient":"false","client_rb":"ssl_verify_mode :verify_none",'
                                      '"runlist":"recipe[getting-started]"}')
    assert row["public_settings_keys"] == "runlist,client_rb,autoUpdateClient"
    assert row["has_protected_settings"] and row["protected_settings_length"] == len(SECRET)
    assert row["protected_cert_thumbprint"] == THUMB and not row["damaged"]
    _assert_no_secret(_everything_visible(r))


def test_linux_cse_settings_with_null_protected() -> None:
    r = ext_settings.parse(LINUX_CSE_SETTINGS, source=SET_SRC)
    row = r.frames["ext_settings"].iloc[0]
    assert not r.issues and not row["has_protected_settings"] and pd.isna(row["protected_settings_length"])
    assert pd.isna(row["protected_cert_thumbprint"])
    assert json.loads(row["public_settings"]) == json.loads(LINUX_CSE_SETTINGS)["runtimeSettings"][0][
        "handlerSettings"]["publicSettings"]
    assert row["public_settings_keys"] == "commandToExecute,fileUris,timestamp"


def test_truncated_settings_cut_inside_protected_leaks_nothing() -> None:
    start = CHEF_SETTINGS.index(SECRET)
    # every cut from just before the key to just after the value, plus a handful of later ones
    edges = [*range(start - 25, start + 12), *range(start + len(SECRET) - 8, start + len(SECRET) + 3)]
    cuts = [*edges, *range(start + 12, start + len(SECRET) - 8, 9), len(CHEF_SETTINGS) - 10]
    for cut in cuts:
        text = CHEF_SETTINGS[:cut]
        r = ext_settings.parse(text, source=SET_SRC)
        df = r.frames["ext_settings"]
        assert len(df) == 1 and bool(df["damaged"].iloc[0]), cut
        if cut > CHEF_SETTINGS.index(THUMB) + len(THUMB):  # complete before the cut, so kept
            assert df["protected_cert_thumbprint"].iloc[0] == THUMB, cut
        _assert_no_secret(_everything_visible(r))
        if start <= cut < start + len(SECRET) + 1:  # inside the value (or before its closing quote)
            assert bool(df["has_protected_settings"].iloc[0]) and pd.isna(df["protected_settings_length"].iloc[0])
            assert "ends inside protectedSettings" in df["damage"].iloc[0]
        assert [i.kind for i in r.issues] == ["bad-json"]


def test_protected_value_followed_by_garbage_or_as_object_leaks_nothing() -> None:
    broken = CHEF_SETTINGS.replace(SECRET + '"', SECRET + '" !! ')  # error right after the value
    r = ext_settings.parse(broken, source=SET_SRC)
    assert r.issues[0].kind == "bad-json" and r.frames["ext_settings"]["damaged"].iloc[0]
    assert r.frames["ext_settings"]["protected_settings_length"].iloc[0] == len(SECRET)
    _assert_no_secret(_everything_visible(r))
    # a decrypted copy pasted by someone: protectedSettings as an object (also cut inside it)
    inner_secret = "P@ssw0rd-StorageKey-0123456789abcdefXYZ=="
    doc = ('{"runtimeSettings":[{"handlerSettings":{"protectedSettings":{"storageAccountKey":"' + inner_secret
           + '","commandToExecute":"net user a b"},"publicSettings":{"fileUris":[]}}}]}')
    for text in (doc, doc[:doc.index(inner_secret) + 10]):
        r = ext_settings.parse(text, source=SET_SRC)
        assert bool(r.frames["ext_settings"]["has_protected_settings"].iloc[0])
        blob = _everything_visible(r)
        _assert_no_secret(blob, inner_secret) and _assert_no_secret(blob, "commandToExecute\":\"net user a b")


def test_protected_lengths_follow_their_blocks() -> None:
    doc = {"runtimeSettings": [
        {"handlerSettings": {"protectedSettings": None, "publicSettings": {"a": 1}}},
        {"handlerSettings": {"protectedSettingsCertThumbprint": THUMB, "protectedSettings": SECRET,
                             "publicSettings": {"b": 2}}}]}
    text = json.dumps(doc).replace("/", "\\/")  # some writers escape the slashes of base64
    r = ext_settings.parse(text, source=SET_SRC)
    df = r.frames["ext_settings"]
    assert df["handler_index"].tolist() == [0, 1]
    assert df["has_protected_settings"].tolist() == [False, True]
    assert pd.isna(df["protected_settings_length"].iloc[0]) and df["protected_settings_length"].iloc[1] == len(SECRET)
    assert df["public_settings_keys"].tolist() == ["a", "b"]
    _assert_no_secret(_everything_visible(r))


def test_settings_passed_as_an_escaped_json_string() -> None:
    pub = "{\"commandToExecute\": \"powershell -ExecutionPolicy Unrestricted -File setup.ps1\"}"
    doc = {"runtimeSettings": [{"handlerSettings": {"protectedSettingsCertThumbprint": THUMB,
                                                    "protectedSettings": SECRET, "publicSettings": pub}}]}
    r = ext_settings.parse(json.dumps(doc), source=SET_SRC)
    row = r.frames["ext_settings"].iloc[0]
    assert row["public_settings"] == pub and pd.isna(row["public_settings_keys"]) and not row["damaged"]
    [issue] = r.issues
    assert issue.kind == "settings-as-string" and issue.text == pub and "escaped JSON object" in issue.message
    _assert_no_secret(_everything_visible(r))


# -- HandlerManifest.json (shape: Azure/WALinuxAgent tests/data/ext/handler_manifest/*.json) ----------------------
MANIFEST = """[{
  "version": 1.0,
  "handlerManifest": {
    "installCommand": "bin\\\\install.cmd",
    "uninstallCommand": "bin\\\\uninstall.cmd",
    "updateCommand": "bin\\\\update.cmd",
    "enableCommand": "bin\\\\enable.cmd",
    "disableCommand": "bin\\\\disable.cmd",
    "rebootAfterInstall": false,
    "reportHeartbeat": false,
    "updateMode": "UpdateWithInstall",
    "supportsMultipleExtensions": true
  }
}]"""
MANIFEST_SRC = f"{CSE_DIR}/HandlerManifest.json"


def test_handler_manifest() -> None:
    r = handler_manifest.parse(MANIFEST.replace("\n", "\r\n"), source=MANIFEST_SRC)
    df = r.df
    assert handler_manifest.HANDLER_MANIFEST.check_dtypes(df) == [] and not r.issues
    row = df.iloc[0]
    assert (row["extension"], row["ext_version"]) == ("Microsoft.Compute.CustomScriptExtension", "1.10.9")
    assert row["install_command"] == "bin\\install.cmd" and row["enable_command"] == "bin\\enable.cmd"
    assert row["update_mode"] == "UpdateWithInstall" and not row["damaged"]
    assert (row["reboot_after_install"], row["report_heartbeat"], row["supports_multiple_extensions"]) == (
        False, False, True)


def test_handler_manifest_string_and_invalid_booleans() -> None:
    # WALinuxAgent manifest_boolean_fields_strings.json / _invalid.json
    doc = json.loads(MANIFEST)
    doc[0]["handlerManifest"].update(reportHeartbeat="true", supportsMultipleExtensions="True",
                                     rebootAfterInstall="invalid")
    r = handler_manifest.parse(json.dumps(doc), source=MANIFEST_SRC)
    row = r.df.iloc[0]
    assert r.df["report_heartbeat"].tolist() == [True] and r.df["supports_multiple_extensions"].tolist() == [True]
    assert pd.isna(row["reboot_after_install"])
    assert [i.kind for i in r.issues] == ["bad-value"] and "'invalid'" in r.issues[0].message
    doc[0]["handlerManifest"].pop("updateMode")
    assert pd.isna(handler_manifest.parse(json.dumps(doc), source=MANIFEST_SRC).df["update_mode"].iloc[0])


def test_handler_manifest_half_written() -> None:
    cut = MANIFEST.index('"reportHeartbeat"')
    r = handler_manifest.parse(MANIFEST[:cut], source=MANIFEST_SRC)
    row = r.df.iloc[0]
    assert row["damaged"] and row["enable_command"] == "bin\\enable.cmd" and pd.isna(row["report_heartbeat"])
    assert r.issues[0].kind == "bad-json" and r.issues[0].line == MANIFEST[:cut].count("\n") + 1
    r = handler_manifest.parse(MANIFEST[:5], source=MANIFEST_SRC)
    assert len(r.df) == 1 and r.df["damaged"].iloc[0] and r.df["extension"].iloc[0].endswith("CustomScriptExtension")


# -- HandlerEnvironment.json (values from the RunCommand log of §3.1) --------------------------------------------
RC = "Microsoft.CPlat.Core.RunCommandWindows"
HANDLER_ENV = json.dumps([{"name": RC, "seqNo": "0", "version": 1.0, "handlerEnvironment": {
    "logFolder": f"C:\\WindowsAzure\\Logs\\Plugins\\{RC}\\1.1.8",
    "configFolder": f"C:\\Packages\\Plugins\\{RC}\\1.1.8\\RuntimeSettings",
    "statusFolder": f"C:\\Packages\\Plugins\\{RC}\\1.1.8\\Status",
    "heartbeatFile": f"C:\\Packages\\Plugins\\{RC}\\1.1.8\\Status\\HeartBeat.Json",
    "eventsFolder": f"C:\\WindowsAzure\\Logs\\Plugins\\{RC}\\Events"}}], indent=2)
ENV_SRC = f"C/Packages/Plugins/{RC}/1.1.8/HandlerEnvironment.json"


def test_handler_environment() -> None:
    r = handler_env.parse(HANDLER_ENV, source=ENV_SRC)
    assert handler_env.HANDLER_ENV.check_dtypes(r.df) == [] and not r.issues
    row = r.df.iloc[0]
    assert (row["extension"], row["ext_version"], row["name"]) == (RC, "1.1.8", RC)
    assert row["log_folder"] == f"C:\\WindowsAzure\\Logs\\Plugins\\{RC}\\1.1.8"
    assert row["heartbeat_file"] == f"C:\\Packages\\Plugins\\{RC}\\1.1.8\\Status\\HeartBeat.Json"
    assert row["events_folder"] == f"C:\\WindowsAzure\\Logs\\Plugins\\{RC}\\Events" and not row["damaged"]
    # the generic shape without eventsFolder (azure-linux-extensions docstring, §6.2)
    doc = json.loads(HANDLER_ENV)
    del doc[0]["handlerEnvironment"]["eventsFolder"]
    assert pd.isna(handler_env.parse(json.dumps(doc), source=ENV_SRC).df["events_folder"].iloc[0])


def test_handler_environment_with_single_backslashes_and_cut() -> None:
    hand_edited = HANDLER_ENV.replace("\\\\", "\\")  # "C:\WindowsAzure\Logs\..." is not valid JSON
    r = handler_env.parse(hand_edited, source=ENV_SRC)
    row = r.df.iloc[0]
    assert row["config_folder"] == f"C:\\Packages\\Plugins\\{RC}\\1.1.8\\RuntimeSettings"
    assert row["damaged"] and [i.kind for i in r.issues] == ["invalid-escape"]
    cut = HANDLER_ENV.index('"heartbeatFile"') + 20
    r = handler_env.parse(HANDLER_ENV[:cut], source=ENV_SRC)
    row = r.df.iloc[0]
    assert row["damaged"] and row["status_folder"].endswith("\\Status") and pd.isna(row["heartbeat_file"])


# -- formats doc §6.3: aggregatestatus.json -----------------------------------------------------------------------
# The WALinuxAgent-2.0.14 status blob quoted in §6.3 (same schema), verbatim.
AGG_LINUX = """{"version":"1.0","timestampUTC":"2015-10-08T03:21:24Z",
    "aggregateStatus":{
    "guestAgentStatus":{"version":"WALinuxAgent-2.0.14","status":"Ready",
    "formattedMessage":{"lang":"en-US","message":"GuestAgent is running and accepting new configurations."}},
    "handlerAggregateStatus":[
    {"status": "Ready",
    "runtimeSettingsStatus":  {"settingsStatus": {"status": {"status": "success", "formattedMessage":
    {"lang": "en-US", "message": "Enable SucceededEnable Succeeded with error: []"}, "operation": "Enable", "code": "1", "name": "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"},
    "timestampUTC": "2015-10-08T03:09:34Z"}, "sequenceNumber": "0"},
    "handlerVersion": "1.0.3.0",
    "handlerName": "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"}
    ]}}"""
AGG_DIR = "C/WindowsAzure/Logs/AggregateStatus"


def _windows_aggregate() -> str:
    """A Windows-agent document with vmassist's field paths (§6.3), lower-case ``handlername`` included."""
    def handler(name: str, ver: str, status: str, seq: int, sstatus: str, msg: str, code: int) -> dict:
        return {"handlername": name, "handlerVersion": ver, "status": status, "code": 0,
                "formattedMessage": {"lang": "en-US", "message": f"Plugin {status}"},
                "runtimeSettingsStatus": {"sequenceNumber": seq, "settingsStatus": {
                    "timestampUTC": "2024-03-08T10:01:02.1234567Z", "status": {
                        "name": name, "operation": "Command Execution Finished", "status": sstatus, "code": code,
                        "formattedMessage": {"lang": "en-US", "message": msg}}}}}
    doc = {"version": "1.1", "timestampUTC": "2024-03-08T10:14:55.000Z", "aggregateStatus": {
        "guestAgentStatus": {"version": "2.7.41491.1102", "status": "Ready", "formattedMessage": {
            "lang": "en-US", "message": "GuestAgent is running and processing the extensions."},
            "lastStatusUploadMethod": "HostGAPlugin", "lastStatusUploadTime": "2024-03-08T10:14:40.000Z"},
        "handlerAggregateStatus": [
            handler("Microsoft.Compute.BGInfo", "2.2.5", "Ready", 0, "success", "Command execution finished", 0),
            handler("Microsoft.Compute.CustomScriptExtension", "1.10.15", "NotReady", 3, "error", CSE_REBOOT_MSG, 1),
        ]}}
    return json.dumps(doc, indent=2).replace("\n", "\r\n")


def test_aggregate_status_linux_blob() -> None:
    r = aggregate_status.parse(AGG_LINUX, source=f"{AGG_DIR}/aggregatestatus.json")
    a, h = r.frames["agent_status"], r.frames["handler_status"]
    assert aggregate_status.AGENT_STATUS.check_dtypes(a) == [] and aggregate_status.HANDLER_STATUS.check_dtypes(h) == []
    assert not r.issues and len(a) == 1 and len(h) == 1
    assert a["snapshot_time"].iloc[0] == pd.Timestamp("2015-10-08T03:21:24Z") and not a["file_time_from_name"].iloc[0]
    assert (a["agent_version"].iloc[0], a["agent_status"].iloc[0]) == ("WALinuxAgent-2.0.14", "Ready")
    assert a["agent_message"].iloc[0] == "GuestAgent is running and accepting new configurations."
    row = h.iloc[0]
    assert (row["handler_name"], row["handler_version"], row["handler_status"], row["seq"]) == (
        "Microsoft.Azure.RecoveryServices.VMSnapshotLinux", "1.0.3.0", "Ready", 0)
    assert (row["settings_status"], row["settings_operation"], row["settings_code"]) == ("success", "Enable", 1)
    assert row["settings_time"] == pd.Timestamp("2015-10-08T03:09:34Z") and pd.isna(row["handler_code"])


def test_aggregate_status_windows_snapshot_utf16_with_nuls() -> None:
    raw = "\ufeff".encode("utf-16-le") + _windows_aggregate().encode("utf-16-le") + b"\x00" * 128
    src = f"{AGG_DIR}/aggregatestatus_20240308101455241.json"
    r = aggregate_status.parse(decode(raw).text, source=src)
    a, h = r.frames["agent_status"], r.frames["handler_status"]
    assert not r.issues
    assert a["snapshot_time"].iloc[0] == pd.Timestamp("2024-03-08T10:14:55.241Z") and a["file_time_from_name"].iloc[0]
    assert (a["upload_method"].iloc[0], a["last_upload_time"].iloc[0]) == (
        "HostGAPlugin", pd.Timestamp("2024-03-08T10:14:40Z"))
    assert h["handler_name"].tolist() == ["Microsoft.Compute.BGInfo", "Microsoft.Compute.CustomScriptExtension"]
    assert h["handler_status"].tolist() == ["Ready", "NotReady"] and h["seq"].tolist() == [0, 3]
    assert h["settings_status"].tolist() == ["success", "error"] and h["settings_code"].tolist() == [0, 1]
    assert h["settings_message"].iloc[1] == CSE_REBOOT_MSG and h["handler_message"].iloc[1] == "Plugin NotReady"
    assert (h["snapshot_time"] == a["snapshot_time"].iloc[0]).all()
    assert h["settings_time"].iloc[0] == pd.Timestamp("2024-03-08T10:01:02.1234567Z")


def test_aggregate_status_half_written_and_odd_names() -> None:
    text = _windows_aggregate()
    cut = text.index('"Microsoft.Compute.CustomScriptExtension"') + 10
    r = aggregate_status.parse(text[:cut], source=f"{AGG_DIR}/aggregatestatus.json")
    a, h = r.frames["agent_status"], r.frames["handler_status"]
    assert a["damaged"].iloc[0] and a["agent_status"].iloc[0] == "Ready" and h["damaged"].all()
    assert h["handler_name"].iloc[0] == "Microsoft.Compute.BGInfo" and h["settings_status"].iloc[0] == "success"
    assert r.issues[0].kind == "bad-json" and r.issues[0].line == text[:cut].count("\n") + 1
    # nothing readable: the file is still one agent_status row
    r = aggregate_status.parse("\x00\x00", source=f"{AGG_DIR}/aggregatestatus_20241399999999999.json")
    a = r.frames["agent_status"]
    assert len(a) == 1 and a["damaged"].iloc[0] and pd.isna(a["snapshot_time"].iloc[0])
    assert not a["file_time_from_name"].iloc[0] and r.frames["handler_status"].empty


# -- shared: sniffing, path patterns, never raising ----------------------------------------------------------------
@pytest.mark.parametrize(("text", "kind"), [
    (CSE_STATUS, "ext_status"),
    (LINUX_ASM_STATUS, "ext_status"),
    (CHEF_SETTINGS, "ext_settings"),
    (LINUX_CSE_SETTINGS, "ext_settings"),
    (MANIFEST, "handler_manifest"),
    (HANDLER_ENV, "handler_env"),
    (AGG_LINUX, "aggregate_status"),
])
def test_loose_files_are_recognised_by_content(text: str, kind: str) -> None:
    assert sniff(text) == kind
    assert sniff("\ufeff" + text[:200]) == kind  # the head of a cut file too


def test_sniffers_refuse_lookalikes() -> None:
    assert not ext_status.sniff('[{"version": 1.0, "heartbeat": {"status": "ready", "code": 0}}]')  # HeartBeat.Json
    assert not ext_status.sniff('{"status": "Ready", "timestampUTC": "x", "aggregateStatus": {}}')
    assert not ext_status.sniff("timestampUTC status")
    assert not ext_settings.sniff("runtimeSettings were loaded")


@pytest.mark.parametrize(("path", "kind"), [
    (STATUS_SRC, "ext_status"),
    (SET_SRC, "ext_settings"),
    ("c/packages/plugins/microsoft.compute.bginfo/2.2.5/status/0.status", "ext_status"),
    (MANIFEST_SRC, "handler_manifest"),
    (ENV_SRC, "handler_env"),
    (f"{AGG_DIR}/aggregatestatus.json", "aggregate_status"),
    (f"{AGG_DIR}/aggregatestatus_20180921025640005.json", "aggregate_status"),
])
def test_paths(path: str, kind: str) -> None:
    assert match_path(path) == kind


@pytest.mark.parametrize("parser", [ext_status, ext_settings, handler_manifest, handler_env, aggregate_status])
@pytest.mark.parametrize("text", ["", "\x00", "null", "42", '"x"', "[1, 2", "{]", "[[[[", "{\"a\": [1, {\"b\"",
                                  CHEF_SETTINGS[::-1], AGG_LINUX[:300], "\ufffd\ufffd{ALPHANUMERICPII}"])
def test_never_raises_and_file_stays_visible(parser: ModuleType, text: str) -> None:
    r = parser.parse(text, source="C/Packages/Plugins/A.B/1.0/Status/0.status")
    assert set(r.frames) == set(parser.FRAMES)
    first = next(iter(r.frames.values()))
    assert len(first) >= 1 or parser is aggregate_status
    if parser is aggregate_status:
        assert len(r.frames["agent_status"]) == 1
    for name, df in r.frames.items():
        assert parser.FRAMES[name].check_dtypes(df) == []


def test_salvage_never_keeps_a_half_value() -> None:
    assert salvage('{"a": 1, "b": "abc') == {"a": 1}
    assert salvage('{"a": 12') == {}  # the number may have been cut
    assert salvage('[{"x": [1, 2], "y": "z"}, {"x"') == [{"x": [1, 2], "y": "z"}]
    assert salvage('{"a": [{"b": 1}, {') == {"a": [{"b": 1}]} and salvage("[") == []
    assert salvage('{"a": "q\\"uote", "b": 2}') == {"a": 'q"uote', "b": 2}
    assert salvage("garbage") is None
    value, issues = load('[{"a": 1}] trailing', source="s", parser="p", partial=True)
    assert value == [{"a": 1}] and issues[0].kind == "bad-json"
