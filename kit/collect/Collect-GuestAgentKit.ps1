<#
.SYNOPSIS
    guestagent-kit collector: gathers this VM's Azure VM Agent and extension evidence into one bundle zip.

.DESCRIPTION
    Read-only on the VM. The only thing it writes is one staging folder under %TEMP%, which it always removes
    (and the bundle zip itself when run by hand, at -OutFile). Files are opened with shared read, so the agent
    and the extensions keep writing while they are copied.

    What it gathers (the layout is docs/bundle-format.md of guestagent-kit):
      * C:\WindowsAzure\Logs: WaAppAgent*.log, TransparentInstaller.log, Telemetry.log,
        AggregateStatus\aggregatestatus*.json, Plugins\<Publisher.Type>\<version>\*.log (and below)
      * C:\Packages\Plugins\<Publisher.Type>\<version>: Status\*.status, Status\HeartBeat.Json,
        RuntimeSettings\*.settings, HandlerManifest.json, HandlerEnvironment.json
        (protectedSettings stay as the VM holds them: encrypted to the VM's certificate, whose private key is
        never collected)
      * route print, ipconfig /all, netsh winhttp show proxy (bytes as printed, code page 65001),
        Get-NetRoute, Get-NetIPAddress, the agent services, enabled outbound block firewall rules (JSON)
      * probes made from this VM: TCP connects to 168.63.129.16:80, 168.63.129.16:32526 and
        169.254.169.254:80 (several attempts each), IMDS instance, versions and attested document (with a
        nonce), WireServer ?comp=versions - all without any proxy.

    Size caps work like the platform's own log collectors: files are taken in priority order (the kit's command
    and probe outputs, then the agent's current log and the extension state files, then extension logs newest
    first, then rotated agent logs newest first); a file over the per-file cap keeps only its tail; once the
    total cap is reached the remaining lower-priority files are skipped. Every decision is in manifest.json.

    Two ways to run it:
      * by guestagent-kit over WinRM (vmkit collect HOST): the script arrives on stdin with -Stream and
        streams the zip back to the client as base64 lines, with its length and SHA-256;
      * by hand on the VM (RDP, Run Command, serial console), writing the zip to a file:
            powershell.exe -NoProfile -ExecutionPolicy Bypass -File .\Collect-GuestAgentKit.ps1
        then copy the zip off the VM and open it with guestagent-kit (vmkit diagnose <zip>).

.PARAMETER OutFile
    Where to write the bundle zip when run by hand. Default: guestagent-kit-<computer>-<UTC time>.zip in the
    current folder.

.EXAMPLE
    powershell.exe -NoProfile -ExecutionPolicy Bypass -File .\Collect-GuestAgentKit.ps1 -OutFile C:\Temp\vm.zip
