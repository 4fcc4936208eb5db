"""agent_log parser on verbatim lines from the formats reference (§1.1, §1.2, §1.3, §1.4, §4, §11, §12)."""

from __future__ import annotations

import codecs

import pandas as pd
import pytest

from kit.parse import agent_log, get_parser, match_path, sniff
from kit.textio import decode

SRC = "C/WindowsAzure/Logs/WaAppAgent.log"

# §1.1 firewall scenario: mdy head, "--->" inner exception, un-indented frames (as the doc prints them),
# "--- End of inner exception stack trace ---"; the head line ends with a space, as quoted.
FIREWALL = """[00000011] [12/11/2018 06:27:55.66] [WARN]  (Ignoring) Exception while fetching supported versions from HostGAPlugin: System.Net.WebException: Unable to connect to the remote server 
---> System.Net.Sockets.SocketException: An attempt was made to access a socket in a way forbidden by its access permissions 168.63.129.16:32526
at System.Net.Sockets.Socket.DoConnect(EndPoint endPointSnapshot, SocketAddress socketAddress)
at System.Net.ServicePoint.ConnectSocketInternal(Boolean connectFailure, Socket s4, Socket s6, Socket& socket, IPAddress& address, ConnectSocketState status, IAsyncResult asyncResult, Exception& exception)
--- End of inner exception stack trace ---
at System.Net.WebClient.DownloadDataInternal(Uri address, WebRequest& request)
at System.Net.WebClient.DownloadString(Uri address)
at Microsoft.GuestAgentHostPlugin.Client.GuestInformationServiceClient.GetVersions()
at Microsoft.WindowsAzure.GuestAgent.ContainerStateMachine.HostGAPluginUtility.UpdateHostGAPluginAvailability()`"""
# §1.4 proxy: ISO with milliseconds, frames indented 4 spaces.
PROXY = """[00000006] 2024-12-18T15:34:54.328Z [ERROR] GetVersions() failed with exception: System.Net.Http.HttpRequestException: Response status code does not indicate success: 502 (cannotconnect).
    at System.Net.Http.HttpResponseMessage.EnsureSuccessStatusCode()
    at Microsoft.WindowsAzure.RoleContainer.Protocol.WireServerClient.GetResult[T](Uri uri, X509Certificate transportCertificate)
    at Microsoft.WindowsAzure.RoleContainer.Protocol.ControlSystem.SelectProtocolVersion()."""
# §1.1 BadImageFormat: ISO seconds, frames indented 3 spaces.
BADIMAGE = """[00000018] 2021-01-12T16:35:45Z [INFO]  Test extract the plugin zip file to the temp folder C:\\TEMP\\12345678-5f85-45dc-9f17-55be1fde7b10
[00000010] 2021-01-12T16:35:45Z [ERROR] InstallPlugins() failed with exception: System.AggregateException: One or more errors occurred. ---> System.BadImageFormatException: An attempt was made to load a program with an incorrect format. (Exception from HRESULT: 0x8007000B)
   at Microsoft.WindowsAzure.GuestAgent.ExtensionStateMachine.PluginInstaller.PackageExpand(String packageFilePath, String destinationPath)
   at Microsoft.WindowsAzure.GuestAgent.ExtensionStateMachine.PluginInstaller.ValidateExtensionZipFile(String pluginName, String pluginVersion, String& pluginZipFile)"""
# §1.2 OOBE (HEART level, padding to width 7)
OOBE = """[00000006] [11/14/2019 05:52:13.44] [INFO]  WindowsAzureGuestAgent starting. Version 2.7.41491.949
[00000006] [11/14/2019 05:52:31.77] [WARN]  Waiting for OOBE to Complete ...
[00000006] [11/14/2019 06:02:33.43] [INFO]  StateExecutor initialization completed.
[00000020] [11/14/2019 06:02:33.43] [HEART] WindowsAzureGuestAgent Heartbeat."""
# §1.1 "stuck in Stopping": one space after every tag
STOPPING = """[00000007] [07/18/2019 14:46:28.87] [WARN] WindowsAzureGuestAgent stopping.
[00000004] [07/18/2019 14:46:28.89] [WARN] WindowsAzureGuestAgent could not be stopped. Exception: System.NullReferenceException: Object reference not set to an instance of an object.
at Microsoft.WindowsAzure.GuestAgent.ContainerStateMachine.GoalStateExecutorBase.WaitForExtensionWorkflowComplete(Boolean WaitForTerminalStateReachedOnEnd)
at Microsoft.WindowsAzure.GuestAgent.AgentCore.AgentService.<>c__DisplayClass2.<OnStopProcessing>b__1()"""
# §4: thread prefix trimmed
NO_THREAD = """[07/11/2019 21:04:07.05] [INFO]  WindowsAzureGuestAgent starting. Version 2.7.41491.911
[07/11/2019 21:04:40.25] [INFO]  Using fabric address 168.63.129.16 from DHCP."""
# §11: PII scrubber replaced the time stamp
PII = ("[00000006] {ALPHANUMERICPII} [FATAL] Failed to set access rules for agent directories. Exception: "
       "System.Security.Principal.IdentityNotMappedException: {Namepii} or all identity references could not be "
       "translated.")
