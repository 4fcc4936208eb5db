<#
.SYNOPSIS
    guestagent-kit collector: gathers this VM's Azure VM Agent and extension evidence into one bundle zip.

.DESCRIPTION
    Read-only on the VM. The only things it writes are its staging folder (beside -OutFile when run by hand, under
    %TEMP% over WinRM) and the bundle zip. Files are opened with shared read, so the agent and the extensions keep
    writing while they are copied.

    What it gathers (the layout is docs/bundle-format.md of guestagent-kit):
      * C:\WindowsAzure\Logs: WaAppAgent*.log, TransparentInstaller.log, Telemetry.log,
        AggregateStatus\aggregatestatus*.json, Plugins\<Publisher.Type>\<version>\*.log (and below)
      * C:\Packages\Plugins\<Publisher.Type>\<version>: Status\*.status, Status\HeartBeat.Json,
        RuntimeSettings\*.settings, HandlerManifest.json, HandlerEnvironment.json
        (protectedSettings stay as the VM holds them: encrypted to the VM's certificate, whose private key is
        never collected)
      * route print, ipconfig /all, netsh winhttp show proxy (bytes as printed; the console code page they are in
        is in the manifest), Get-NetRoute, Get-NetIPAddress, the agent services, enabled outbound block firewall
        rules (JSON); the PowerShell language mode and AppLocker's effective rule collections
      * probes made from this VM: TCP connects to 168.63.129.16:80, 168.63.129.16:32526 and
        169.254.169.254:80 (several attempts each), IMDS instance, versions and attested document (with a
        nonce), WireServer ?comp=versions - all without any proxy.

    It survives the VM: every step has its own time limit (native commands are killed after -CommandTimeoutSec,
    CIM calls carry -OperationTimeoutSec, cmdlets that could hang run in a runspace abandoned after -CimTimeoutSec),
    and a step that fails or hangs is recorded in manifest.json (step, status ok/failed/timeout/skipped, error,
    duration) while the collection goes on. Every file is written to the staging folder as soon as it is made and
    the manifest is rewritten after every step with "status": "partial", so a collection stopped anywhere leaves a
    partial bundle that says what it lacks ("pending"). Past -DeadlineSec the remaining steps are skipped and the
    bundle is finished as partial. Every time stamp is ISO 8601 UTC in the invariant culture.

    Size caps work like the platform's own log collectors: files are taken in priority order (the kit's command
    and probe outputs, then the agent's current log and the extension state files, then extension logs newest
    first, then rotated agent logs newest first); a file over the per-file cap keeps only its tail; once the
    total cap is reached the remaining lower-priority files are skipped. Every decision is in manifest.json.

    Two ways to run it:
      * by guestagent-kit over WinRM (vmkit collect HOST): the script arrives on stdin with -Stream and
        streams the zip back to the client as base64 lines, with its length and SHA-256;
      * by hand on the VM (RDP, Run Command, serial console), writing the zip to a file:
            powershell.exe -NoProfile -ExecutionPolicy Bypass -File .\Collect-GuestAgentKit.ps1
        then copy the zip off the VM and open it with guestagent-kit (vmkit diagnose <zip>). Stopped early, the
        folder <OutFile>.partial is the partial bundle (vmkit diagnose opens folders too).

.PARAMETER OutFile
    Where to write the bundle zip when run by hand. Default: guestagent-kit-<computer>-<UTC time>.zip in the
    current folder.

.PARAMETER CommandTimeoutSec
    Time limit of each native command (route, ipconfig, netsh); it is killed after that. Default 60.

.PARAMETER CimTimeoutSec
    Operation timeout of each CIM call and time limit of each cmdlet step run in its own runspace. Default 30.

.PARAMETER DeadlineSec
    After this many seconds the steps not yet run are skipped and the bundle is finished as partial. Default 1500
    (below the kit client's 1800 s deadline).

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
    [int]$CommandTimeoutSec = 60,
    [int]$CimTimeoutSec = 30,
    [int]$DeadlineSec = 1500,
    [int]$EventDays = 7,
    [long]$EventBytes = 20971520,
    [string]$Nonce = '',
    [string]$ParamsJson = '',
    [switch]$Stream
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$KitFormat = 'guestagent-kit-bundle'
$ScriptVersion = '1'
$Host_ = $env:COMPUTERNAME
$KitVersion = 'manual'
$ScriptSha = ''
$Profile_ = 'full'   # 'probe' (kit.live): the network commands and the probes only, no files
# ConstrainedLanguage mode (an AppLocker or WDAC policy that does not trust this script) forbids .NET types: read it
# before using any, and then take the cmdlet-only path at the end of this file.
$LanguageMode = [string]$ExecutionContext.SessionState.LanguageMode
$Inv = [Globalization.CultureInfo]::InvariantCulture
if ($ParamsJson) {
    # Sent by the kit's client as the first line of stdin: limits and probe settings, never a credential.
    $p = $ParamsJson | ConvertFrom-Json
    foreach ($name in @('per_file_bytes', 'total_bytes', 'probe_attempts', 'probe_timeout_ms', 'nonce', 'host',
                        'kit_version', 'script_sha256', 'command_timeout_s', 'cim_timeout_s', 'deadline_s',
                        'profile')) {
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
            'command_timeout_s' { $CommandTimeoutSec = [int]$v }
            'cim_timeout_s' { $CimTimeoutSec = [int]$v }
            'deadline_s' { $DeadlineSec = [int]$v }
            'profile' { $Profile_ = [string]$v }
        }
    }
}
if (-not $Nonce) { $Nonce = -join ((1..10) | ForEach-Object { Get-Random -Minimum 0 -Maximum 10 }) }
if (-not $ScriptSha -and $PSCommandPath) { $ScriptSha = (Get-FileHash -Algorithm SHA256 -LiteralPath $PSCommandPath).Hash.ToLowerInvariant() }

