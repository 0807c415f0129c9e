// The launchd plist by content and through an independent plist parser (Python's plistlib;
// macOS's plutil is not available where this project is built).
import { assertEquals, assertStringIncludes } from "../../../_fixtures/assert.ts";
import { launchdPlist } from "../../../../src/agent/service/launchd.ts";
import { servicePaths } from "../../../../src/agent/service/paths.ts";

Deno.test("launchd plist: label, arguments, KeepAlive, logs — as plistlib reads it", async () => {
  const p = servicePaths("darwin");
  assertEquals(p.definition, "/Library/LaunchDaemons/com.nanodems.agent.plist");
  const xml = launchdPlist({ exec: p.exec, state: p.state, logFile: p.logFile! });
  assertStringIncludes(xml, "<!DOCTYPE plist");
  const r = await new Deno.Command("/usr/bin/python3", {
    args: [
      "-c",
      "import json, plistlib, sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = r.stdin.getWriter();
  await w.write(new TextEncoder().encode(xml));
  await w.close();
  const out = await r.output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  assertEquals(JSON.parse(new TextDecoder().decode(out.stdout)), {
    Label: "com.nanodems.agent",
    ProgramArguments: [
      "/usr/local/bin/connector-agent",
      "run",
      "--state",
      "/Library/Application Support/Nanodems/Agent",
      "--log-file",
      "/Library/Logs/Nanodems/agent.log",
    ],
    RunAtLoad: true,
    KeepAlive: true,
    ThrottleInterval: 5,
    Umask: 0o077,
    StandardOutPath: "/Library/Logs/Nanodems/agent.log",
    StandardErrorPath: "/Library/Logs/Nanodems/agent.log",
  });
});

Deno.test("launchd plist: XML special characters in paths are escaped", () => {
  const xml = launchdPlist({ exec: "/opt/a&b/<agent>", state: "/s", logFile: "/l" });
  assertStringIncludes(xml, "<string>/opt/a&amp;b/&lt;agent&gt;</string>");
});
