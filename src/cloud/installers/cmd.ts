/**
 * The Windows installer (`GET /api/sites/{id}/installer.cmd`): a cmd script (CRLF, run as
 * Administrator) with the site's one-shot join token, the cloud URL and the agent's SHA-256
 * inside. PowerShell (Invoke-WebRequest, Get-FileHash) downloads and verifies the agent before
 * anything is written to Program Files; the state directory `%ProgramData%\Nanodems\Agent` is
 * restricted to SYSTEM and Administrators (by SID, so it works in every language) before the
 * token file is written there; enrollment reads the token from that file, which is then deleted;
 * `connector-agent install` registers and starts the `NanodemsAgent` service through sc.exe.
 * Re-running it stops the service, replaces the executable and keeps the identity. It then waits
 * (`connector-agent status --wait 30`, the same code the `.sh` installer runs) for the agent to
 * come online and open its data channel, and says "tunnels ready" or why not.
 *
 * Windows is not available where this project is built: this text is tested by content only.
 * @module
 */
import { checkInstallerInput, commentSafe, type InstallerInput } from "./input.ts";

const BODY = String.raw`
net session >nul 2>&1
if errorlevel 1 (
  echo nanodems-agent: error: run this installer as Administrator ^(right-click, Run as administrator^)
  exit /b 1
)

set "URL=%CLOUD_URL%/download/agent/windows/x86_64"
if defined NC_AGENT_DOWNLOAD_URL set "URL=%NC_AGENT_DOWNLOAD_URL%"
set "EXPECTED=%SHA256_WINDOWS_X86_64%"
if defined NC_AGENT_SHA256 set "EXPECTED=%NC_AGENT_SHA256%"
set "INSTALL_DIR=%ProgramFiles%\Nanodems\Agent"
if defined NC_INSTALL_DIR set "INSTALL_DIR=%NC_INSTALL_DIR%"
set "STATE_DIR=%ProgramData%\Nanodems\Agent"
set "EXE=%INSTALL_DIR%\connector-agent.exe"
set "DOWNLOAD=%TEMP%\nanodems-agent-%RANDOM%%RANDOM%.exe"

echo nanodems-agent: downloading the agent for windows/x86_64 from %URL%
powershell -NoProfile -ExecutionPolicy Bypass -Command "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'; [Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12; try { Invoke-WebRequest -UseBasicParsing -Uri $env:URL -OutFile $env:DOWNLOAD } catch { $m = $_.ErrorDetails.Message; try { $m = ($m | ConvertFrom-Json).message } catch {}; if (-not $m) { $m = $_.Exception.Message }; [Console]::Error.WriteLine('nanodems-agent: error: cannot download the agent: ' + $m); exit 2 }; if (-not $env:EXPECTED) { Remove-Item -LiteralPath $env:DOWNLOAD; [Console]::Error.WriteLine('nanodems-agent: error: the cloud had no agent executable for windows/x86_64 when this installer was made, so there is no checksum to verify the download against; download a fresh installer from the site page'); exit 3 }; $h = (Get-FileHash -Algorithm SHA256 -LiteralPath $env:DOWNLOAD).Hash.ToLower(); if ($h -ne $env:EXPECTED.ToLower()) { Remove-Item -LiteralPath $env:DOWNLOAD; [Console]::Error.WriteLine('nanodems-agent: error: checksum mismatch for the agent download: expected SHA-256 ' + $env:EXPECTED + ', got ' + $h + '. The download was altered or corrupted; nothing was installed'); exit 3 }; Write-Output ('nanodems-agent: checksum verified (SHA-256 ' + $h + ')')"
if errorlevel 1 exit /b 1

sc.exe query NanodemsAgent >nul 2>&1
if not errorlevel 1 (
  echo nanodems-agent: stopping the NanodemsAgent service to upgrade it
  sc.exe stop NanodemsAgent >nul 2>&1
  powershell -NoProfile -Command "try { (Get-Service NanodemsAgent).WaitForStatus('Stopped', '00:00:30') } catch {}"
)
if not exist "%INSTALL_DIR%" mkdir "%INSTALL_DIR%"
move /y "%DOWNLOAD%" "%EXE%" >nul
if errorlevel 1 (
  echo nanodems-agent: error: cannot install the agent at %EXE%
  exit /b 1
)
echo nanodems-agent: installed %EXE%

if not exist "%STATE_DIR%" mkdir "%STATE_DIR%"
icacls "%STATE_DIR%" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F >nul
if errorlevel 1 (
  echo nanodems-agent: error: cannot restrict %STATE_DIR% to SYSTEM and Administrators
  exit /b 1
)

if exist "%STATE_DIR%\agent.json" (
  echo nanodems-agent: already enrolled: keeping this agent's identity, upgrading in place
  call :keep_proxy
) else (
  call :enroll
)
if errorlevel 1 exit /b 1

rem The link status of an agent run before this one must not pass for the new agent's.
del /f /q "%STATE_DIR%\link.json" >nul 2>&1
"%EXE%" install --exec "%EXE%" --state "%STATE_DIR%"
if errorlevel 1 (
  echo nanodems-agent: error: installing the service failed ^(see the message above^)
  exit /b 1
)
rem Online, then the data channel: the agent says "tunnels ready" or why not (as installer.sh).
"%EXE%" status --state "%STATE_DIR%" --wait 30
echo nanodems-agent: done: the agent is installed and the NanodemsAgent service started
echo nanodems-agent:   status:    sc query NanodemsAgent   or   "%EXE%" status
echo nanodems-agent:   logs:      %STATE_DIR%\logs\agent.log
echo nanodems-agent:   upgrade:   run this installer again
echo nanodems-agent:   uninstall: "%EXE%" uninstall
exit /b 0

:keep_proxy
rem Run again where the way out is now a proxy: the agent keeps it, as at enrollment.
if not defined NC_PROXY if defined HTTPS_PROXY set "NC_PROXY=%HTTPS_PROXY%"
if not defined NC_PROXY exit /b 0
"%EXE%" enroll --if-needed --cloud "%CLOUD_URL%" --state "%STATE_DIR%"
if errorlevel 1 (
  echo nanodems-agent: error: the proxy in HTTPS_PROXY cannot be used ^(see the message above^)
  exit /b 1
)
exit /b 0

:enroll
rem A site whose way out is an HTTP proxy: HTTPS_PROXY is the agent's too, kept for the service.
if not defined NC_PROXY if defined HTTPS_PROXY set "NC_PROXY=%HTTPS_PROXY%"
if defined NC_PROXY echo nanodems-agent: the agent will reach the cloud through the proxy in NC_PROXY / HTTPS_PROXY ^(kept for the service^)
set "TOKEN_FILE=%STATE_DIR%\enroll-token"
rem The token is written here as text, never set as a variable that child processes inherit.
>"%TOKEN_FILE%" echo __ENROLL_TOKEN__
"%EXE%" enroll --cloud "%CLOUD_URL%" --token-file "%TOKEN_FILE%" --state "%STATE_DIR%"
set "RC=%errorlevel%"
del /f /q "%TOKEN_FILE%" >nul 2>&1
if not "%RC%"=="0" (
  echo nanodems-agent: error: enrollment failed ^(see the message above^)
  exit /b 1
)
exit /b 0
`;

