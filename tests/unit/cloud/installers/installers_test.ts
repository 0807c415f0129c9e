// The installers by content: the .sh is valid POSIX sh (`sh -n`), the .cmd has CRLF lines;
// both carry the token exactly once and hand it to the agent only through a file written by
// a shell builtin (never on an external program's command line); the .cmd restricts the state
// directory before writing the token there and verifies the download before installing; and
// values that are not safe to embed are refused rather than escaped.
import { assert, assertEquals, assertStringIncludes } from "../../../_fixtures/assert.ts";
import { installerSh } from "../../../../src/cloud/installers/sh.ts";
import { installerCmd } from "../../../../src/cloud/installers/cmd.ts";
import type { InstallerInput } from "../../../../src/cloud/installers/input.ts";

const TOKEN = `enr_${"A".repeat(43)}.${"ab".repeat(32)}`;
const SHA = "cd".repeat(32);
const INPUT: InstallerInput = {
  cloudUrl: "https://cloud.example.com/",
  token: TOKEN,
  expiresAt: Date.UTC(2026, 10, 24),
  siteName: 'Istanbul "HQ"\n$(reboot)',
  sha256: (p) => (p.os === "linux" && p.arch === "x86_64") || p.os === "windows" ? SHA : null,
};

function count(text: string, part: string): number {
  return text.split(part).length - 1;
}