function Get-UtcStamp { (Get-Date).ToUniversalTime().ToString('o', [Globalization.CultureInfo]::InvariantCulture) }

# Every step of the collection, in order. The manifest lists the ones not run yet under "pending", so a bundle cut
# short says what it lacks.
#: Event channels exported by 'files: event logs' (issue 15: crashes, service failures, app-control blocks).
$EventChannels = @('System', 'Application', 'Windows Azure', 'Microsoft-Windows-AppLocker/EXE and DLL',
    'Microsoft-Windows-AppLocker/MSI and Script', 'Microsoft-Windows-CodeIntegrity/Operational')
$Plan = @('environment', 'applocker', 'route print', 'ipconfig /all', 'netsh winhttp show proxy', 'Get-NetRoute',
    'Get-NetIPAddress', 'services', 'firewall rules', 'probes: tcp', 'probes: imds instance', 'probes: imds versions',
    'probes: imds attested', 'probes: wireserver versions', 'files: agent logs', 'files: extension state',
    'files: extension logs', 'files: rotated agent logs', 'files: event logs')
if ($Profile_ -eq 'probe') { $Plan = @($Plan | Where-Object { $_ -notlike 'files:*' }) }  # no file step is planned

if ($LanguageMode -ne 'FullLanguage') {
    . { # ------------------------------------------------------------------ ConstrainedLanguage: cmdlets only
        # No .NET: no zip streaming, no probes, no native commands with a time limit. The files are copied with
        # Copy-Item, the manifest says why everything else was skipped, and Compress-Archive makes the zip.
        $msg = ('PowerShell runs in {0} mode here (an AppLocker or WDAC policy does not trust this script): only ' +
            'the agent and extension files can be copied, commands and probes are skipped') -f $LanguageMode
        if ($Stream) {
            Write-Output 'GAKIT BEGIN 1'
            Write-Output ('GAKIT FAIL ' + $msg + '; run the script by hand from a folder the policy allows')
            exit 1
        }
        Write-Warning $msg
        if (-not $OutFile) { $OutFile = Join-Path (Get-Location).Path ('guestagent-kit-{0}-{1}.zip' -f $env:COMPUTERNAME,
                (Get-Date).ToUniversalTime().ToString('yyyyMMddTHHmmssZ', [Globalization.CultureInfo]::InvariantCulture)) }
        $Stage = $OutFile + '.partial'
        New-Item -ItemType Directory -Path $Stage -Force | Out-Null
        $arts = @(); $steps = @()
        foreach ($s in $Plan) {
            if ($s -like 'files:*') { continue }
            $steps += [ordered]@{ step = $s; status = 'skipped'; error = $msg; started = (Get-UtcStamp); duration_ms = 0 }
        }
        $started = Get-UtcStamp
        $found = @()
        foreach ($root in @('C:\WindowsAzure\Logs', 'C:\Packages\Plugins')) {
            $errs = $null
            if ($root -and (Test-Path -LiteralPath $root)) {
                $found += @(Get-ChildItem -LiteralPath $root -File -Recurse -Force -ErrorAction SilentlyContinue -ErrorVariable errs |
                    Where-Object { $_.Extension -in @('.log', '.json', '.status', '.settings', '.Json') })
            }
            foreach ($e in @($errs)) {
                $arts += [ordered]@{ path = [string]$e.TargetObject; origin = [string]$e.TargetObject; status = 'error'; size = 0;
                    original_size = 0; sha256 = $null; note = ('could not list: ' + $e.Exception.Message) }
            }
        }
        foreach ($f in $found) {
            $rel = $f.FullName.Substring(0, 1) + '/' + ($f.FullName.Substring(3) -replace '\\', '/')
            $dest = Join-Path $Stage ($rel -replace '/', '\')
            try {
                New-Item -ItemType Directory -Path (Split-Path -Parent $dest) -Force | Out-Null
                Copy-Item -LiteralPath $f.FullName -Destination $dest -Force
                $h = (Get-FileHash -Algorithm SHA256 -LiteralPath $dest).Hash.ToLowerInvariant()
                $arts += [ordered]@{ path = $rel; origin = $f.FullName; status = 'collected'; size = $f.Length;
                    original_size = $f.Length; sha256 = $h; note = 'copied with Copy-Item (ConstrainedLanguage mode)' }
            } catch {
                $arts += [ordered]@{ path = $rel; origin = $f.FullName; status = 'error'; size = 0; original_size = $f.Length;
                    sha256 = $null; note = ('could not copy: ' + $_.Exception.Message) }
            }
        }
        $steps += [ordered]@{ step = 'files: agent and extension files (Copy-Item)'; status = 'ok'; error = $null;
            started = $started; duration_ms = 0 }
        $manifest = [ordered]@{ format = $KitFormat; format_version = 1; status = 'partial'; partial_reason = $msg
            collector = [ordered]@{ name = 'guestagent-kit'; version = $KitVersion; script_sha256 = $ScriptSha; mode = 'manual' }
            vm = [ordered]@{ host = $Host_; computer_name = $env:COMPUTERNAME }
            collected_at = $started
            environment = [ordered]@{ language_mode = $LanguageMode }
            limits = [ordered]@{ per_file_bytes = $PerFileBytes; total_bytes = $TotalBytes }
            steps = $steps; pending = @(); artifacts = $arts }
        New-Item -ItemType File -Path (Join-Path $Stage 'manifest.json') -Value (ConvertTo-Json -InputObject $manifest -Depth 6) -Force | Out-Null
        try {
            Compress-Archive -Path (Join-Path $Stage '*') -DestinationPath $OutFile -Force
            Remove-Item -LiteralPath $Stage -Recurse -Force -ErrorAction SilentlyContinue
            Write-Host ('Partial bundle written: {0}' -f $OutFile)
        } catch {
            # Compress-Archive may itself be held to ConstrainedLanguage: the folder is the bundle then.
            Write-Warning ('Could not zip it ({0}); the partial bundle is the folder {1}' -f $_.Exception.Message, $Stage)
        }
        exit 0
    }
}

# ------------------------------------------------------------------------------------------------ output
$Utf8 = New-Object System.Text.UTF8Encoding $false
$Clock = [Diagnostics.Stopwatch]::StartNew()
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
    $script:CollectLog.Add(('{0} {1}' -f (Get-UtcStamp), $Text)) | Out-Null
    if ($Stream) { Write-Line ('GAKIT LOG ' + ($Text -replace '[\r\n]+', ' ')) } else { Write-Host $Text }
}