/** Writes the installer script (CRLF line endings, as cmd.exe expects). */
export function installerCmd(input: InstallerInput): string {
  const i = checkInstallerInput(input);
  const sha = i.sha256({ os: "windows", arch: "x86_64" }) ?? "";
  const header = [
    "@echo off",
    `rem Nanodems Connector - agent installer for site "${
      commentSafe(i.siteName)
    }" (Windows, x86_64; ARM64 runs it emulated)`,
    `rem Made by ${i.cloudUrl} on ${new Date().toISOString()}. It carries a ONE-SHOT enrollment`,
    `rem token valid until ${
      new Date(i.expiresAt).toISOString()
    }: keep it private, delete it after use.`,
    "rem",
    "rem Run as Administrator. It downloads the agent from the cloud, verifies its SHA-256 (a",
    "rem mismatch installs nothing), installs it in %ProgramFiles%\\Nanodems\\Agent, enrolls this",
    "rem machine (the token goes through a file only SYSTEM and Administrators can read, never a",
    "rem command line, and is deleted), installs and starts the Windows service NanodemsAgent.",
    "rem State and logs: %ProgramData%\\Nanodems\\Agent. Running it again upgrades in place.",
    "rem Advanced knobs: NC_AGENT_DOWNLOAD_URL, NC_AGENT_SHA256, NC_INSTALL_DIR.",
    "setlocal EnableExtensions DisableDelayedExpansion",
    "",
    `set "CLOUD_URL=${i.cloudUrl}"`,
    `set "SHA256_WINDOWS_X86_64=${sha}"`,
  ];
  // The token appears once, in the line that writes the token file (no environment variable).
  return (header.join("\n") + "\n" + BODY.replace("__ENROLL_TOKEN__", i.token))
    .replace(/\r?\n/g, "\r\n");
}