#>
[CmdletBinding()]
param(
    [string]$OutFile = '',
    [long]$PerFileBytes = 31457280,
    [long]$TotalBytes = 157286400,
    [int]$ProbeAttempts = 3,
    [int]$ProbeTimeoutMs = 3000,
    [string]$Nonce = '',
    [string]$ParamsJson = '',
    [switch]$Stream
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$KitFormat = 'guestagent-kit-bundle'
$ScriptVersion = '1'
$Utf8 = New-Object System.Text.UTF8Encoding $false
$Host_ = $env:COMPUTERNAME
$KitVersion = 'manual'
$ScriptSha = ''
$Profile_ = 'full'   # 'probe' (kit.live): the network commands and the probes only, no files
if ($ParamsJson) {
    # Sent by the kit's client as the first line of stdin: limits and probe settings, never a credential.
    $p = $ParamsJson | ConvertFrom-Json
    foreach ($name in @('per_file_bytes', 'total_bytes', 'probe_attempts', 'probe_timeout_ms', 'nonce', 'host',
                        'kit_version', 'script_sha256', 'profile')) {
        if (-not ($p.PSObject.Properties.Name -contains $name)) { continue }
        $v = $p.$name
        switch ($name) {
            'per_file_bytes' { $PerFileBytes = [long]$v }
            'total_bytes' { $TotalBytes = [long]$v }
            'probe_attempts' { $ProbeAttempts = [int]$v }
            'probe_timeout_ms' { $ProbeTimeoutMs = [int]$v }
            'nonce' { $Nonce = [string]$v }
            'host' { $Host_ = [string]$v }
            'kit_version' { $KitVersion = [string]$v }
            'script_sha256' { $ScriptSha = [string]$v }
            'profile' { $Profile_ = [string]$v }
        }
    }
}
if (-not $Nonce) { $Nonce = -join ((1..10) | ForEach-Object { Get-Random -Minimum 0 -Maximum 10 }) }
if (-not $ScriptSha -and $PSCommandPath) { $ScriptSha = (Get-FileHash -Algorithm SHA256 -LiteralPath $PSCommandPath).Hash.ToLowerInvariant() }

# ------------------------------------------------------------------------------------------------ output
$StdOut = $null
if ($Stream) { $StdOut = [Console]::OpenStandardOutput() }

function Write-Line([string]$Text) {
    # Stream mode: one protocol line on stdout, UTF-8, LF. By hand: progress on the console.
    if ($Stream) {
        $b = $Utf8.GetBytes($Text + "`n")
        $StdOut.Write($b, 0, $b.Length)
        $StdOut.Flush()
    } else {
        Write-Host $Text
    }
}

function Write-Log([string]$Text) {
    $script:CollectLog.Add(('{0} {1}' -f (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ss.fffZ'), $Text)) | Out-Null
    if ($Stream) { Write-Line ('GAKIT LOG ' + ($Text -replace '[\r\n]+', ' ')) } else { Write-Host $Text }
}

function Get-UtcStamp { (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ss.fffZ') }

# ------------------------------------------------------------------------------------------------ zip
Add-Type -AssemblyName System.IO.Compression
Add-Type -AssemblyName System.IO.Compression.FileSystem

$script:Zip = $null
$zipStream = $null
$script:CollectLog = New-Object System.Collections.ArrayList
$script:Artifacts = New-Object System.Collections.ArrayList
$script:Used = [long]0
$Stage = Join-Path ([IO.Path]::GetTempPath()) ('guestagent-kit-' + [guid]::NewGuid().ToString('N'))

function ConvertTo-Hex([byte[]]$Bytes) { -join ($Bytes | ForEach-Object { $_.ToString('x2') }) }

function Add-Record($Path, $Origin, $Status, $Size, $OriginalSize, $Sha, $Note) {
    $script:Artifacts.Add([ordered]@{ path = $Path; origin = $Origin; status = $Status; size = $Size;
        original_size = $OriginalSize; sha256 = $Sha; note = $Note }) | Out-Null
}

function Add-Bytes([string]$Path, [byte[]]$Bytes, [string]$Origin, $Note = $null) {
    # Output the kit made (commands, probes): always kept, counted against the total.
    $e = $script:Zip.CreateEntry($Path, [IO.Compression.CompressionLevel]::Optimal)
    $s = $e.Open()
    try { $s.Write($Bytes, 0, $Bytes.Length) } finally { $s.Dispose() }
    $sha = [Security.Cryptography.SHA256]::Create()
    $h = ConvertTo-Hex $sha.ComputeHash($Bytes)
    $script:Used += $Bytes.Length
    Add-Record $Path $Origin 'collected' $Bytes.Length $Bytes.Length $h $Note
}

function Add-Json([string]$Path, $Object, [string]$Origin) {
    Add-Bytes $Path ($Utf8.GetBytes((ConvertTo-Json -InputObject $Object -Depth 6))) $Origin
}

function Add-File([IO.FileInfo]$File, [bool]$Must) {
    # Copy one file from the VM into the zip: shared read, tail over the per-file cap, skipped over the total cap.
    $rel = 'C/' + ($File.FullName.Substring(3) -replace '\\', '/')
    $origin = $File.FullName
    $len = [long]$File.Length
    $want = [Math]::Min($len, $PerFileBytes)
    if (-not $Must -and ($script:Used + $want) -gt $TotalBytes) {
        Add-Record $rel $origin 'skipped' 0 $len $null ('total cap of {0} bytes reached' -f $TotalBytes)
        return
    }
    try {
        $fs = [IO.File]::Open($File.FullName, [IO.FileMode]::Open, [IO.FileAccess]::Read,
            [IO.FileShare]::ReadWrite -bor [IO.FileShare]::Delete)
    } catch {
        Add-Record $rel $origin 'error' 0 $len $null ('could not open: ' + $_.Exception.Message)
        return
    }
    try {
        $len = $fs.Length
        $start = [long]0
        $status = 'collected'
        $note = $null
        if ($len -gt $PerFileBytes) {
            $start = $len - $PerFileBytes
            $head = New-Object byte[] 2
            $n = $fs.Read($head, 0, 2)
            if ($n -eq 2 -and (($head[0] -eq 0xFF -and $head[1] -eq 0xFE) -or ($head[0] -eq 0xFE -and $head[1] -eq 0xFF))) {
                if ($start % 2 -ne 0) { $start += 1 }  # UTF-16: keep whole code units
            }
            $status = 'truncated'
            $note = ('per-file cap of {0} bytes: kept the last {1} of {2} bytes' -f $PerFileBytes, ($len - $start), $len)
        }
        $fs.Seek($start, [IO.SeekOrigin]::Begin) | Out-Null
        $e = $script:Zip.CreateEntry($rel, [IO.Compression.CompressionLevel]::Optimal)
        $e.LastWriteTime = [DateTimeOffset]$File.LastWriteTimeUtc
        $out = $e.Open()
        $sha = [Security.Cryptography.SHA256]::Create()
        $buf = New-Object byte[] 1048576
        $total = [long]0
        try {
            while ($total -lt ($len - $start)) {
                $n = $fs.Read($buf, 0, [int][Math]::Min($buf.Length, ($len - $start) - $total))
                if ($n -le 0) { break }
                $out.Write($buf, 0, $n)
                $sha.TransformBlock($buf, 0, $n, $null, 0) | Out-Null
                $total += $n
            }
        } finally { $out.Dispose() }
        $sha.TransformFinalBlock((New-Object byte[] 0), 0, 0) | Out-Null
        $script:Used += $total
        Add-Record $rel $origin $status $total $len (ConvertTo-Hex $sha.Hash) $note
    } catch {
        Add-Record $rel $origin 'error' 0 $len $null ('could not read: ' + $_.Exception.Message)
    } finally { $fs.Dispose() }
}

function Get-Files([string]$Root, [string]$Filter, [switch]$Recurse) {
    if (-not (Test-Path -LiteralPath $Root)) { return @() }
    try {
        @(Get-ChildItem -LiteralPath $Root -Filter $Filter -File -Recurse:$Recurse -Force -ErrorAction SilentlyContinue)
    } catch { @() }
}

# ------------------------------------------------------------------------------------------------ commands
function Invoke-Native([string]$Exe, [string]$Arguments) {
    # Runs a console program and returns its stdout bytes exactly as printed.
    $psi = New-Object Diagnostics.ProcessStartInfo
    $psi.FileName = Join-Path $env:SystemRoot ('System32\' + $Exe)
    $psi.Arguments = $Arguments
    $psi.UseShellExecute = $false
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.CreateNoWindow = $true
    $proc = [Diagnostics.Process]::Start($psi)
    $err = $proc.StandardError.ReadToEndAsync()
    $ms = New-Object IO.MemoryStream
    $proc.StandardOutput.BaseStream.CopyTo($ms)
    $proc.WaitForExit()
    [pscustomobject]@{ Bytes = $ms.ToArray(); ExitCode = $proc.ExitCode; StdErr = $err.Result }
}

function Add-Native([string]$Path, [string]$Exe, [string]$Arguments, [string]$Origin) {
    try {
        $r = Invoke-Native $Exe $Arguments
        $note = $null
        if ($r.ExitCode -ne 0) { $note = ('exit code {0}: {1}' -f $r.ExitCode, $r.StdErr.Trim()) }
        Add-Bytes $Path $r.Bytes $Origin $note
    } catch {
        Add-Record $Path $Origin 'error' 0 0 $null $_.Exception.Message
    }
}

function Add-Collected([string]$Path, [string]$Origin, [scriptblock]$Body) {
    try { Add-Json $Path (& $Body) $Origin }
    catch { Add-Record $Path $Origin 'error' 0 0 $null $_.Exception.Message }
}

function Get-ServiceInfo([string]$Name) {
    $svc = Get-Service -Name $Name -ErrorAction SilentlyContinue
    if (-not $svc) {
        return [ordered]@{ Name = $Name; DisplayName = $null; Status = 'NotFound'; StartType = $null;
            ProcessId = $null; PathName = $null; FileVersion = $null }
    }
    $cim = Get-CimInstance -ClassName Win32_Service -Filter ("Name='{0}'" -f $Name) -ErrorAction SilentlyContinue
    $path = $null; $procId = $null; $ver = $null
    if ($cim) {
        $path = ([string]$cim.PathName).Trim()
        if ($path.StartsWith('"')) { $path = $path.Substring(1, $path.IndexOf('"', 1) - 1) }
        $procId = [int]$cim.ProcessId
        if (Test-Path -LiteralPath $path) { $ver = (Get-Item -LiteralPath $path).VersionInfo.FileVersion }
    }
    $start = $null
    if ($svc.PSObject.Properties.Name -contains 'StartType') { $start = "$($svc.StartType)" }
    elseif ($cim) { $start = "$($cim.StartMode)" }
    [ordered]@{ Name = $svc.Name; DisplayName = $svc.DisplayName; Status = "$($svc.Status)"; StartType = $start;
        ProcessId = $procId; PathName = $path; FileVersion = $ver }
}

function Get-BlockRules {
    $rules = @(Get-NetFirewallRule -Enabled True -Direction Outbound -Action Block -ErrorAction SilentlyContinue)
    $list = New-Object System.Collections.ArrayList
    foreach ($r in $rules) {
        $af = Get-NetFirewallAddressFilter -AssociatedNetFirewallRule $r
        $pf = Get-NetFirewallPortFilter -AssociatedNetFirewallRule $r
        $app = Get-NetFirewallApplicationFilter -AssociatedNetFirewallRule $r
        $list.Add([ordered]@{ Name = $r.Name; DisplayName = $r.DisplayName; Enabled = $true;
            Direction = "$($r.Direction)"; Action = "$($r.Action)"; Profile = "$($r.Profile)";
            PolicyStoreSource = "$($r.PolicyStoreSource)"; Protocol = "$($pf.Protocol)";
            RemoteAddress = @($af.RemoteAddress | ForEach-Object { "$_" });
            RemotePort = @($pf.RemotePort | ForEach-Object { "$_" });
            LocalPort = @($pf.LocalPort | ForEach-Object { "$_" }); Program = "$($app.Program)" }) | Out-Null
    }
    , $list.ToArray()
}

# ------------------------------------------------------------------------------------------------ probes
function Test-Tcp([string]$Target, [int]$Port, [int]$Attempt) {
    $time = Get-UtcStamp
    $client = New-Object Net.Sockets.TcpClient
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $ok = $false; $err = $null
    try {
        $ar = $client.BeginConnect($Target, $Port, $null, $null)
        if ($ar.AsyncWaitHandle.WaitOne($ProbeTimeoutMs)) {
            $client.EndConnect($ar)
            $ok = $true
        } else {
            $err = ('Connect timed out after {0} ms (the kit''s probe timeout; no answer) {1}:{2}' -f $ProbeTimeoutMs, $Target, $Port)
        }
    } catch {
        $ex = $_.Exception
        while ($ex.InnerException) { $ex = $ex.InnerException }
        $err = $ex.Message
    } finally { $client.Close() }
    [ordered]@{ target = $Target; port = $Port; ok = $ok; elapsed_ms = [Math]::Round($sw.Elapsed.TotalMilliseconds, 1);
        error = $err; attempt = $Attempt; time = $time }
}

function Invoke-Probe([string]$Url, [hashtable]$Headers) {
    # One HTTP GET from the VM with no proxy at all; the envelope of docs/bundle-format.md "HTTP probes".
    $time = Get-UtcStamp
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $status = $null; $hdrs = [ordered]@{}; $body = ''; $err = $null
    $req = [Net.HttpWebRequest]::Create($Url)
    $req.Proxy = New-Object Net.WebProxy   # an empty proxy: never the machine's or the user's proxy
    $req.Timeout = $ProbeTimeoutMs
    $req.ReadWriteTimeout = $ProbeTimeoutMs
    foreach ($k in $Headers.Keys) { $req.Headers.Add($k, $Headers[$k]) }
    $resp = $null
    try { $resp = $req.GetResponse() }
    catch {
        # A .NET method's exception arrives wrapped (MethodInvocationException): find the WebException, whose
        # Response holds an HTTP error answer (4xx/5xx) that is evidence too.
        $ex = $_.Exception
        while ($ex -and -not ($ex -is [Net.WebException])) { $ex = $ex.InnerException }
        if ($ex -and $ex.Response) { $resp = $ex.Response } else { $err = $_.Exception.GetBaseException().Message }
    }
    if ($resp) {
        try {
            $status = [int]$resp.StatusCode
            foreach ($k in $resp.Headers.AllKeys) { $hdrs[$k] = $resp.Headers[$k] }
            $rd = New-Object IO.StreamReader($resp.GetResponseStream(), $Utf8)
            $body = $rd.ReadToEnd()
        } catch { $err = $_.Exception.Message } finally { $resp.Close() }
    }
    [ordered]@{ url = $Url; status = $status; headers = $hdrs; body = $body; error = $err;
        elapsed_ms = [Math]::Round($sw.Elapsed.TotalMilliseconds, 1); time = $time }
}

# ------------------------------------------------------------------------------------------------ main
$oldOutEnc = $null
$zipPath = Join-Path $Stage 'bundle.zip'
$exit = 0
try {
    New-Item -ItemType Directory -Path $Stage -Force | Out-Null
    if ($Stream) { Write-Line ('GAKIT BEGIN {0}' -f $ScriptVersion) }
    try { $oldOutEnc = [Console]::OutputEncoding; [Console]::OutputEncoding = $Utf8 } catch { $oldOutEnc = $null }
    $collectedAt = Get-UtcStamp
    $zipStream = [IO.File]::Open($zipPath, [IO.FileMode]::CreateNew)
    $script:Zip = New-Object IO.Compression.ZipArchive($zipStream, [IO.Compression.ZipArchiveMode]::Create)

    Write-Log 'commands: route print, ipconfig /all, netsh winhttp show proxy'
    Add-Native 'commands/route_print.txt' 'ROUTE.EXE' 'print' 'route print'
    Add-Native 'commands/ipconfig_all.txt' 'ipconfig.exe' '/all' 'ipconfig /all'
    Add-Native 'commands/netsh_winhttp_proxy.txt' 'netsh.exe' 'winhttp show proxy' 'netsh winhttp show proxy'
    Write-Log 'commands: Get-NetRoute, Get-NetIPAddress, services, firewall rules'
    Add-Collected 'commands/get_netroute.json' 'Get-NetRoute' {
        , @(Get-NetRoute -ErrorAction Stop | Select-Object DestinationPrefix, NextHop, RouteMetric, InterfaceMetric,
            ifIndex, InterfaceAlias, @{n = 'AddressFamily'; e = { "$($_.AddressFamily)" } },
            @{n = 'Protocol'; e = { "$($_.Protocol)" } }, @{n = 'Store'; e = { "$($_.Store)" } },
            @{n = 'State'; e = { "$($_.State)" } })
    }
    Add-Collected 'commands/get_netipaddress.json' 'Get-NetIPAddress' {
        , @(Get-NetIPAddress -ErrorAction Stop | Select-Object IPAddress, PrefixLength, InterfaceIndex, InterfaceAlias,
            @{n = 'AddressFamily'; e = { "$($_.AddressFamily)" } }, @{n = 'PrefixOrigin'; e = { "$($_.PrefixOrigin)" } },
            @{n = 'SuffixOrigin'; e = { "$($_.SuffixOrigin)" } }, SkipAsSource,
            @{n = 'AddressState'; e = { "$($_.AddressState)" } })
    }
    Add-Collected 'commands/services.json' 'Get-Service, Win32_Service' {
        , @(@('WindowsAzureGuestAgent', 'RdAgent', 'WindowsAzureTelemetryService') | ForEach-Object { Get-ServiceInfo $_ })
    }
    Add-Collected 'commands/firewall_rules.json' 'Get-NetFirewallRule -Enabled True -Direction Outbound -Action Block' { Get-BlockRules }

    Write-Log ('probes: TCP 168.63.129.16:80, 168.63.129.16:32526, 169.254.169.254:80 x {0}' -f $ProbeAttempts)
    $tcp = New-Object System.Collections.ArrayList
    foreach ($t in @(@('168.63.129.16', 80), @('168.63.129.16', 32526), @('169.254.169.254', 80))) {
        for ($i = 1; $i -le $ProbeAttempts; $i++) { $tcp.Add((Test-Tcp $t[0] $t[1] $i)) | Out-Null }
    }
    Add-Json 'probes/tcp.json' $tcp.ToArray() 'probes/tcp.json'
    Write-Log 'probes: IMDS instance, versions, attested document; WireServer versions'
    $md = @{ Metadata = 'true' }
    $inst = Invoke-Probe 'http://169.254.169.254/metadata/instance?api-version=2021-02-01' $md
    Add-Json 'probes/imds_instance.json' $inst 'probes/imds_instance.json'
    Add-Json 'probes/imds_versions.json' (Invoke-Probe 'http://169.254.169.254/metadata/versions' $md) 'probes/imds_versions.json'
    # Azure Stack HCI VMs with legacy OS support reach the host's attestation service through the
    # AZSHCI_GUEST-IMDS_DO_NOT_MODIFY NIC at 169.254.169.253 ("Azure verification for VMs"); Azure VMs use IMDS.
    $attHost = '169.254.169.254'; $attVer = '2020-09-01'
    $hciNic = $null
    try { $hciNic = Get-NetAdapter -Name 'AZSHCI_GUEST-IMDS_DO_NOT_MODIFY' -ErrorAction SilentlyContinue } catch { }
    if ($hciNic) { $attHost = '169.254.169.253'; $attVer = '2018-10-01' }
    $att = Invoke-Probe ('http://{0}/metadata/attested/document?api-version={1}&nonce={2}' -f $attHost, $attVer, $Nonce) $md
    $att['nonce'] = $Nonce
    Add-Json 'probes/imds_attested.json' $att 'probes/imds_attested.json'
    $ws = Invoke-Probe 'http://168.63.129.16/?comp=versions' @{}
    Add-Json 'probes/wireserver_versions.json' $ws 'probes/wireserver_versions.json'
    if ($null -ne $ws.status) { Add-Bytes 'probes/wireserver_versions.xml' ($Utf8.GetBytes([string]$ws.body)) 'probes/wireserver_versions.xml' }

    if ($Profile_ -eq 'probe') {
        Write-Log 'profile probe: the network commands and probes only, no files'
    } else {
        Write-Log 'files: agent log and extension state'
        $logs = 'C:\WindowsAzure\Logs'
        $pkgs = 'C:\Packages\Plugins'
        foreach ($name in @('WaAppAgent.log', 'TransparentInstaller.log')) {
            $f = Join-Path $logs $name
            if (Test-Path -LiteralPath $f) { Add-File (Get-Item -LiteralPath $f -Force) $true }
            else { Add-Record ('C/WindowsAzure/Logs/' + $name) $f 'missing' 0 0 $null 'not present on the VM' }
        }
        foreach ($f in (Get-Files (Join-Path $logs 'AggregateStatus') 'aggregatestatus*.json')) { Add-File $f $true }
        $state = @()
        foreach ($ext in (Get-ChildItem -LiteralPath $pkgs -Directory -Force -ErrorAction SilentlyContinue)) {
            foreach ($ver in (Get-ChildItem -LiteralPath $ext.FullName -Directory -Force -ErrorAction SilentlyContinue)) {
                foreach ($n in @('HandlerManifest.json', 'HandlerEnvironment.json')) {
                    $f = Join-Path $ver.FullName $n
                    if (Test-Path -LiteralPath $f) { $state += Get-Item -LiteralPath $f -Force }
                }
                $state += Get-Files (Join-Path $ver.FullName 'Status') '*.status'
                $state += Get-Files (Join-Path $ver.FullName 'Status') 'HeartBeat.Json'
                $state += Get-Files (Join-Path $ver.FullName 'RuntimeSettings') '*.settings'
            }
        }
        foreach ($f in $state) { Add-File $f $true }

        Write-Log 'files: extension logs, then rotated agent logs (newest first, within the total cap)'
        foreach ($f in (Get-Files (Join-Path $logs 'Plugins') '*' -Recurse | Sort-Object LastWriteTimeUtc -Descending)) {
            Add-File $f $false
        }
        foreach ($name in @('Telemetry.log')) {
            $f = Join-Path $logs $name
            if (Test-Path -LiteralPath $f) { Add-File (Get-Item -LiteralPath $f -Force) $false }
        }
        foreach ($f in (Get-Files $logs 'WaAppAgent*.log' | Where-Object { $_.Name -ne 'WaAppAgent.log' } |
                Sort-Object LastWriteTimeUtc -Descending)) { Add-File $f $false }
    }

    $os = $null; $vmId = $null
    try { $c = Get-CimInstance Win32_OperatingSystem; $os = ('{0} {1}' -f $c.Caption.Trim(), $c.Version) } catch { }
    try { if ($inst.status -eq 200) { $vmId = ($inst.body | ConvertFrom-Json).compute.vmId } } catch { }
    $tz = [TimeZoneInfo]::Local
    Add-Bytes 'collect.log' ($Utf8.GetBytes((($script:CollectLog.ToArray()) -join "`r`n") + "`r`n")) 'collector log'
    $manifest = [ordered]@{
        format = $KitFormat; format_version = 1
        collector = [ordered]@{ name = 'guestagent-kit'; version = $KitVersion; script_sha256 = $ScriptSha;
            mode = $(if ($Stream) { 'winrm' } else { 'manual' }); profile = $Profile_ }
        vm = [ordered]@{ host = $Host_; computer_name = $env:COMPUTERNAME; vm_id = $vmId; os = $os;
            time_zone = $tz.Id; utc_offset_minutes = [int]$tz.GetUtcOffset((Get-Date)).TotalMinutes }
        collected_at = $collectedAt
        limits = [ordered]@{ per_file_bytes = $PerFileBytes; total_bytes = $TotalBytes }
        artifacts = $script:Artifacts.ToArray()
    }
    $e = $script:Zip.CreateEntry('manifest.json', [IO.Compression.CompressionLevel]::Optimal)
    $s = $e.Open()
    try { $b = $Utf8.GetBytes((ConvertTo-Json -InputObject $manifest -Depth 6)); $s.Write($b, 0, $b.Length) }
    finally { $s.Dispose() }
    $script:Zip.Dispose(); $script:Zip = $null
    $zipStream.Dispose()

    $hash = (Get-FileHash -Algorithm SHA256 -LiteralPath $zipPath).Hash.ToLowerInvariant()
    $length = (Get-Item -LiteralPath $zipPath).Length
    if ($Stream) {
        # The zip as base64 lines between a header (length and SHA-256 first, so the client can check and show
        # progress) and an END line; a transfer cut anywhere lacks the END line and is refused by the client.
        Write-Line ('GAKIT ZIP {0} {1}' -f $length, $hash)
        $in = [IO.File]::OpenRead($zipPath)
        try {
            $buf = New-Object byte[] 57000   # a multiple of 3: every line is whole base64
            while (($n = $in.Read($buf, 0, $buf.Length)) -gt 0) {
                Write-Line ([Convert]::ToBase64String($buf, 0, $n))
            }
        } finally { $in.Dispose() }
        Write-Line 'GAKIT END'
    } else {
        if (-not $OutFile) {
            $OutFile = Join-Path (Get-Location).Path ('guestagent-kit-{0}-{1}.zip' -f $env:COMPUTERNAME,
                (Get-Date).ToUniversalTime().ToString('yyyyMMddTHHmmssZ'))
        }
        Copy-Item -LiteralPath $zipPath -Destination $OutFile
        Write-Host ('Bundle written: {0} ({1} bytes, SHA-256 {2})' -f $OutFile, $length, $hash)
    }
} catch {
    $exit = 1
    $msg = ('{0} (line {1})' -f $_.Exception.Message, $_.InvocationInfo.ScriptLineNumber)
    if ($Stream) { Write-Line ('GAKIT FAIL ' + ($msg -replace '[\r\n]+', ' ')) }
    [Console]::Error.WriteLine($msg)
} finally {
    if ($script:Zip) { try { $script:Zip.Dispose() } catch { } }
    if ($zipStream) { try { $zipStream.Dispose() } catch { } }
    if ($oldOutEnc) { try { [Console]::OutputEncoding = $oldOutEnc } catch { } }
    if (Test-Path -LiteralPath $Stage) { Remove-Item -LiteralPath $Stage -Recurse -Force -ErrorAction SilentlyContinue }
}
exit $exit