function Get-ErrorText($Record) {
    # The innermost message: a .NET method's exception arrives wrapped in MethodInvocationException.
    $ex = $Record
    if ($ex -is [Management.Automation.ErrorRecord]) { $ex = $ex.Exception }
    while ($ex -is [Management.Automation.MethodInvocationException] -and $ex.InnerException) { $ex = $ex.InnerException }
    ($ex.Message -replace '[\r\n]+', ' ').Trim()
}

function Test-Deadline { $Clock.Elapsed.TotalSeconds -ge $DeadlineSec }

# ------------------------------------------------------------------------------------------------ staging
# The bundle is a folder while it is collected: every file is written there as soon as it is made, and manifest.json
# is rewritten after every step with "status": "partial". A collection stopped anywhere (Ctrl-C, a killed process,
# a reboot) leaves that folder as a valid partial bundle: kit.open_bundle opens it and says what is missing. Only
# the end zips it (and, over WinRM, streams the zip).
Add-Type -AssemblyName System.IO.Compression
Add-Type -AssemblyName System.IO.Compression.FileSystem

$script:CollectLog = New-Object System.Collections.ArrayList
$script:Artifacts = New-Object System.Collections.ArrayList
$script:Steps = New-Object System.Collections.ArrayList
$script:Pending = New-Object System.Collections.ArrayList
foreach ($s in $Plan) { $script:Pending.Add($s) | Out-Null }
$script:Used = [long]0
$script:Env = [ordered]@{ language_mode = $LanguageMode; ps_version = [string]$PSVersionTable.PSVersion }
$script:Os = $null
$script:VmId = $null
$script:Complete = $false
$script:Failure = $null
$script:Abandoned = 0
if ($Stream) {
    $Stage = Join-Path ([IO.Path]::GetTempPath()) ('guestagent-kit-' + [guid]::NewGuid().ToString('N', $Inv))
    $zipPath = $Stage + '.zip'
} else {
    if (-not $OutFile) {
        $OutFile = Join-Path (Get-Location).Path ('guestagent-kit-{0}-{1}.zip' -f $env:COMPUTERNAME,
            [DateTime]::UtcNow.ToString('yyyyMMddTHHmmssZ', $Inv))
    }
    $OutFile = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($OutFile)
    $Stage = $OutFile + '.partial'
    if ([IO.Directory]::Exists($Stage)) { $Stage = $OutFile + '.' + [guid]::NewGuid().ToString('N', $Inv) + '.partial' }
    $zipPath = $Stage + '.zip'
}
$collectedAt = Get-UtcStamp

function ConvertTo-Hex([byte[]]$Bytes) { ([BitConverter]::ToString($Bytes) -replace '-', '').ToLowerInvariant() }

function ConvertTo-BundlePath([string]$Full) {
    # C:\WindowsAzure\Logs\WaAppAgent.log -> C/WindowsAzure/Logs/WaAppAgent.log (docs/bundle-format.md)
    $Full.Substring(0, 1).ToUpperInvariant() + '/' + ($Full.Substring(3) -replace '\\', '/')
}