# §1.1 / §1.3: everything but the level stripped
LEVEL_ONLY = """[ERROR] GetVersions() failed with exception: Microsoft.ServiceModel.Web.WebProtocolException: Server Error: Service Unavailable (ServiceUnavailable) ---> 
System.Net.WebException: The remote server returned an error: (503) Server Unavailable."""
AUTO_UPGRADE = """[INFO]  Getting plugin locations for plugin 'Microsoft.Compute.CustomScriptExtension'. Current Version: '1.8', Requested Version: '1.9'
[INFO]  Auto-Upgrade mode. Highest public version for plugin 'Microsoft.Compute.CustomScriptExtension' with requested version: '1.9', is: '1.9'"""
# §12: the VM Health Report block (JSON between Start/End markers) belongs to the record above it.
HEALTH = """[00000012] 2024-04-17T07:19:26.812Z [INFO]  Reporting VM health.
======== Microsoft Azure VM Health Report - Start 2024-04-17T07:19:26.812Z =========
{
  "wireServerReachable": false
}
======== Microsoft Azure VM Health Report - End 2024-04-17T07:19:26.900Z =========
[00000004] 2024-04-17T07:19:27.001Z [TRACE] next"""


def parse(text: str, source: str = SRC):
    return agent_log.parse(text, source=source)


def crlf(*blocks: str) -> str:
    return "\r\n".join(blocks).replace("\r\n", "\n").replace("\n", "\r\n") + "\r\n"


def test_registry_paths_and_frame_schema() -> None:
    assert get_parser("agent_log") is agent_log
    assert match_path("C/WindowsAzure/Logs/WaAppAgent.log") == "agent_log"
    assert match_path("C/WindowsAzure/Logs/TransparentInstaller.log") == "agent_log"
    assert match_path("c/windowsazure/logs/Telemetry.log") == "agent_log"
    assert match_path("C/WindowsAzure/Logs/Plugins/Microsoft.Compute.BGInfo/2.2.5/BGInfo.log") == "handler_log"
    assert agent_log.AGENT_LOG.names == [
        "source", "line", "end_line", "log", "ts", "ts_raw", "ts_style", "ts_assumed_utc", "thread", "level",
        "message", "text", "n_lines", "damaged", "damage"]


def test_three_head_styles_fold_stack_traces() -> None:
    r = parse(crlf(FIREWALL, PROXY, BADIMAGE, OOBE))
    df = r.df
    assert r.issues == []
    assert agent_log.AGENT_LOG.check_dtypes(df) == []
    agent_log.AGENT_LOG.validate(df)
    assert df["n_lines"].tolist() == [9, 4, 1, 3, 1, 1, 1, 1]
    assert df["line"].tolist() == [1, 10, 14, 15, 18, 19, 20, 21]
    assert df["end_line"].tolist() == [9, 13, 14, 17, 18, 19, 20, 21]
    assert df["ts_style"].tolist()[:3] == ["mdy-hundredths", "iso-millis-z", "iso-seconds-z"]
    assert df["ts_assumed_utc"].tolist()[:3] == [True, False, False]
    assert df["ts"].iloc[0] == pd.Timestamp("2018-12-11 06:27:55.660", tz="UTC")  # wall clock kept, read as UTC
    assert df["ts"].iloc[1] == pd.Timestamp("2024-12-18 15:34:54.328", tz="UTC")
    assert df["ts"].iloc[2] == pd.Timestamp("2021-01-12 16:35:45", tz="UTC")
    assert df["ts_raw"].tolist()[:3] == ["12/11/2018 06:27:55.66", "2024-12-18T15:34:54.328Z", "2021-01-12T16:35:45Z"]
    assert df["thread"].tolist()[:4] == ["00000011", "00000006", "00000018", "00000010"]
    assert df["level"].tolist() == ["WARN", "ERROR", "INFO", "ERROR", "INFO", "WARN", "INFO", "HEART"]
    # message: after the level tag, padding (two spaces after [WARN]) and the trailing space stripped
    assert df["message"].iloc[0] == ("(Ignoring) Exception while fetching supported versions from HostGAPlugin: "
                                     "System.Net.WebException: Unable to connect to the remote server")
    assert df["message"].iloc[7] == "WindowsAzureGuestAgent Heartbeat."
    # text: every physical line, joined with "\n" (no CR), head included, nothing stripped
    assert df["text"].iloc[0] == FIREWALL
    assert df["text"].iloc[1] == PROXY
    assert "\r" not in "".join(df["text"])
    assert df["log"].astype(str).unique().tolist() == ["WaAppAgent"]
    assert not df["damaged"].any() and df["damage"].isna().all()


