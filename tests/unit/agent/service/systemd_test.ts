// The systemd unit by content, by systemd's own verifier (`systemd-analyze verify`: a syntax
// error, unknown key or missing executable fails) and by its security audit, offline; and the
// shipped install/nanodems-agent.service is exactly what `connector agent install` writes.
import { assert, assertEquals, assertStringIncludes } from "../../../_fixtures/assert.ts";
import { systemdUnit } from "../../../../src/agent/service/systemd.ts";
import { servicePaths } from "../../../../src/agent/service/paths.ts";

const ROOT = new URL("../../../../", import.meta.url).pathname;

async function analyze(args: string[]) {
  const r = await new Deno.Command("systemd-analyze", { args, stdout: "piped", stderr: "piped" })
    .output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

Deno.test("systemd unit: restart policy, state dir, hardening V8 tolerates", () => {
  const u = systemdUnit({
    exec: "/usr/local/bin/connector-agent",
    state: "/var/lib/nanodems-agent",
  });
  for (
    const line of [
      "ExecStart=/usr/local/bin/connector-agent run --state /var/lib/nanodems-agent",
      "Restart=always",
      "RestartSec=5",
      "After=network-online.target",
      "StateDirectory=nanodems-agent",
      "StateDirectoryMode=0700",
      "ReadWritePaths=/var/lib/nanodems-agent",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "PrivateTmp=yes",
      "CapabilityBoundingSet=",
      "UMask=0077",
      "WantedBy=multi-user.target",
    ]
  ) assert(u.split("\n").includes(line), `missing ${line}`);
  // V8's JIT needs pages that are written then executed.
  assert(!/^MemoryDenyWriteExecute=/m.test(u));
  // A state directory outside /var/lib is quoted and still writable.
  const odd = systemdUnit({ exec: "/opt/a b/agent", state: "/srv/agent state" });
  assertStringIncludes(odd, 'ExecStart="/opt/a b/agent" run --state "/srv/agent state"');
  assertStringIncludes(odd, 'ReadWritePaths="/srv/agent state"');
  assert(!odd.includes("StateDirectory="));
});

Deno.test("systemd unit: systemd-analyze verify and security (offline) accept it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const exec = `${dir}/connector-agent`;
    await Deno.writeTextFile(exec, "#!/bin/sh\n", { mode: 0o755 });
    const unit = `${dir}/nanodems-agent.service`;
    await Deno.writeTextFile(unit, systemdUnit({ exec, state: "/var/lib/nanodems-agent" }));
    const v = await analyze(["verify", unit]);
    assertEquals(v.code, 0, v.err);
    assertEquals(v.err.trim(), "", "systemd-analyze verify warned");
    // The verifier does catch mistakes (so its silence above means something).
    await Deno.writeTextFile(`${dir}/bad.service`, "[Service]\nExecStart=/nonexistent/x\n");
    assert((await analyze(["verify", `${dir}/bad.service`])).code !== 0);

    const s = await analyze(["security", "--offline=yes", unit]);
    const m = /Overall exposure level for nanodems-agent\.service: ([\d.]+)/.exec(s.out + s.err);
    assert(m, s.out + s.err);
    assert(Number(m[1]) <= 4.0, `exposure ${m[1]} (expected OK, at most 4.0)`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("install/nanodems-agent.service is the unit connector agent install writes", async () => {
  const p = servicePaths("linux");
  assertEquals(
    await Deno.readTextFile(`${ROOT}install/nanodems-agent.service`),
    systemdUnit({ exec: p.exec, state: p.state }),
  );
});