function Get-StagePath([string]$Rel) {
    $full = Join-Path $Stage ($Rel -replace '/', '\')
    [IO.Directory]::CreateDirectory([IO.Path]::GetDirectoryName($full)) | Out-Null
    $full
}

function Save-Manifest([string]$Status) {
    # Written to a temporary name, then swapped in: a collection killed while writing keeps the previous manifest.
    $m = [ordered]@{
        format = $KitFormat; format_version = 1; status = $Status
        collector = [ordered]@{ name = 'guestagent-kit'; version = $KitVersion; script_sha256 = $ScriptSha;
            mode = $(if ($Stream) { 'winrm' } else { 'manual' }); profile = $Profile_ }
        vm = [ordered]@{ host = $Host_; computer_name = $env:COMPUTERNAME; vm_id = $script:VmId; os = $script:Os;
            time_zone = [TimeZoneInfo]::Local.Id;
            utc_offset_minutes = [int][TimeZoneInfo]::Local.GetUtcOffset([DateTime]::UtcNow).TotalMinutes }
        collected_at = $collectedAt
        updated_at = Get-UtcStamp
        limits = [ordered]@{ per_file_bytes = $PerFileBytes; total_bytes = $TotalBytes; command_timeout_s = $CommandTimeoutSec;
            cim_timeout_s = $CimTimeoutSec; deadline_s = $DeadlineSec }
        environment = $script:Env
        steps = $script:Steps.ToArray()
        pending = $script:Pending.ToArray()
        artifacts = $script:Artifacts.ToArray()
    }
    if ($Status -ne 'complete') {
        $why = $script:Failure
        if (-not $why) { $why = 'the collection had not finished when this manifest was written' }
        $m['partial_reason'] = $why
    }
    $tmp = Join-Path $Stage 'manifest.json.tmp'
    $dst = Join-Path $Stage 'manifest.json'
    [IO.File]::WriteAllBytes($tmp, $Utf8.GetBytes((ConvertTo-Json -InputObject $m -Depth 6)))
    if ([IO.File]::Exists($dst)) { [IO.File]::Replace($tmp, $dst, $null) } else { [IO.File]::Move($tmp, $dst) }
}

function Add-Record($Path, $Origin, $Status, $Size, $OriginalSize, $Sha, $Note, $Extra = $null) {
    $r = [ordered]@{ path = $Path; origin = $Origin; status = $Status; size = $Size; original_size = $OriginalSize;
        sha256 = $Sha; note = $Note }
    if ($Extra) { foreach ($k in $Extra.Keys) { $r[$k] = $Extra[$k] } }
    $script:Artifacts.Add($r) | Out-Null
}

function Add-Bytes([string]$Path, [byte[]]$Bytes, [string]$Origin, $Note = $null, $Extra = $null) {
    # Output the kit made (commands, probes): always kept, counted against the total.
    [IO.File]::WriteAllBytes((Get-StagePath $Path), $Bytes)
    $sha = [Security.Cryptography.SHA256]::Create()
    $h = ConvertTo-Hex $sha.ComputeHash($Bytes)
    $script:Used += $Bytes.Length
    Add-Record $Path $Origin 'collected' $Bytes.Length $Bytes.Length $h $Note $Extra
}

function Add-Json([string]$Path, $Object, [string]$Origin) {
    Add-Bytes $Path ($Utf8.GetBytes((ConvertTo-Json -InputObject $Object -Depth 6))) $Origin
}

function Add-File([IO.FileInfo]$File, [bool]$Must) {
    # Copy one file from the VM into the bundle: shared read, tail over the per-file cap, skipped over the total cap
    # or after the deadline. A read that fails midway removes the half-copied file and records the error.
    $rel = ConvertTo-BundlePath $File.FullName
    $origin = $File.FullName
    $len = [long]$File.Length
    $want = [Math]::Min($len, $PerFileBytes)
    if (Test-Deadline) {
        Add-Record $rel $origin 'skipped' 0 $len $null ('collection deadline of {0} s reached' -f $DeadlineSec)
        if (-not $script:Failure) { $script:Failure = ('the collection deadline of {0} s was reached' -f $DeadlineSec) }
        return
    }
    if (-not $Must -and ($script:Used + $want) -gt $TotalBytes) {
        Add-Record $rel $origin 'skipped' 0 $len $null ('total cap of {0} bytes reached' -f $TotalBytes)
        return
    }
    try {
        $fs = [IO.File]::Open($File.FullName, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]::ReadWrite -bor [IO.FileShare]::Delete)
    } catch {
        Add-Record $rel $origin 'error' 0 $len $null ('could not open: ' + (Get-ErrorText $_))
        return
    }
    $dest = Get-StagePath $rel
    $out = $null
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
        $out = [IO.File]::Open($dest, [IO.FileMode]::Create, [IO.FileAccess]::Write, [IO.FileShare]::None)
        $sha = [Security.Cryptography.SHA256]::Create()
        $buf = New-Object byte[] 1048576
        $total = [long]0
        while ($total -lt ($len - $start)) {
            $n = $fs.Read($buf, 0, [int][Math]::Min($buf.Length, ($len - $start) - $total))
            if ($n -le 0) { break }
            $out.Write($buf, 0, $n)
            $sha.TransformBlock($buf, 0, $n, $null, 0) | Out-Null
            $total += $n
        }
        $out.Dispose(); $out = $null
        [IO.File]::SetLastWriteTimeUtc($dest, $File.LastWriteTimeUtc)
        $sha.TransformFinalBlock((New-Object byte[] 0), 0, 0) | Out-Null
        $script:Used += $total
        Add-Record $rel $origin $status $total $len (ConvertTo-Hex $sha.Hash) $note
    } catch {
        if ($out) { $out.Dispose() }
        try { [IO.File]::Delete($dest) } catch { }
        Add-Record $rel $origin 'error' 0 $len $null ('could not read: ' + (Get-ErrorText $_))
    } finally { $fs.Dispose() }
}

function Add-ListingError($ErrorRecord) {
    # A folder that cannot be listed (access denied, a broken junction) is recorded, never dropped silently.
    $target = [string]$ErrorRecord.TargetObject
    $path = $target
    if ($target -match '^[A-Za-z]:\\') { $path = (ConvertTo-BundlePath $target) + '/' }
    if (-not $path) { $path = 'unknown folder' }
    Add-Record $path $target 'error' 0 0 $null ('could not list: ' + (Get-ErrorText $ErrorRecord))
}

function Get-Children([string]$Root, [string]$Filter = '*', [switch]$Recurse, [switch]$Directory) {
    if (-not [IO.Directory]::Exists($Root)) { return @() }
    $errs = $null
    $found = @(Get-ChildItem -LiteralPath $Root -Filter $Filter -File:(-not $Directory) -Directory:$Directory -Recurse:$Recurse -Force -ErrorAction SilentlyContinue -ErrorVariable errs)
    foreach ($e in @($errs)) { if ($e) { Add-ListingError $e } }
    $found
}

function Add-Present([string]$Full, [bool]$Must) {
    # A file that should be there: collected, or recorded as missing.
    if (-not [string]::IsNullOrWhiteSpace($Full) -and (Test-Path -LiteralPath $Full -PathType Leaf)) {
        Add-File (Get-Item -LiteralPath $Full -Force) $Must
    } else {
        Add-Record (ConvertTo-BundlePath $Full) $Full 'missing' 0 0 $null 'not present on the VM'
    }
}