def test_single_space_padding_and_backtick_kept() -> None:
    df = parse(crlf(STOPPING)).df
    assert df["n_lines"].tolist() == [1, 3]
    assert df["message"].iloc[0] == "WindowsAzureGuestAgent stopping."
    assert df["text"].iloc[1].endswith("<OnStopProcessing>b__1()")


def test_no_thread_level_only_and_scrubbed_heads() -> None:
    r = parse("\n".join([NO_THREAD, PII, LEVEL_ONLY, AUTO_UPGRADE]) + "\n")
    df = r.df
    assert df["n_lines"].tolist() == [1, 1, 1, 2, 1, 1]
    assert df["thread"].isna().tolist() == [True, True, False, True, True, True]
    assert df["ts"].iloc[0] == pd.Timestamp("2019-07-11 21:04:07.05", tz="UTC")
    assert df["ts"].isna().tolist() == [False, False, True, True, True, True]
    assert df["level"].tolist() == ["INFO", "INFO", "FATAL", "ERROR", "INFO", "INFO"]
    # the scrubbed head is a head (not a continuation line), with no time and a damage reason
    assert df["ts_raw"].iloc[2] == "{ALPHANUMERICPII}"
    assert df["ts_style"].iloc[2] == "scrubbed"
    assert bool(df["damaged"].iloc[2]) and "PII" in df["damage"].iloc[2]
    assert df["message"].iloc[2].startswith("Failed to set access rules")
    # a level-only line is a head without a time stamp, not damage
    assert not df["damaged"].iloc[3] and pd.isna(df["ts_style"].iloc[3]) and pd.isna(df["ts_raw"].iloc[3])
    assert df["text"].iloc[3].endswith("(503) Server Unavailable.")
    assert df["message"].iloc[4].startswith("Getting plugin locations")
    assert [i.kind for i in r.issues] == []


def test_health_report_block_and_trace_level() -> None:
    df = parse(crlf(HEALTH)).df
    assert df["n_lines"].tolist() == [6, 1]
    assert '"wireServerReachable": false' in df["text"].iloc[0]
    assert df["text"].iloc[0].splitlines()[-1].startswith("======== Microsoft Azure VM Health Report - End")
    assert df["level"].tolist() == ["INFO", "TRACE"]


def test_unknown_level_tag_is_kept_in_order() -> None:
    df = parse("[00000006] 2024-12-18T15:34:54.328Z [NOTICE] new tag\r\n"
               "[00000006] 2024-12-18T15:34:55.328Z [WARN]  known\r\n").df
    assert df["level"].astype(str).tolist() == ["NOTICE", "WARN"]
    assert list(df["level"].cat.categories[:9]) == ["TRACE", "VERBOSE", "DEBUG", "INFO", "HEART", "WARN", "ERROR",
                                                    "FATAL", "UNKNOWN"]
    assert df["level"].cat.ordered


def test_bad_timestamp_is_a_damaged_head_with_an_issue() -> None:
    text = crlf("[00000011] [12/11/2018 06:27:55.66] [WARN]  ok",
                "[00000011] [13/45/2019 06:27:55.66] [WARN]  bad date",
                "   at Some.Frame()",
                "[00000011] 2019-02-30T06:27:55.123Z [INFO]  no such day")
    r = parse(text)
    df = r.df
    assert df["n_lines"].tolist() == [1, 2, 1]
    assert df["damaged"].tolist() == [False, True, True]
    assert df["ts"].isna().tolist() == [False, True, True]
    assert df["ts_raw"].tolist()[1:] == ["13/45/2019 06:27:55.66", "2019-02-30T06:27:55.123Z"]
    assert df["damage"].iloc[1] == "unreadable time stamp"
    bad = [i for i in r.issues if i.kind == "bad-timestamp"]
    assert [i.line for i in bad] == [2, 4]
    assert "13/45/2019" in bad[0].message and "MM/DD/YYYY" in bad[0].message and bad[0].source == SRC


