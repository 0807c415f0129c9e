/** Printed hints name the program the way it was started, with the options in use. */
import { assertEquals } from "../../_fixtures/assert.ts";
import { commandHint, programFor } from "../../../src/shared/invocation.ts";

const checkout = {
  execPath: "/usr/local/bin/deno",
  mainModule: "file:///home/me/connector/src/main.ts",
  cwd: "/home/me/connector",
};

Deno.test("from a checkout: deno run -A with the path relative to the working directory (absolute outside it)", () => {
  assertEquals(programFor("agent", checkout), "deno run -A src/main.ts agent");
  assertEquals(
    programFor("cloud", { ...checkout, cwd: "/home/me" }),
    "deno run -A connector/src/main.ts cloud",
  );
  assertEquals(
    programFor("tunnel", { ...checkout, cwd: "/tmp/x" }),
    "deno run -A /home/me/connector/src/main.ts tunnel",
  );
});

Deno.test("started by npx (README's first command, no deno on PATH): the hint starts with npx too", () => {
  const npx = {
    ...checkout,
    execPath: "/root/.npm/_npx/9f2/node_modules/deno/deno",
    npxDeno: "2.9.6",
  };
  assertEquals(programFor("cloud", npx), "npx -y deno@2.9.6 run -A src/main.ts cloud");
  assertEquals(
    commandHint("cloud", ["admin", "quickstart", "--password-stdin"], {}, npx),
    "npx -y deno@2.9.6 run -A src/main.ts cloud admin quickstart --password-stdin",
  );
});

Deno.test("a compiled executable is named as it is; it starts in its role", () => {
  const compiled = {
    execPath: "/opt/nanodems/connector-agent",
    mainModule: "file:///tmp/deno-compile-connector-agent/src/main.ts",
    cwd: "/",
  };
  assertEquals(programFor("agent", compiled), "connector-agent");
  assertEquals(
    commandHint("agent", ["status"], { state: "/var/lib/my agent" }, compiled),
    "connector-agent status --state '/var/lib/my agent'",
  );
  assertEquals(
    programFor("tunnel", { ...compiled, execPath: "C:\\bin\\nanodems-tunnel.exe" }),
    "nanodems-tunnel",
  );
});

Deno.test("options in use are carried over, unset ones left out", () => {
  assertEquals(
    commandHint("agent", ["run"], { state: "./st", other: undefined }, checkout),
    "deno run -A src/main.ts agent run --state ./st",
  );
});

Deno.test("a secret goes to standard input, never onto the command line", () => {
  assertEquals(
    commandHint("agent", ["enroll", "--cloud", "http://c"], {}, checkout, { token: "enr_abc" }),
    "echo enr_abc | deno run -A src/main.ts agent enroll --cloud http://c --token -",
  );
});