# ------------------------------------------------------------------------------------------------ steps
function Invoke-Step([string]$Name, [scriptblock]$Body) {
    # One step of the collection: its outcome (ok, failed, timeout, skipped), error text and duration go to the
    # manifest, which is saved after every step; a failing step never stops the next one.
    $started = Get-UtcStamp
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $status = 'ok'; $err = $null
    if (Test-Deadline) {
        $status = 'skipped'; $err = ('the collection deadline of {0} s was reached' -f $DeadlineSec)
        if (-not $script:Failure) { $script:Failure = $err }
    } else {
        Write-Log ('step: ' + $Name)
        try { $null = & $Body }
        catch {
            $ex = $_.Exception
            while ($ex -is [Management.Automation.MethodInvocationException] -and $ex.InnerException) { $ex = $ex.InnerException }
            if ($ex -is [TimeoutException]) { $status = 'timeout' } else { $status = 'failed' }
            $err = Get-ErrorText $_
        }
    }
    $script:Steps.Add([ordered]@{ step = $Name; status = $status; error = $err; started = $started;
        duration_ms = [Math]::Round($sw.Elapsed.TotalMilliseconds, 1) }) | Out-Null
    $script:Pending.Remove($Name) | Out-Null
    if ($status -ne 'ok') { Write-Log ('step {0}: {1}: {2}' -f $Name, $status, $err) }
    Save-Manifest 'partial'
}

function Invoke-Bounded([scriptblock]$Body, [object[]]$Arguments = @(), [int]$TimeoutSec = $CimTimeoutSec) {
    # Runs $Body in a runspace of its own and waits at most $TimeoutSec: a WMI provider or a cmdlet that hangs is
    # stopped and abandoned, and the collection goes on. $Body sees only its arguments, not this script.
    $rs = [Management.Automation.Runspaces.RunspaceFactory]::CreateRunspace()
    $rs.Open()
    $rs.SessionStateProxy.SetVariable('ErrorActionPreference', 'Stop')  # as in this script: errors end the step
    $ps = [PowerShell]::Create()
    $ps.Runspace = $rs
    $done = $false
    try {
        $null = $ps.AddScript([string]$Body)  # the text inside the braces; a param() block stays first
        foreach ($a in $Arguments) { $null = $ps.AddArgument($a) }
        $h = $ps.BeginInvoke()
        if (-not $h.AsyncWaitHandle.WaitOne($TimeoutSec * 1000)) {
            $null = $ps.BeginStop($null, $null)
            $script:Abandoned += 1
            throw (New-Object TimeoutException ('did not finish within {0} s; stopped' -f $TimeoutSec))
        }
        $done = $true
        $out = $ps.EndInvoke($h)
        , @(foreach ($o in $out) { $o })
    } finally { if ($done) { $ps.Dispose(); $rs.Dispose() } }
}

