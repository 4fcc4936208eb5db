"""handler_log parser on verbatim lines from the formats reference (§3.1, §3.2, §6.4)."""

from __future__ import annotations

import pandas as pd

from kit.parse import handler_log, match_path, sniff

# §3.1 RunCommand v1 (RunCommandExtension.log)
RUNCOMMAND_V1 = """[4892+00000001] [03/04/2021 20:49:58.30] [INFO] Starting RunCommand Extension v1
[4892+00000001] [03/04/2021 20:49:58.31] [INFO] Installing Handler
[4892+00000001] [03/04/2021 20:49:58.31] [INFO] Handler successfully installed
[1116+00000001] [03/04/2021 20:50:04.76] [INFO] Starting RunCommand Extension v1
[1116+00000001] [03/04/2021 20:50:05.38] [INFO] Command execution finished. Command exited with code: 0"""
# §3.1 RunCommand v2: a PublicSettings script dump spans several physical lines
RUNCOMMAND_V2 = """[5864+00000001] [10/18/2023 19:08:03.42] [INFO] Process handler command: enable
[5864+00000001] [10/18/2023 19:08:03.45] [INFO] HandlerSettings = ProtectedSettingsCertThumbprint: <REDACTED> Thumbprint length = 40, ProtectedSettings: <REDACTED> ProtectedSettings length = 584, PublicSettings: Source: Script: ipconfig /all
SIG  Begin signature block
<cut>
SIG  End signature block
ScriptUri:  Parameters: []
[5864+00000001] [10/18/2023 19:08:03.81] [INFO] RunCommand script execution finished with exit code: 0"""
# §6.4 DSC, 2019 variant (space, Z) and 2015 variant (T, no zone); hard-wrapped continuation lines
DSC_2019 = """VERBOSE: [2019-02-19 06:52:17Z] Extension request for sequence number 0 
attempting to acquire lock.0 file
VERBOSE: [2019-02-19 06:52:17Z] File lock does not exist: begin processing
VERBOSE: [2019-02-19 06:52:18Z] Settings handler status to 'transitioning' 
(C:\\Packages\\Plugins\\Microsoft.Powershell.DSC\\2.76.0.0\\Status\\0.status)
VERBOSE: [2019-02-19 06:52:25Z]     OS Version : 10.0"""
DSC_2015 = """VERBOSE: [2015-10-21T08:03:08] Installing the DSC Extension...
VERBOSE: [2015-10-21T08:03:08] Creating 
C:\\Packages\\Plugins\\Microsoft.Powershell.DSC\\1.10.1.0\\bin\\..\\DSCWork\\1-InProgress.Install.dsc..."""
# §3.2 CustomScriptHandler.log free text
CSE_PLAIN = """Current sequence number, 3, is not greater than the sequence number
of the most recently executed configuration. Exiting..."""
# §3.2 (prefixes stripped by the author): level-only, agent-style
CSE_LEVEL_ONLY = """[INFO] Waiting for all async file download tasks to complete...
[INFO] Command execution finished. Command exited with code: 0"""

RC1 = "C/WindowsAzure/Logs/Plugins/Microsoft.CPlat.Core.RunCommandWindows/1.1.8/RunCommandExtension.log"
RC2 = "C/WindowsAzure/Logs/Plugins/Microsoft.CPlat.Core.RunCommandHandlerWindows/2.0.8/RunCommandHandler.log"
DSC = "C/WindowsAzure/Logs/Plugins/Microsoft.Powershell.DSC/2.76.0.0/DscExtensionHandler.0.log"
CSE = "C/WindowsAzure/Logs/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15/CustomScriptHandler.log"


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n") + "\r\n"


def test_paths_and_schema() -> None:
    assert match_path(RC1) == "handler_log"
    assert match_path("C/WindowsAzure/Logs/Plugins/Microsoft.Compute.BGInfo/BGInfo.log") == "handler_log"
    assert handler_log.HANDLER_LOG.names == [
        "source", "line", "end_line", "extension", "ext_version", "file", "layout", "pid", "thread", "ts", "ts_raw",
        "ts_assumed_utc", "level", "message", "text", "n_lines", "damaged", "damage"]