def test_lines_before_the_first_head_form_a_flagged_record() -> None:
    text = crlf("   at System.Net.WebClient.DownloadString(Uri address)",
                "--- End of inner exception stack trace ---",
                "[00000006] 2024-12-18T15:34:54.328Z [INFO]  first real record")
    r = parse(text)
    df = r.df
    assert df["n_lines"].tolist() == [2, 1]
    assert df["level"].tolist() == ["UNKNOWN", "INFO"]
    assert bool(df["damaged"].iloc[0]) and df["damage"].iloc[0].startswith("continuation lines before the first")
    assert df["message"].iloc[0] == "   at System.Net.WebClient.DownloadString(Uri address)"
    assert [(i.kind, i.line) for i in r.issues] == [("orphan-lines", 1)]


def test_file_cut_mid_line_keeps_the_record() -> None:
    text = "[00000006] 2024-12-18T15:34:54.328Z [INFO]  ok\r\n[00000006] 2024-12-18T15:34:5"
    r = parse(text)
    df = r.df
    # the cut head no longer parses: it is kept as a continuation line of the record above, and flagged
    assert df["n_lines"].tolist() == [2]
    assert df["text"].iloc[0].endswith("\n[00000006] 2024-12-18T15:34:5")
    assert "file ends mid-line" in df["damage"].iloc[0] and "malformed record head" in df["damage"].iloc[0]
    assert sorted((i.kind, i.line) for i in r.issues) == [("malformed-head", 2), ("truncated-line", 2)]


def test_missing_final_line_break_is_flagged_even_when_the_line_looks_whole() -> None:
    r = parse("[00000020] 2024-03-08T10:10:51.312Z [HEART] WindowsAzureGuestAgent Heartbeat.")
    df = r.df
    assert df["message"].iloc[0] == "WindowsAzureGuestAgent Heartbeat."
    assert bool(df["damaged"].iloc[0]) and df["damage"].iloc[0].startswith("file ends mid-line")
    assert [i.kind for i in r.issues] == ["truncated-line"]


@pytest.mark.parametrize("eol", ["\r\n", "\n", "\r"])
def test_line_endings_give_the_same_records(eol: str) -> None:
    base = parse(crlf(OOBE, PROXY, HEALTH)).df
    df = parse(eol.join(crlf(OOBE, PROXY, HEALTH).split("\r\n"))).df
    for c in ("line", "end_line", "ts", "level", "message", "text", "thread", "damaged"):
        assert df[c].tolist() == base[c].tolist(), c


def test_mixed_line_endings_in_one_record() -> None:
    text = "[00000006] 2024-12-18T15:34:54.328Z [ERROR] x\r\n    at A()\r    at B()\n    at C()\r\n"
    df = parse(text).df
    assert df["text"].iloc[0] == "[00000006] 2024-12-18T15:34:54.328Z [ERROR] x\n    at A()\n    at B()\n    at C()"
    assert df["n_lines"].tolist() == [4]


def test_encodings_decode_to_the_same_records() -> None:
    text = crlf(OOBE, PROXY)
    variants = [text.encode(), codecs.BOM_UTF8 + text.encode(), codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
                codecs.BOM_UTF16_BE + text.encode("utf-16-be"), text.encode("utf-16-le"), text.encode() + b"\x00" * 64]
    frames = [parse(decode(v).text).df for v in variants]
    for df in frames[1:]:
        assert df["text"].tolist() == frames[0]["text"].tolist()
        assert df["ts"].tolist() == frames[0]["ts"].tolist()


def test_non_ascii_and_mojibake_are_kept_byte_exact() -> None:
    line = "[00000006] 2024-12-18T15:34:54.328Z [WARN]  Name der fehlerhaften Anwendung: WaAppAgent.exe it\ufffds Größe"
    big = (line + "\r\n") * 3000  # big enough for the in-place fast path, which only applies to ASCII text
    df = parse(big).df
    assert len(df) == 3000
    assert set(df["message"]) == {"Name der fehlerhaften Anwendung: WaAppAgent.exe it\ufffds Größe"}
    assert df["text"].iloc[-1] == line