function Invoke-Native([string]$Exe, [string]$Arguments, [int]$TimeoutSec = $CommandTimeoutSec) {
    # Runs a console program and returns its stdout bytes exactly as printed, with the console code page they are
    # in. A program still running after $TimeoutSec is killed.
    $psi = New-Object Diagnostics.ProcessStartInfo
    $psi.FileName = Join-Path $env:SystemRoot ('System32\' + $Exe)
    $psi.Arguments = $Arguments
    $psi.UseShellExecute = $false
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.CreateNoWindow = $true
    $cp = $null; $encName = $null
    try { $cp = [Console]::OutputEncoding.CodePage; $encName = [Console]::OutputEncoding.WebName } catch { $cp = $null }
    $proc = [Diagnostics.Process]::Start($psi)
    $ms = New-Object IO.MemoryStream
    $copy = $proc.StandardOutput.BaseStream.CopyToAsync($ms)
    $err = $proc.StandardError.ReadToEndAsync()
    if (-not $proc.WaitForExit($TimeoutSec * 1000)) {
        try { $proc.Kill() } catch { }
        throw (New-Object TimeoutException ('{0} {1} did not finish within {2} s; it was stopped' -f $Exe, $Arguments, $TimeoutSec))
    }
    $null = $copy.Wait(10000)
    $stderr = ''
    if ($err.Wait(10000)) { $stderr = $err.Result }
    [pscustomobject]@{ Bytes = $ms.ToArray(); ExitCode = $proc.ExitCode; StdErr = $stderr; CodePage = $cp;
        Encoding = $encName }
}

function Add-Native([string]$Path, [string]$Exe, [string]$Arguments, [string]$Origin) {
    # The output is stored byte for byte; the manifest entry names the console code page it is in.
    try { $r = Invoke-Native $Exe $Arguments }
    catch { Add-Record $Path $Origin 'error' 0 0 $null (Get-ErrorText $_); throw }
    $note = $null
    if ($r.ExitCode -ne 0) { $note = ('exit code {0}: {1}' -f $r.ExitCode, ([string]$r.StdErr).Trim()) }
    Add-Bytes $Path $r.Bytes $Origin $note ([ordered]@{ code_page = $r.CodePage; encoding = $r.Encoding })
    if ($r.ExitCode -ne 0) { throw $note }
}

function Add-Collected([string]$Path, [string]$Origin, [scriptblock]$Body, [object[]]$Arguments = @()) {
    try { $items = Invoke-Bounded $Body $Arguments $CimTimeoutSec }
    catch { Add-Record $Path $Origin 'error' 0 0 $null (Get-ErrorText $_); throw }
    Add-Json $Path $items $Origin
}

$NetRouteBody = {
    Get-NetRoute -ErrorAction Stop | Select-Object DestinationPrefix, NextHop, RouteMetric, InterfaceMetric,
        ifIndex, InterfaceAlias, @{n = 'AddressFamily'; e = { "$($_.AddressFamily)" } },
        @{n = 'Protocol'; e = { "$($_.Protocol)" } }, @{n = 'Store'; e = { "$($_.Store)" } },
        @{n = 'State'; e = { "$($_.State)" } }
}

$NetIPAddressBody = {
    Get-NetIPAddress -ErrorAction Stop | Select-Object IPAddress, PrefixLength, InterfaceIndex, InterfaceAlias,
        @{n = 'AddressFamily'; e = { "$($_.AddressFamily)" } }, @{n = 'PrefixOrigin'; e = { "$($_.PrefixOrigin)" } },
        @{n = 'SuffixOrigin'; e = { "$($_.SuffixOrigin)" } }, SkipAsSource,
        @{n = 'AddressState'; e = { "$($_.AddressState)" } }
}

$ServicesBody = {
    param([string[]]$Names, [int]$CimTimeoutSec)
    foreach ($name in $Names) {
        $svc = Get-Service -Name $name -ErrorAction SilentlyContinue
        if (-not $svc) {
            [ordered]@{ Name = $name; DisplayName = $null; Status = 'NotFound'; StartType = $null; ProcessId = $null;
                PathName = $null; FileVersion = $null }
            continue
        }
        $cim = Get-CimInstance -ClassName Win32_Service -Filter ("Name='{0}'" -f $name) -OperationTimeoutSec $CimTimeoutSec -ErrorAction SilentlyContinue
        $path = $null; $procId = $null; $ver = $null
        if ($cim) {
            # PathName may be empty or unquoted with arguments: never Test-Path an empty string (it throws).
            $path = ([string]$cim.PathName).Trim()
            if ($path.StartsWith('"')) {
                $q = $path.IndexOf('"', 1)
                if ($q -gt 1) { $path = $path.Substring(1, $q - 1) } else { $path = $path.Trim('"') }
            }
            if (-not $path) { $path = $null }
            $procId = [int]$cim.ProcessId
            if ($path -and (Test-Path -LiteralPath $path -PathType Leaf)) {
                try { $ver = (Get-Item -LiteralPath $path -Force).VersionInfo.FileVersion } catch { $ver = $null }
            }
        }
        $start = $null
        if ($svc.PSObject.Properties.Name -contains 'StartType') { $start = [string]$svc.StartType }
        elseif ($cim) { $start = [string]$cim.StartMode }
        [ordered]@{ Name = $svc.Name; DisplayName = $svc.DisplayName; Status = [string]$svc.Status; StartType = $start;
            ProcessId = $procId; PathName = $path; FileVersion = $ver }
    }
}

$FirewallBody = {
    foreach ($r in @(Get-NetFirewallRule -Enabled True -Direction Outbound -Action Block -ErrorAction SilentlyContinue)) {
        $af = Get-NetFirewallAddressFilter -AssociatedNetFirewallRule $r
        $pf = Get-NetFirewallPortFilter -AssociatedNetFirewallRule $r
        $app = Get-NetFirewallApplicationFilter -AssociatedNetFirewallRule $r
        [ordered]@{ Name = $r.Name; DisplayName = $r.DisplayName; Enabled = $true;
            Direction = [string]$r.Direction; Action = [string]$r.Action; Profile = [string]$r.Profile;
            PolicyStoreSource = [string]$r.PolicyStoreSource; Protocol = [string]$pf.Protocol;
            RemoteAddress = @($af.RemoteAddress | ForEach-Object { [string]$_ });
            RemotePort = @($pf.RemotePort | ForEach-Object { [string]$_ });
            LocalPort = @($pf.LocalPort | ForEach-Object { [string]$_ }); Program = [string]$app.Program }
    }
}

$AppLockerBody = {
    # Enforced AppLocker rule collections put scripts in ConstrainedLanguage mode; the Application Identity
    # service must run for AppLocker to enforce anything.
    $svc = Get-Service -Name AppIDSvc -ErrorAction SilentlyContinue
    $state = [ordered]@{ appid_service = $(if ($svc) { [string]$svc.Status } else { 'NotFound' }); rule_collections = @() }
    if (Get-Command -Name Get-AppLockerPolicy -ErrorAction SilentlyContinue) {
        $x = [xml](Get-AppLockerPolicy -Effective -Xml)
        $state.rule_collections = @(foreach ($c in @($x.AppLockerPolicy.RuleCollection)) {
            if ($c) { [ordered]@{ type = [string]$c.Type; enforcement = [string]$c.EnforcementMode; rules = @($c.ChildNodes).Count } }
        })
    } else { $state['note'] = 'Get-AppLockerPolicy is not available' }
    $state
}

$HciNicBody = { [bool](Get-NetAdapter -Name 'AZSHCI_GUEST-IMDS_DO_NOT_MODIFY' -ErrorAction SilentlyContinue) }

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

# ------------------------------------------------------------------------------------------------ the end
function New-BundleZip([string]$Dest) {
    # The staging folder as a zip, forward-slash entry names, manifest.json included.
    $root = [IO.Path]::GetFullPath($Stage).TrimEnd('\') + '\'
    $fs = [IO.File]::Open($Dest, [IO.FileMode]::Create, [IO.FileAccess]::ReadWrite, [IO.FileShare]::None)
    try {
        $zip = New-Object IO.Compression.ZipArchive($fs, [IO.Compression.ZipArchiveMode]::Create)
        try {
            # .NET only (no cmdlets): this also runs while PowerShell is stopping the script after Ctrl-C
            foreach ($full in [IO.Directory]::GetFiles($Stage, '*', [IO.SearchOption]::AllDirectories)) {
                if ($full.EndsWith('.tmp')) { continue }
                $e = $zip.CreateEntry(($full.Substring($root.Length) -replace '\\', '/'), [IO.Compression.CompressionLevel]::Optimal)
                $e.LastWriteTime = [DateTimeOffset][IO.File]::GetLastWriteTimeUtc($full)
                $out = $e.Open()
                $in = [IO.File]::OpenRead($full)
                try { $in.CopyTo($out) } finally { $in.Dispose(); $out.Dispose() }
            }
        } finally { $zip.Dispose() }
    } finally { $fs.Dispose() }
}

function Complete-Bundle {
    # Runs whatever happened before (also after Ctrl-C: PowerShell runs finally blocks when a script is stopped).
    $status = $(if ($script:Complete -and -not $script:Failure) { 'complete' } else { 'partial' })
    if (-not $script:Complete -and -not $script:Failure) {
        $script:Failure = 'the collection was stopped before it finished (Ctrl-C, a stop signal or an error)'
    }
    Add-Bytes 'collect.log' ($Utf8.GetBytes((($script:CollectLog.ToArray()) -join "`r`n") + "`r`n")) 'collector log'
    Save-Manifest $status
    New-BundleZip $zipPath
    $zs = [IO.File]::OpenRead($zipPath)
    try { $hash = ConvertTo-Hex ([Security.Cryptography.SHA256]::Create().ComputeHash($zs)); $length = $zs.Length }
    finally { $zs.Dispose() }
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
        if ([IO.File]::Exists($OutFile)) { [IO.File]::Delete($OutFile) }
        [IO.File]::Move($zipPath, $OutFile)
        Write-Host ('Bundle written ({0}): {1} ({2} bytes, SHA-256 {3})' -f $status, $OutFile, $length, $hash)
    }
}

# ------------------------------------------------------------------------------------------------ main
$oldOutEnc = $null
$exit = 0
$logs = 'C:\WindowsAzure\Logs'
$pkgs = 'C:\Packages\Plugins'
try {
    [IO.Directory]::CreateDirectory($Stage) | Out-Null
    if ($Stream) { Write-Line ('GAKIT BEGIN {0}' -f $ScriptVersion) }
    else { Write-Host ('Collecting into {0} (if stopped, that folder is a partial bundle)' -f $Stage) }
    try { $oldOutEnc = [Console]::OutputEncoding; [Console]::OutputEncoding = $Utf8 } catch { $oldOutEnc = $null }
    Save-Manifest 'partial'

    Invoke-Step 'environment' {
        $script:Env['culture'] = [Globalization.CultureInfo]::CurrentCulture.Name
        $script:Env['ui_culture'] = [Globalization.CultureInfo]::CurrentUICulture.Name
        $script:Env['console_code_page'] = [Console]::OutputEncoding.CodePage
        $script:Env['oem_code_page'] = [Globalization.CultureInfo]::CurrentCulture.TextInfo.OEMCodePage
        $script:Env['ansi_code_page'] = [Globalization.CultureInfo]::CurrentCulture.TextInfo.ANSICodePage
        $c = Get-CimInstance -ClassName Win32_OperatingSystem -OperationTimeoutSec $CimTimeoutSec
        $script:Os = ('{0} {1}' -f ([string]$c.Caption).Trim(), $c.Version)
    }
    Invoke-Step 'applocker' {
        $r = Invoke-Bounded $AppLockerBody @() $CimTimeoutSec
        if ($r.Count -gt 0) { $script:Env['applocker'] = $r[0] }
    }
    Invoke-Step 'route print' { Add-Native 'commands/route_print.txt' 'ROUTE.EXE' 'print' 'route print' }
    Invoke-Step 'ipconfig /all' { Add-Native 'commands/ipconfig_all.txt' 'ipconfig.exe' '/all' 'ipconfig /all' }
    Invoke-Step 'netsh winhttp show proxy' {
        Add-Native 'commands/netsh_winhttp_proxy.txt' 'netsh.exe' 'winhttp show proxy' 'netsh winhttp show proxy'
    }
    Invoke-Step 'Get-NetRoute' { Add-Collected 'commands/get_netroute.json' 'Get-NetRoute' $NetRouteBody }
    Invoke-Step 'Get-NetIPAddress' { Add-Collected 'commands/get_netipaddress.json' 'Get-NetIPAddress' $NetIPAddressBody }
    Invoke-Step 'services' {
        $names = [string[]]@('WindowsAzureGuestAgent', 'RdAgent', 'WindowsAzureTelemetryService')
        $svcArgs = @(, $names) + @($CimTimeoutSec)
        Add-Collected 'commands/services.json' 'Get-Service, Win32_Service' $ServicesBody $svcArgs
    }
    Invoke-Step 'firewall rules' {
        Add-Collected 'commands/firewall_rules.json' 'Get-NetFirewallRule -Enabled True -Direction Outbound -Action Block' $FirewallBody
    }

    Invoke-Step 'probes: tcp' {
        $tcp = New-Object System.Collections.ArrayList
        foreach ($t in @(@('168.63.129.16', 80), @('168.63.129.16', 32526), @('169.254.169.254', 80))) {
            for ($i = 1; $i -le $ProbeAttempts; $i++) { $tcp.Add((Test-Tcp $t[0] $t[1] $i)) | Out-Null }
        }
        Add-Json 'probes/tcp.json' $tcp.ToArray() 'probes/tcp.json'
    }
    $md = @{ Metadata = 'true' }
    Invoke-Step 'probes: imds instance' {
        $inst = Invoke-Probe 'http://169.254.169.254/metadata/instance?api-version=2021-02-01' $md
        Add-Json 'probes/imds_instance.json' $inst 'probes/imds_instance.json'
        if ($inst.status -eq 200) {
            try { $script:VmId = ($inst.body | ConvertFrom-Json).compute.vmId } catch { $script:VmId = $null }  # not JSON: a proxy answered
        }
    }
    Invoke-Step 'probes: imds versions' {
        Add-Json 'probes/imds_versions.json' (Invoke-Probe 'http://169.254.169.254/metadata/versions' $md) 'probes/imds_versions.json'
    }
    Invoke-Step 'probes: imds attested' {
        # Azure Stack HCI VMs with legacy OS support reach the host's attestation service through the
        # AZSHCI_GUEST-IMDS_DO_NOT_MODIFY NIC at 169.254.169.253 ("Azure verification for VMs"); Azure VMs use IMDS.
        $attHost = '169.254.169.254'; $attVer = '2020-09-01'
        $hci = $false
        try { $r = Invoke-Bounded $HciNicBody @() $CimTimeoutSec; $hci = ($r.Count -gt 0 -and [bool]$r[0]) } catch { $hci = $false }
        if ($hci) { $attHost = '169.254.169.253'; $attVer = '2018-10-01' }
        $att = Invoke-Probe ('http://{0}/metadata/attested/document?api-version={1}&nonce={2}' -f $attHost, $attVer, $Nonce) $md
        $att['nonce'] = $Nonce
        Add-Json 'probes/imds_attested.json' $att 'probes/imds_attested.json'
    }
    Invoke-Step 'probes: wireserver versions' {
        $ws = Invoke-Probe 'http://168.63.129.16/?comp=versions' @{}
        Add-Json 'probes/wireserver_versions.json' $ws 'probes/wireserver_versions.json'
        if ($null -ne $ws.status) { Add-Bytes 'probes/wireserver_versions.xml' ($Utf8.GetBytes([string]$ws.body)) 'probes/wireserver_versions.xml' }
    }

    if ($Profile_ -eq 'probe') {
        Write-Log 'profile probe: the network commands and probes only, no files'
    } else {
        Invoke-Step 'files: agent logs' {
            foreach ($name in @('WaAppAgent.log', 'TransparentInstaller.log')) { Add-Present (Join-Path $logs $name) $true }
            foreach ($f in (Get-Children (Join-Path $logs 'AggregateStatus') 'aggregatestatus*.json')) { Add-File $f $true }
        }
        Invoke-Step 'files: extension state' {
            foreach ($ext in (Get-Children $pkgs -Directory)) {
                foreach ($ver in (Get-Children $ext.FullName -Directory)) {
                    foreach ($n in @('HandlerManifest.json', 'HandlerEnvironment.json')) {
                        $f = Join-Path $ver.FullName $n
                        if ([IO.File]::Exists($f)) { Add-File (Get-Item -LiteralPath $f -Force) $true }
                    }
                    foreach ($f in (Get-Children (Join-Path $ver.FullName 'Status') '*.status')) { Add-File $f $true }
                    foreach ($f in (Get-Children (Join-Path $ver.FullName 'Status') 'HeartBeat.Json')) { Add-File $f $true }
                    foreach ($f in (Get-Children (Join-Path $ver.FullName 'RuntimeSettings') '*.settings')) { Add-File $f $true }
                }
            }
        }
        Invoke-Step 'files: extension logs' {
            foreach ($f in (Get-Children (Join-Path $logs 'Plugins') '*' -Recurse | Sort-Object LastWriteTimeUtc -Descending)) {
                Add-File $f $false
            }
            $t = Join-Path $logs 'Telemetry.log'
            if ([IO.File]::Exists($t)) { Add-File (Get-Item -LiteralPath $t -Force) $false }
        }
        Invoke-Step 'files: rotated agent logs' {
            foreach ($f in (Get-Children $logs 'WaAppAgent*.log' | Where-Object { $_.Name -ne 'WaAppAgent.log' } |
                    Sort-Object LastWriteTimeUtc -Descending)) { Add-File $f $false }
        }
        Invoke-Step 'files: event logs' {
            # wevtutil epl: the last $EventDays days of each channel, as .evtx (kit.parse.evtx reads them); an
            # export over $EventBytes is dropped and recorded, a channel this VM does not have is recorded missing.
            $window = [long]$EventDays * 86400000
            $query = '*[System[TimeCreated[timediff(@SystemTime) <= ' + $window.ToString([Globalization.CultureInfo]::InvariantCulture) + ']]]'
            foreach ($ch in $EventChannels) {
                $rel = 'events/' + ($ch -replace '[\\/ ]', '_') + '.evtx'
                $dest = (Get-StagePath $rel) + '.export'  # in the staging folder
                $r = Invoke-Native 'wevtutil.exe' ('epl "' + $ch + '" "' + $dest + '" "/q:' + $query + '" /ow:true')
                if ($r.ExitCode -ne 0 -or -not [IO.File]::Exists($dest)) {
                    if ([IO.File]::Exists($dest)) { [IO.File]::Delete($dest) }  # a half-written export
                    Add-Record $rel $ch 'missing' 0 0 $null ('wevtutil epl: ' + ([string]$r.StdErr).Trim())
                    continue
                }
                $len = (Get-Item -LiteralPath $dest -Force).Length
                if ($len -gt $EventBytes) {
                    [IO.File]::Delete($dest)
                    Add-Record $rel $ch 'skipped' 0 $len $null ('export over the event cap of ' +
                        $EventBytes.ToString([Globalization.CultureInfo]::InvariantCulture) + ' bytes')
                    continue
                }
                Add-Bytes $rel ([IO.File]::ReadAllBytes($dest)) ('wevtutil epl ' + $ch)
                [IO.File]::Delete($dest)
            }
        }
    }
    $script:Complete = $true
} catch {
    # Something outside every step failed: what was collected is still sent, marked partial.
    $script:Failure = ('{0} (line {1})' -f (Get-ErrorText $_), $_.InvocationInfo.ScriptLineNumber)
    Write-Log ('error: ' + $script:Failure)
} finally {
    try {
        Complete-Bundle
    } catch {
        $exit = 1
        $msg = ('{0} (line {1})' -f (Get-ErrorText $_), $_.InvocationInfo.ScriptLineNumber)
        if ($Stream) { Write-Line ('GAKIT FAIL ' + ($msg -replace '[\r\n]+', ' ')) }
        else { Write-Host ('The bundle could not be written; the partial bundle folder stays at {0}' -f $Stage) }
        [Console]::Error.WriteLine($msg)
    }
    if ($oldOutEnc) { try { [Console]::OutputEncoding = $oldOutEnc } catch { } }
    if ([IO.File]::Exists($zipPath)) { try { [IO.File]::Delete($zipPath) } catch { } }
    if ($exit -eq 0 -and $Stage -and (Test-Path -LiteralPath $Stage)) { Remove-Item -LiteralPath $Stage -Recurse -Force -ErrorAction SilentlyContinue }
}
if ($Stream -and $script:Abandoned -gt 0) {
    # A runspace stopped at its time limit may still be stuck in a provider call; over WinRM nothing else runs in
    # this process, so end it for sure and let the client see the exit code.
    [Environment]::Exit($exit)
}
exit $exit