def test_bracketed_layout_pid_thread_and_path_fields() -> None:
    r = handler_log.parse(crlf(RUNCOMMAND_V1), source=RC1)
    df = r.df
    assert r.issues == []
    handler_log.HANDLER_LOG.validate(df)
    assert df["layout"].astype(str).tolist() == ["bracketed"] * 5
    assert df["pid"].tolist() == [4892, 4892, 4892, 1116, 1116]
    assert df["thread"].tolist() == ["00000001"] * 5
    assert df["extension"].unique().tolist() == ["Microsoft.CPlat.Core.RunCommandWindows"]
    assert df["ext_version"].unique().tolist() == ["1.1.8"]
    assert df["file"].unique().tolist() == ["RunCommandExtension.log"]
    assert df["ts"].iloc[0] == pd.Timestamp("2021-03-04 20:49:58.30", tz="UTC")
    assert df["ts_raw"].iloc[0] == "03/04/2021 20:49:58.30"
    assert df["ts_assumed_utc"].all()
    assert df["message"].iloc[4] == "Command execution finished. Command exited with code: 0"
    assert df["level"].astype(str).unique().tolist() == ["INFO"]


def test_multi_line_settings_dump_belongs_to_its_record() -> None:
    df = handler_log.parse(crlf(RUNCOMMAND_V2), source=RC2).df
    assert df["n_lines"].tolist() == [1, 5, 1]
    assert df["line"].tolist() == [1, 2, 7] and df["end_line"].tolist() == [1, 6, 7]
    assert df["text"].iloc[1].splitlines()[1:] == ["SIG  Begin signature block", "<cut>", "SIG  End signature block",
                                                   "ScriptUri:  Parameters: []"]
    assert df["message"].iloc[1].startswith("HandlerSettings = ProtectedSettingsCertThumbprint")
    assert df["ts"].iloc[2] == pd.Timestamp("2023-10-18 19:08:03.81", tz="UTC")


def test_dsc_layouts_with_wrapped_lines() -> None:
    df = handler_log.parse(crlf(DSC_2019), source=DSC).df
    assert df["layout"].astype(str).tolist() == ["dsc"] * 4
    assert df["n_lines"].tolist() == [2, 1, 2, 1]
    assert df["level"].astype(str).tolist() == ["VERBOSE"] * 4
    assert df["ts"].iloc[0] == pd.Timestamp("2019-02-19 06:52:17", tz="UTC")
    assert not df["ts_assumed_utc"].any()  # "Z" given
    assert df["ts_raw"].iloc[0] == "2019-02-19 06:52:17Z"
    assert df["message"].iloc[3] == "OS Version : 10.0"
    assert df["text"].iloc[2].endswith("\n(C:\\Packages\\Plugins\\Microsoft.Powershell.DSC\\2.76.0.0\\Status\\0.status)")
    assert df["pid"].isna().all() and df["thread"].isna().all()
    old = handler_log.parse(DSC_2015 + "\n", source=DSC).df
    assert old["n_lines"].tolist() == [1, 2]
    assert old["ts_assumed_utc"].all()  # no zone: read as UTC, flagged
    assert old["ts"].iloc[1] == pd.Timestamp("2015-10-21 08:03:08", tz="UTC")


def test_agent_style_heads_in_a_plugin_folder() -> None:
    text = crlf("[00000004] 2024-04-17T07:19:26.812Z [ERROR] handler wrote like the agent\n   at X.Y()\n"
                + CSE_LEVEL_ONLY)
    df = handler_log.parse(text, source=CSE).df
    assert df["layout"].astype(str).tolist() == ["agent"] * 3
    assert df["n_lines"].tolist() == [2, 1, 1]
    assert df["thread"].iloc[0] == "00000004" and pd.isna(df["pid"].iloc[0])
    assert df["ts"].iloc[0] == pd.Timestamp("2024-04-17 07:19:26.812", tz="UTC") and not df["ts_assumed_utc"].iloc[0]
    assert df["level"].astype(str).tolist() == ["ERROR", "INFO", "INFO"]
    assert df["message"].iloc[1] == "Waiting for all async file download tasks to complete..."


