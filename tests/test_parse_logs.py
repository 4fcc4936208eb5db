"""Agent and handler log parsers on verbatim lines from the formats reference (§1, §3, §4, §6.4, §11, §12)."""

from __future__ import annotations

import codecs

from hypothesis import given, settings
from hypothesis import strategies as st

from kit.parse import agent_log, handler_log, sniff
from kit.textio import decode, split_lines

SRC = "C/WindowsAzure/Logs/WaAppAgent.log"

# §1.1 firewall scenario, §1.4 proxy, §1.1 BadImageFormat (ISO seconds), §1.2, §4 (no thread), §11 (PII), §12 level-only
FIREWALL = """[00000011] [12/11/2018 06:27:55.66] [WARN]  (Ignoring) Exception while fetching supported versions from HostGAPlugin: System.Net.WebException: Unable to connect to the remote server 
---> System.Net.Sockets.SocketException: An attempt was made to access a socket in a way forbidden by its access permissions 168.63.129.16:32526
at System.Net.Sockets.Socket.DoConnect(EndPoint endPointSnapshot, SocketAddress socketAddress)
at System.Net.ServicePoint.ConnectSocketInternal(Boolean connectFailure, Socket s4, Socket s6, Socket& socket, IPAddress& address, ConnectSocketState status, IAsyncResult asyncResult, Exception& exception)
--- End of inner exception stack trace ---
at System.Net.WebClient.DownloadDataInternal(Uri address, WebRequest& request)"""
PROXY = """[00000006] 2024-12-18T15:34:54.328Z [ERROR] GetVersions() failed with exception: System.Net.Http.HttpRequestException: Response status code does not indicate success: 502 (cannotconnect).
    at System.Net.Http.HttpResponseMessage.EnsureSuccessStatusCode()
    at Microsoft.WindowsAzure.RoleContainer.Protocol.WireServerClient.GetResult[T](Uri uri, X509Certificate transportCertificate)
    at Microsoft.WindowsAzure.RoleContainer.Protocol.ControlSystem.SelectProtocolVersion()."""
BADIMAGE = """[00000018] 2021-01-12T16:35:45Z [INFO]  Test extract the plugin zip file to the temp folder C:\\TEMP\\12345678-5f85-45dc-9f17-55be1fde7b10
[00000010] 2021-01-12T16:35:45Z [ERROR] InstallPlugins() failed with exception: System.AggregateException: One or more errors occurred. ---> System.BadImageFormatException: An attempt was made to load a program with an incorrect format. (Exception from HRESULT: 0x8007000B)
   at Microsoft.WindowsAzure.GuestAgent.ExtensionStateMachine.PluginInstaller.PackageExpand(String packageFilePath, String destinationPath)"""
OOBE = """[00000006] [11/14/2019 05:52:13.44] [INFO]  WindowsAzureGuestAgent starting. Version 2.7.41491.949
[00000006] [11/14/2019 05:52:31.77] [WARN]  Waiting for OOBE to Complete ...
[00000006] [11/14/2019 06:02:33.43] [INFO]  StateExecutor initialization completed.
[00000020] [11/14/2019 06:02:33.43] [HEART] WindowsAzureGuestAgent Heartbeat."""
NO_THREAD = """[07/11/2019 21:04:07.05] [INFO]  WindowsAzureGuestAgent starting. Version 2.7.41491.911
[07/11/2019 21:04:40.25] [INFO]  Using fabric address 168.63.129.16 from DHCP."""
PII = ("[00000006] {ALPHANUMERICPII} [FATAL] Failed to set access rules for agent directories. Exception: "
       "System.Security.Principal.IdentityNotMappedException: {Namepii} or all identity references could not be "
       "translated.")
LEVEL_ONLY = ("[ERROR] GetVersions() failed with exception: Microsoft.ServiceModel.Web.WebProtocolException: Server "
              "Error: Service Unavailable (ServiceUnavailable) --->")


def parse(text: str, source: str = SRC):
    return agent_log.parse(text, source=source)


def test_three_head_styles_and_folding() -> None:
    text = "\r\n".join([FIREWALL, PROXY, BADIMAGE, OOBE]) + "\r\n"
    r = parse(text)
    df = r.df
    assert r.issues == []
    assert df["n_lines"].tolist() == [6, 4, 1, 2, 1, 1, 1, 1]
    assert df["ts_style"].tolist()[:3] == ["mdy-hundredths", "iso-millis-z", "iso-seconds-z"]
    assert df["ts"].iloc[0].isoformat() == "2018-12-11T06:27:55.660000+00:00"  # wall clock unchanged, as UTC
    assert df["ts_raw"].iloc[0] == "12/11/2018 06:27:55.66"
    assert df["ts_assumed_utc"].tolist()[:3] == [True, False, False]
    assert df["thread"].iloc[1] == "00000006"
    assert df["level"].tolist() == ["WARN", "ERROR", "INFO", "ERROR", "INFO", "WARN", "INFO", "HEART"]
    assert "168.63.129.16:32526" in df["text"].iloc[0]
    assert df["message"].iloc[0].startswith("(Ignoring) Exception while fetching")
    assert df["line"].tolist() == [1, 7, 11, 12, 14, 15, 16, 17]
    assert not df["damaged"].any()
    assert agent_log.AGENT_LOG.check_dtypes(df) == []


