// The Windows service as sc.exe commands (content only: there is no Windows here), the command
// line quoting CommandLineToArgvW reverses, and reading `sc query`.
import { assertEquals, assertStringIncludes } from "../../../_fixtures/assert.ts";
import {
  parseScQuery,
  scInstallCommands,
  scUninstallCommands,
  serviceCommandLine,
  winQuote,
} from "../../../../src/agent/service/windows.ts";
import { servicePaths } from "../../../../src/agent/service/paths.ts";

const P = servicePaths("windows", {
  ProgramData: "C:\\ProgramData",
  ProgramFiles: "C:\\Program Files",
});

Deno.test("windows: paths under Program Files and %ProgramData%\\Nanodems\\Agent", () => {
  assertEquals(P.exec, "C:\\Program Files\\Nanodems\\Agent\\connector-agent.exe");
  assertEquals(P.state, "C:\\ProgramData\\Nanodems\\Agent");
  assertEquals(P.logFile, "C:\\ProgramData\\Nanodems\\Agent\\logs\\agent.log");
});

Deno.test("windows: the service command line runs the agent in service mode with its paths", () => {
  assertEquals(
    serviceCommandLine(P),
    '"C:\\Program Files\\Nanodems\\Agent\\connector-agent.exe" run --service --state ' +
      "C:\\ProgramData\\Nanodems\\Agent --log-file C:\\ProgramData\\Nanodems\\Agent\\logs\\agent.log",
  );
});

Deno.test("windows: MSVC quoting (what CommandLineToArgvW reverses)", () => {
  assertEquals(winQuote("plain"), "plain");
  assertEquals(winQuote(""), '""');
  assertEquals(winQuote("a b"), '"a b"');
  assertEquals(winQuote('say "hi"'), '"say \\"hi\\""');
  assertEquals(winQuote("C:\\dir with space\\"), '"C:\\dir with space\\\\"');
  assertEquals(winQuote('a\\"b c'), '"a\\\\\\"b c"');
});

Deno.test("windows: sc create on a fresh machine; stop + config on upgrade; then start", () => {
  const fresh = scInstallCommands({ ...P, exists: false });
  assertEquals(fresh[0], [
    "sc.exe",
    "create",
    "NanodemsAgent",
    "binPath=",
    serviceCommandLine(P),
    "start=",
    "auto",
    "DisplayName=",
    "Nanodems Connector Agent",
  ]);
  assertEquals(fresh.at(-1), ["sc.exe", "start", "NanodemsAgent"]);
  const failure = fresh.find((c) => c[1] === "failure")!;
  assertStringIncludes(failure.join(" "), "actions= restart/5000");
  const upgrade = scInstallCommands({ ...P, exists: true });
  assertEquals(upgrade[0], ["sc.exe", "stop", "NanodemsAgent"]);
  assertEquals(upgrade[1].slice(0, 5), [
    "sc.exe",
    "config",
    "NanodemsAgent",
    "binPath=",
    serviceCommandLine(P),
  ]);
  assertEquals(upgrade.at(-1), ["sc.exe", "start", "NanodemsAgent"]);
  assertEquals(scUninstallCommands(), [["sc.exe", "stop", "NanodemsAgent"], [
    "sc.exe",
    "delete",
    "NanodemsAgent",
  ]]);
});

Deno.test("windows: sc query output", () => {
  const text = `
SERVICE_NAME: NanodemsAgent
        TYPE               : 10  WIN32_OWN_PROCESS
        STATE              : 4  RUNNING
                                (STOPPABLE, NOT_PAUSABLE, ACCEPTS_SHUTDOWN)
        WIN32_EXIT_CODE    : 0  (0x0)`;
  assertEquals(parseScQuery(text), "RUNNING");
  assertEquals(parseScQuery("        STATE              : 1  STOPPED "), "STOPPED");
  assertEquals(
    parseScQuery("[SC] EnumQueryServicesStatus:OpenService FAILED 1060:"),
    null,
  );
});