def test_plain_text_one_record_per_line_not_damaged() -> None:
    r = handler_log.parse(crlf(CSE_PLAIN), source=CSE)
    df = r.df
    assert df["layout"].astype(str).tolist() == ["plain", "plain"]
    assert df["level"].astype(str).tolist() == ["UNKNOWN", "UNKNOWN"]
    assert df["ts"].isna().all() and not df["damaged"].any() and r.issues == []
    assert df["message"].tolist() == CSE_PLAIN.splitlines()


def test_plain_text_with_leading_time_stamps() -> None:
    df = handler_log.parse("2024-01-05 10:11:12 starting\n01/05/2024 10:11:13 next\nno stamp\n", source=CSE).df
    assert df["ts"].tolist()[:2] == [pd.Timestamp("2024-01-05 10:11:12", tz="UTC"),
                                     pd.Timestamp("2024-01-05 10:11:13", tz="UTC")]
    assert pd.isna(df["ts"].iloc[2])
    assert df["ts_assumed_utc"].tolist() == [True, True, False]


def test_missing_final_line_break_plain_vs_structured() -> None:
    plain = handler_log.parse(CSE_PLAIN, source=CSE)
    assert [i.kind for i in plain.issues] == ["no-final-newline"]
    assert not plain.df["damaged"].any()
    cut = handler_log.parse(RUNCOMMAND_V1[:-12], source=RC1)
    assert [(i.kind, i.line) for i in cut.issues] == [("truncated-line", 5)]
    assert cut.df["damaged"].tolist() == [False] * 4 + [True]
    assert cut.df["damage"].iloc[4].startswith("file ends mid-line")


def test_bad_timestamp_and_orphan_lines_are_flagged() -> None:
    text = crlf("ScriptUri:  Parameters: []\n[4892+00000001] [13/45/2021 20:49:58.30] [INFO] bad\n"
                "[4892+00000001] [03/04/2021 20:49:58.31] [INFO] ok")
    r = handler_log.parse(text, source=RC1)
    df = r.df
    assert df["n_lines"].tolist() == [1, 1, 1]
    assert df["damaged"].tolist() == [True, True, False]
    assert df["damage"].iloc[0].startswith("continuation lines before the first record head")
    assert sorted((i.kind, i.line) for i in r.issues) == [("bad-timestamp", 2), ("orphan-lines", 1)]


def test_files_outside_the_plugin_layout_have_no_extension() -> None:
    df = handler_log.parse(crlf(RUNCOMMAND_V1), source="pasted/RunCommandExtension.log").df
    assert df["extension"].isna().all() and df["ext_version"].isna().all()
    assert df["file"].iloc[0] == "RunCommandExtension.log"


def test_combine_rotated_siblings_in_time_order() -> None:
    base = "C/WindowsAzure/Logs/Plugins/Microsoft.Compute.CustomScriptExtension/1.10.15/"
    current = handler_log.parse(crlf("[1116+00000001] [03/05/2021 10:00:00.00] [INFO] current"),
                                source=base + "CustomScriptHandler.log").df
    rotated = handler_log.parse(crlf("[4892+00000001] [03/04/2021 20:49:58.30] [INFO] rotated"),
                                source=base + "CustomScriptHandler_20210305095959123.log").df
    other = handler_log.parse(crlf(RUNCOMMAND_V1), source=RC1).df
    df = handler_log.combine([current, other, rotated])
    assert df[df["extension"] == "Microsoft.Compute.CustomScriptExtension"]["message"].tolist() == ["rotated",
                                                                                                   "current"]
    assert len(df) == 7
    assert handler_log.HANDLER_LOG.check_dtypes(df) == []