def test_heads_without_thread_level_only_and_scrubbed() -> None:
    df = parse("\n".join([NO_THREAD, PII, LEVEL_ONLY]) + "\n").df
    assert df["thread"].isna().tolist() == [True, True, False, True]
    assert df["ts"].notna().tolist() == [True, True, False, False]
    assert df["ts_style"].iloc[2] == "scrubbed" and bool(df["damaged"].iloc[2])
    assert "ALPHANUMERICPII" in df["damage"].iloc[2]
    assert df["level"].tolist() == ["INFO", "INFO", "FATAL", "ERROR"]
    assert not df["damaged"].iloc[3]  # a doc's level-only line is a head without a time, not damage


def test_damage_is_kept_and_flagged() -> None:
    text = ("   at Some.Frame()\r\n"  # file starts mid-record
            "[00000011] [13/45/2019 06:27:55.66] [WARN]  bad date\r\n"
            "[00000011] [12/11/20\r\n"  # a head cut in the middle, then more
            "[00000006] 2024-12-18T15:34:54.328Z [INFO]  ok\r\n"
            "[00000006] 2024-12-18T15:34:5")  # cut mid-line at the end of the file
    r = parse(text)
    df = r.df
    # The cut head (line 3) and the cut last line (line 5) are kept as continuation lines of the records above.
    assert df["n_lines"].tolist() == [1, 2, 2]
    assert df["damaged"].tolist() == [True, True, True]
    kinds = sorted(i.kind for i in r.issues)
    assert kinds == ["bad-timestamp", "malformed-head", "malformed-head", "orphan-lines", "truncated-line"]
    assert "[00000011] [12/11/20" in df["text"].iloc[1]
    bad = next(i for i in r.issues if i.kind == "bad-timestamp")
    assert bad.line == 2 and "13/45/2019" in bad.message and bad.source == SRC


def test_encodings_and_line_endings_decode_to_the_same_records() -> None:
    text = "\r\n".join([OOBE, PROXY]) + "\r\n"
    variants = [text.encode(), codecs.BOM_UTF8 + text.encode(), codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
                codecs.BOM_UTF16_BE + text.encode("utf-16-be"), text.replace("\r\n", "\n").encode(),
                text.encode() + b"\x00" * 64]
    frames = [parse(decode(v).text).df for v in variants]
    for df in frames[1:]:
        assert df["text"].tolist() == frames[0]["text"].tolist()
        assert df["line"].tolist() == frames[0]["line"].tolist()


def test_non_english_and_mojibake_text_is_kept() -> None:
    line = "[00000006] 2024-12-18T15:34:54.328Z [WARN]  Name der fehlerhaften Anwendung: WaAppAgent.exe it�s Größe"
    df = parse(line + "\r\n").df
    assert df["message"].iloc[0].endswith("it�s Größe")


def test_rotated_files_combine_in_time_order() -> None:
    newer = parse("[00000006] 2024-03-08T04:15:04.952Z [INFO]  b\r\n", "C/WindowsAzure/Logs/WaAppAgent.log").df
    older = parse("[00000006] [03/05/2024 02:15:30.00] [INFO]  a\r\n", "C/WindowsAzure/Logs/WaAppAgent.1.log").df
    df = agent_log.combine([newer, older])
    assert df["message"].tolist() == ["a", "b"]
    assert df["source"].tolist() == ["C/WindowsAzure/Logs/WaAppAgent.1.log", "C/WindowsAzure/Logs/WaAppAgent.log"]


def test_sniffing_tells_agent_from_handler_logs() -> None:
    handler = "[4892+00000001] [03/04/2021 20:49:58.30] [INFO] Starting RunCommand Extension v1\n"
    assert sniff(OOBE) == "agent_log"
    assert sniff(handler * 3) == "handler_log"
    assert not agent_log.sniff(handler * 3)
    assert sniff("VERBOSE: [2015-10-21T08:03:08] Installing the DSC Extension...\n") == "handler_log"