Deno.test("installer.sh: valid sh, the token once, only via a builtin into the 0600 file", async () => {
  const sh = installerSh(INPUT);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/i.sh`, sh);
    const r = await new Deno.Command("sh", { args: ["-n", `${dir}/i.sh`], stderr: "piped" })
      .output();
    assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert(sh.startsWith("#!/bin/sh\n"));
  assertEquals(count(sh, TOKEN), 1);
  assertStringIncludes(sh, `ENROLL_TOKEN='${TOKEN}'`);
  const uses = sh.split("\n").filter((l) => l.includes("$ENROLL_TOKEN"));
  assertEquals(uses, [
    `  (umask 077 && printf '%s\\n' "$ENROLL_TOKEN" >"$TOKEN_FILE") || die "cannot write $TOKEN_FILE"`,
  ]);
  assertStringIncludes(sh, '--token-file "$TOKEN_FILE"');
  assertStringIncludes(sh, "CLOUD_URL='https://cloud.example.com'");
  assertStringIncludes(sh, `SHA256_LINUX_X86_64='${SHA}'`);
  assertStringIncludes(sh, "SHA256_LINUX_AARCH64=''  # none: the cloud has no executable");
  assertStringIncludes(sh, "  linux-aarch64) EXPECTED=$SHA256_LINUX_AARCH64 ;;");
  // The site name reaches only a comment, defanged.
  assertStringIncludes(
    sh,
    '# Nanodems Connector — agent installer for site "Istanbul ?HQ???(reboot)"',
  );
  assert(!sh.includes("$(reboot)"));
  // Verification happens before anything is written outside the temp directory.
  assert(sh.indexOf('if [ "$GOT" != "$EXPECTED" ]') < sh.indexOf('mkdir -p "$BIN_DIR"'));
  assertStringIncludes(sh, "nothing was installed");
  assertStringIncludes(sh, "NC_INSTALL_ROOT");
  assertStringIncludes(sh, "NC_AGENT_DOWNLOAD_URL");
  assertStringIncludes(sh, "NC_SERVICE_MANAGER");
  // The agent waits for itself (online, then the data channel), after a stale link.json is gone.
  assert(sh.indexOf('rm -f "$STATE_DIR/link.json"') < sh.indexOf('nohup "$BIN" run'));
  assert(sh.indexOf('rm -f "$STATE_DIR/link.json"') < sh.indexOf('"$BIN" install --manager'));
  assertStringIncludes(sh, '"$BIN" status --state "$STATE_DIR" --wait 30 || true');
});

Deno.test("installer.cmd: CRLF, the token once, via echo into a file in the restricted state dir", () => {
  const cmd = installerCmd(INPUT);
  assert(!/[^\r]\n/.test(cmd), "every line ends in CRLF");
  assert(cmd.startsWith("@echo off\r\n"));
  assertEquals(count(cmd, TOKEN), 1);
  // No variable a child process would inherit: the token is written to the file as text.
  assert(!cmd.includes("ENROLL_TOKEN"), "the token is in an environment variable");
  const uses = cmd.split("\r\n").filter((l) => l.includes(TOKEN));
  assertEquals(uses, [`>"%TOKEN_FILE%" echo ${TOKEN}`]);
  assertStringIncludes(cmd, '--token-file "%TOKEN_FILE%"');
  assertStringIncludes(cmd, 'del /f /q "%TOKEN_FILE%"');
  assertStringIncludes(cmd, `set "SHA256_WINDOWS_X86_64=${SHA}"`);
  assertStringIncludes(cmd, 'set "STATE_DIR=%ProgramData%\\Nanodems\\Agent"');
  for (const part of ["Invoke-WebRequest", "Get-FileHash -Algorithm SHA256", "net session"]) {
    assertStringIncludes(cmd, part);
  }
  // Order of execution: verify → stop an old service → install → restrict ACL → enroll → service.
  const at = (s: string) => {
    const i = cmd.indexOf(s);
    assert(i >= 0, `missing ${s}`);
    return i;
  };
  assert(at("Get-FileHash") < at('move /y "%DOWNLOAD%" "%EXE%"'));
  assert(at("sc.exe stop NanodemsAgent") < at('move /y "%DOWNLOAD%" "%EXE%"'));
  assert(at('icacls "%STATE_DIR%" /inheritance:r') < at("call :enroll"));
  assert(at("call :enroll") < at('"%EXE%" install --exec "%EXE%" --state "%STATE_DIR%"'));
  assertStringIncludes(cmd, 'if exist "%STATE_DIR%\\agent.json"');
  assertStringIncludes(cmd, "sc query NanodemsAgent");
  assertStringIncludes(cmd, "%STATE_DIR%\\logs\\agent.log");
  // A stale link.json is removed before the service starts; then the agent itself waits for
  // online and the data channel and says so (the same code installer.sh runs, tested there).
  assert(at("sc.exe stop NanodemsAgent") < at('del /f /q "%STATE_DIR%\\link.json"'));
  assert(at('del /f /q "%STATE_DIR%\\link.json"') < at('"%EXE%" install --exec'));
  assert(at('"%EXE%" install --exec') < at('"%EXE%" status --state "%STATE_DIR%" --wait 30'));
  assert(at("--wait 30") < at("nanodems-agent: done:"));
  // A site behind a proxy: HTTPS_PROXY becomes the enrollment's NC_PROXY (kept for the
  // service), by environment, never on the enroll command line.
  assert(
    at('if not defined NC_PROXY if defined HTTPS_PROXY set "NC_PROXY=%HTTPS_PROXY%"') <
      at('"%EXE%" enroll --cloud'),
  );
  assert(!cmd.includes("--proxy"), "no proxy URL on a command line");
  // Run again on an enrolled machine: the proxy is kept all the same (enroll --if-needed).
  assert(at("call :keep_proxy") < at("call :enroll"));
  assert(
    at('"%EXE%" enroll --if-needed --cloud "%CLOUD_URL%" --state "%STATE_DIR%"') <
      at("\r\n:enroll\r\n"),
  );
});

Deno.test("installers refuse values that are not safe to embed", () => {
  const bad: Partial<InstallerInput>[] = [
    { cloudUrl: "https://cloud.example.com/'; rm -rf /" },
    { cloudUrl: "https://cloud.example.com/%PATH%" },
    { cloudUrl: "ftp://cloud.example.com" },
    { token: "enr_short" },
    { token: `enr_${"A".repeat(43)}` }, // no pin
    { sha256: () => "not-a-hash" },
  ];
  for (const b of bad) {
    for (const write of [installerSh, installerCmd]) {
      let threw = false;
      try {
        write({ ...INPUT, ...b });
      } catch {
        threw = true;
      }
      assert(threw, `accepted ${JSON.stringify(b)}`);
    }
  }
});