def test_sniff() -> None:
    assert handler_log.sniff(RUNCOMMAND_V1)
    assert handler_log.sniff(DSC_2019)
    assert not handler_log.sniff(CSE_PLAIN)
    assert sniff(RUNCOMMAND_V1) == "handler_log"
    assert sniff(DSC_2015) == "handler_log"


# The Key Vault extension's service log on Windows. The formats doc is silent; these are the lines quoted in
# MicrosoftDocs/azure-docs#66632 (akvvm_service_2020-11-24_22-54-15.1.log, 1.0.1409.21; the issue's rendering shows
# the tab after the component as spaces) and #109667 (3.1.2195.61, tab shown as "\t").
AKVVM = (
    "2020-11-24 22:54:15: <debug> [Global]\tlogFolder: C:\\WindowsAzure\\Logs\\Plugins\\Microsoft.Azure.KeyVault."
    "KeyVaultForWindows\\1.0.1409.21\r\n"
    "2020-11-24 22:54:15: <info> [VMExtension]\tStarting extension\r\n"
    "2020-11-24 22:54:15: <info> [KVWinService]\tService Starting...\r\n"
    "2020-11-24 22:54:15: <info> [CertificateManager]\tBeginning refresh for: "
    "https://imfrczvxllilvigygsurkuvf.vault.azure.net/secrets/cbuk-core-cibuild209209-sf-uksouth\r\n"
    "2020-11-24 22:54:15: <info> [WindowsCertificateStore]\tattempting to open store 'LocalMachine\\MY'\r\n"
    "2023-05-17 09:49:42: <debug> [CertificateManagementConfiguration]\tFound v3.x configuration with ACL\r\n")
KV = "C/WindowsAzure/Logs/Plugins/Microsoft.Azure.KeyVault.KeyVaultForWindows/1.0.1409.21/akvvm_service_2020-11-24_22-54-15.1.log"


def test_key_vault_service_log_layout() -> None:
    assert match_path(KV) == "handler_log" and sniff(AKVVM) == "handler_log"
    r = handler_log.parse(AKVVM + "not a head: kept with the record above\r\n", source=KV)
    df = r.frames["handler_log"]
    assert r.issues == []
    assert df["layout"].astype(str).unique().tolist() == ["akvvm"]
    assert df["level"].astype(str).tolist() == ["DEBUG", "INFO", "INFO", "INFO", "INFO", "DEBUG"]
    assert df["message"].iloc[1] == "[VMExtension]\tStarting extension"
    assert df["ts"].iloc[0] == pd.Timestamp("2020-11-24 22:54:15", tz="UTC") and df["ts_assumed_utc"].all()
    assert df["ts_raw"].iloc[5] == "2023-05-17 09:49:42"
    assert df["extension"].iloc[0] == "Microsoft.Azure.KeyVault.KeyVaultForWindows"
    assert df["n_lines"].tolist() == [1, 1, 1, 1, 1, 2]
    bad = handler_log.parse("2020-13-45 22:54:15: <info> [Global]\tx\r\n", source=KV)
    assert bad.issues[0].kind == "bad-timestamp" and bool(bad.frames["handler_log"]["damaged"].iloc[0])


def test_a_process_id_too_long_for_int64_is_flagged_not_fatal() -> None:
    """A corrupted head whose pid has more digits than int64 holds used to make the whole file fail to parse."""
    text = ("[99999999999999999999999+00000001] [03/04/2021 20:49:58.30] [WARN] big pid\r\n"
            "[4892+00000001] [03/04/2021 20:49:59.30] [INFO] next\r\n")
    r = handler_log.parse(text, source="C/WindowsAzure/Logs/Plugins/A.B/1.0/x.log")
    df = r.df
    assert df["pid"].isna().tolist() == [True, False] and df["pid"].iloc[1] == 4892
    assert df["damaged"].tolist() == [True, False] and "process id" in df["damage"].iloc[0]
    assert df["level"].astype(str).tolist() == ["WARN", "INFO"]
    assert [(i.line, i.kind) for i in r.issues] == [(1, "bad-pid")]