# --- handler logs --------------------------------------------------------------------------------------------
RUNCOMMAND = """[5864+00000001] [10/18/2023 19:08:03.42] [INFO] Process handler command: enable
[5864+00000001] [10/18/2023 19:08:03.45] [INFO] HandlerSettings = ProtectedSettingsCertThumbprint: <REDACTED> Thumbprint length = 40, ProtectedSettings: <REDACTED> ProtectedSettings length = 584, PublicSettings: Source: Script: ipconfig /all
SIG  Begin signature block
<cut>
SIG  End signature block
ScriptUri:  Parameters: []
[5864+00000001] [10/18/2023 19:08:03.81] [INFO] RunCommand script execution finished with exit code: 0"""
DSC = """VERBOSE: [2019-02-19 06:52:17Z] Extension request for sequence number 0 
attempting to acquire lock.0 file
VERBOSE: [2019-02-19 06:52:17Z] File lock does not exist: begin processing
VERBOSE: [2015-10-21T08:03:09] Reading handler environment from 
C:\\Packages\\Plugins\\Microsoft.Powershell.DSC\\1.10.1.0\\bin\\..\\HandlerEnvironment.json"""
HSRC = "C/WindowsAzure/Logs/Plugins/Microsoft.CPlat.Core.RunCommandHandlerWindows/2.0.8/RunCommandHandler.log"


def test_handler_log_bracketed_and_multiline_settings_dump() -> None:
    r = handler_log.parse(RUNCOMMAND.replace("\n", "\r\n") + "\r\n", source=HSRC)
    df = r.df
    assert df["n_lines"].tolist() == [1, 5, 1]
    assert df["pid"].tolist() == [5864] * 3
    assert df["extension"].iloc[0] == "Microsoft.CPlat.Core.RunCommandHandlerWindows"
    assert df["ext_version"].iloc[0] == "2.0.8"
    assert df["layout"].tolist() == ["bracketed"] * 3
    assert df["ts"].iloc[2].isoformat() == "2023-10-18T19:08:03.810000+00:00"
    assert handler_log.HANDLER_LOG.check_dtypes(df) == []


def test_handler_log_dsc_layout_with_wrapped_lines() -> None:
    df = handler_log.parse(DSC + "\n", source="C/WindowsAzure/Logs/Plugins/Microsoft.Powershell.DSC/2.76.0.0/"
                                               "DscExtensionHandler.0.log").df
    assert df["layout"].tolist() == ["dsc"] * 3
    assert df["n_lines"].tolist() == [2, 1, 2]
    assert df["level"].tolist() == ["VERBOSE"] * 3
    assert df["ts_assumed_utc"].tolist() == [False, False, True]  # "Z" vs no zone


def test_plain_text_fallback_keeps_every_line() -> None:
    text = "Current sequence number, 3, is not greater than the sequence number\nof the most recently executed " \
           "configuration. Exiting...\n"
    df = handler_log.parse(text, source="C/WindowsAzure/Logs/Plugins/X.Y/1.0/CustomScriptHandler.log").df
    assert df["layout"].tolist() == ["plain", "plain"] and df["level"].tolist() == ["UNKNOWN", "UNKNOWN"]


# --- the property: every input line ends up in exactly one record --------------------------------------------
LINE_KINDS = st.sampled_from([
    "[00000011] [12/11/2018 06:27:55.66] [WARN]  msg", "[00000006] 2024-12-18T15:34:54.328Z [ERROR] x",
    "[00000018] 2021-01-12T16:35:45Z [INFO]  y", "   at Frame.Method()", "---> System.Exception: inner", "",
    "[ERROR] level only", "{ \"json\": 1 }", "[00000011] [13/45/2019 06:27:55.66] [WARN] bad", "[00000011] [12/1",
    "garbage ☃ text", "[4892+00000001] [03/04/2021 20:49:58.30] [INFO] h", "VERBOSE: [2015-10-21T08:03:08] d",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(LINE_KINDS, min_size=1, max_size=40), st.sampled_from(["\r\n", "\n", "\r"]), st.booleans())
def test_every_line_lands_in_exactly_one_record(lines: list[str], eol: str, final_eol: bool) -> None:
    text = eol.join(lines) + (eol if final_eol else "")
    n = len(split_lines(text))
    for parser in (agent_log, handler_log):
        df = parser.parse(text, source="C/WindowsAzure/Logs/Plugins/A.B/1.0/x.log").df
        assert int(df["n_lines"].sum()) == n
        if n == 0:
            assert df.empty
            continue
        assert df["line"].tolist()[0] == 1 and int(df["end_line"].iloc[-1]) == n
        starts, ends = df["line"].astype(int).tolist(), df["end_line"].astype(int).tolist()
        assert all(s2 == e1 + 1 for e1, s2 in zip(ends, starts[1:], strict=False))  # tiles 1..n, no gap or overlap
        rebuilt = "\n".join(df["text"]).split("\n")
        assert rebuilt == split_lines(text)  # nothing lost, nothing invented