def test_big_ascii_text_matches_small_pieces() -> None:
    """The in-place read of large ASCII text gives exactly what the encoded copy gives."""
    block = crlf(FIREWALL, PROXY, BADIMAGE, OOBE, NO_THREAD, PII, LEVEL_ONLY, HEALTH)
    big = block * 400
    assert len(big) > 1 << 16
    whole = parse(big).df
    piece = parse(block).df
    assert len(whole) == 400 * len(piece)
    for c in ("message", "text", "ts_raw", "thread", "level", "n_lines"):
        assert whole[c].iloc[: len(piece)].tolist() == piece[c].tolist(), c
        assert whole[c].iloc[-len(piece):].tolist() == piece[c].tolist(), c


def test_log_family_from_the_file_name() -> None:
    line = "[00000017] [06/19/2017 15:28:19.81] [WARN]  Getting LastModified header value caused an error\r\n"
    assert parse(line, "C/WindowsAzure/Logs/TransparentInstaller.log").df["log"].iloc[0] == "TransparentInstaller"
    assert parse(line, "C/WindowsAzure/Logs/Telemetry.log").df["log"].iloc[0] == "Telemetry"
    assert parse(line, "C/WindowsAzure/Logs/WaAppAgent.2.log").df["log"].iloc[0] == "WaAppAgent"
    assert parse(line, "pasted/agent.txt").df["log"].iloc[0] == "other"


def test_empty_and_blank_input() -> None:
    assert parse("").df.empty and agent_log.AGENT_LOG.check_dtypes(parse("").df) == []
    df = parse("\r\n\r\n").df
    assert df["n_lines"].tolist() == [2] and bool(df["damaged"].iloc[0])


def test_combine_orders_rotated_files_by_first_time_stamp() -> None:
    newer = parse(crlf("[00000006] 2024-03-08T04:15:04.952Z [INFO]  c", "[00000006] 2024-03-08T04:15:05.952Z "
                       "[INFO]  d"), "C/WindowsAzure/Logs/WaAppAgent.log").df
    older = parse(crlf("   orphan first", "[00000006] [03/05/2024 02:15:30.00] [INFO]  a",
                       "[00000006] [03/05/2024 02:15:31.00] [HEART] b"), "C/WindowsAzure/Logs/WaAppAgent.1.log").df
    undated = parse(crlf("[ERROR] no time"), "C/WindowsAzure/Logs/WaAppAgent.0.log").df
    df = agent_log.combine([newer, undated, older])
    assert df["message"].tolist() == ["   orphan first", "a", "b", "c", "d", "no time"]
    assert df["line"].tolist() == [1, 2, 3, 1, 2, 1]
    assert agent_log.AGENT_LOG.check_dtypes(df) == []
    assert agent_log.combine([]).empty


def test_sniff_accepts_agent_heads_and_rejects_handler_logs() -> None:
    handler = "[4892+00000001] [03/04/2021 20:49:58.30] [INFO] Starting RunCommand Extension v1\n"
    assert agent_log.sniff(OOBE) and agent_log.sniff(PROXY) and agent_log.sniff(NO_THREAD)
    assert sniff(OOBE) == "agent_log"
    assert not agent_log.sniff(handler * 5)
    assert not agent_log.sniff(AUTO_UPGRADE)  # level-only lines say too little to claim a file
    assert not agent_log.sniff("Current sequence number, 3, is not greater than the sequence number\n")
    assert not agent_log.sniff("")


def test_texts_spanning_internal_chunks_are_exact() -> None:
    """Inputs bigger than the parser's internal 2 MiB blocks: every record's text still matches, including
    records that straddle a block boundary; CRLF, LF and lone-CR line ends mixed."""
    block = crlf(FIREWALL, PROXY, OOBE, HEALTH) + "[00000006] 2024-12-18T15:34:54.328Z [ERROR] x\r    at A()\n"
    piece = parse(block).df
    reps = (5 << 20) // len(block) + 1
    whole = parse(block * reps).df
    assert len(whole) == reps * len(piece)
    assert whole["text"].tolist() == piece["text"].tolist() * reps
    assert whole["message"].tolist() == piece["message"].tolist() * reps
    assert int(whole["end_line"].iloc[-1]) == reps * int(piece["end_line"].iloc[-1])
