// The install/ recipes: each opens with a comment saying what it is; the YAML parses (Debian's
// PyYAML) into the objects Compose and Kubernetes expect; every NC_* variable they set is one
// the agent really reads (its --help lists them); the container copies the executable by the
// name the build and the cloud use.
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_fixtures/assert.ts";
import { downloadName } from "../../src/shared/downloads.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FILES = ["nanodems-agent.service", "Containerfile", "compose.yaml", "kubernetes.yaml"];

async function roleHelp(role: "agent" | "cloud"): Promise<string> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}src/main.ts`, role, "--help"],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(r.stdout);
}

async function yamlDocs(path: string): Promise<Record<string, unknown>[]> {
  const r = await new Deno.Command("/usr/bin/python3", {
    args: [
      "-c",
      "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1]))]))",
      path,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
  return JSON.parse(new TextDecoder().decode(r.stdout));
}

/** Each file opens with a comment header and sets only NC_* variables `role` reads. */
async function checkRecipes(role: "agent" | "cloud", files: string[]): Promise<void> {
  const help = await roleHelp(role);
  for (const f of files) {
    const text = await Deno.readTextFile(`${ROOT}install/${f}`);
    assert(text.startsWith("# "), `${f} must open with a comment header`);
    for (const v of new Set(text.match(/\bNC_[A-Z_]+\b/g) ?? [])) {
      assertStringIncludes(help, v, `${f} uses ${v}, which the ${role} does not read`);
    }
  }
}

Deno.test("install/: comment headers, and only variables the agent reads", async () => {
  await checkRecipes("agent", FILES);
});

Deno.test("install/Containerfile copies the executable the build lays out", async () => {
  const text = await Deno.readTextFile(`${ROOT}install/Containerfile`);
  const name = downloadName("agent", { os: "linux", arch: "x86_64" });
  assertStringIncludes(
    text.replace("${ARCH}", "x86_64"),
    `COPY out/downloads/${name} /usr/local/bin/connector-agent`,
  );
  assertStringIncludes(text, "enroll --if-needed && exec /usr/local/bin/connector-agent run");
});

Deno.test("install/compose.yaml and kubernetes.yaml parse into what their tools expect", async () => {
  const [compose] = await yamlDocs(`${ROOT}install/compose.yaml`);
  const svc = (compose.services as Record<string, Record<string, unknown>>)["nanodems-agent"];
  assertEquals(svc.restart, "always");
  assertEquals(svc.secrets, ["enroll-token"]);
  assertEquals(svc.volumes, ["agent-state:/var/lib/nanodems-agent"]);

  const docs = await yamlDocs(`${ROOT}install/kubernetes.yaml`);
  assertEquals(docs.map((d) => d.kind), ["Secret", "PersistentVolumeClaim", "Deployment"]);
  // deno-lint-ignore no-explicit-any
  const dep = docs[2] as any;
  assertEquals(dep.spec.replicas, 1);
  assertEquals(dep.spec.strategy.type, "Recreate");
  const c = dep.spec.template.spec.containers[0];
  const env = Object.fromEntries(
    c.env.map((e: { name: string; value: string }) => [e.name, e.value]),
  );
  assertEquals(env.NC_STATE_DIR, "/var/lib/nanodems-agent");
  const mounts = Object.fromEntries(
    c.volumeMounts.map((m: { name: string; mountPath: string }) => [m.name, m.mountPath]),
  );
  assertEquals(mounts.state, "/var/lib/nanodems-agent");
  assertEquals(`${mounts.enroll}/enroll-token`, env.NC_ENROLL_TOKEN_FILE);
  const vols = dep.spec.template.spec.volumes;
  assertEquals(
    vols.find((v: { name: string }) => v.name === "state").persistentVolumeClaim.claimName,
    docs[1].metadata && (docs[1].metadata as { name: string }).name,
  );
  assertEquals(
    vols.find((v: { name: string }) => v.name === "enroll").secret.secretName,
    (docs[0].metadata as { name: string }).name,
  );
});

// The cloud's recipes: its systemd unit (systemd's own verifier and security audit, offline),
// its container, and the two-node compose file with MongoDB.
const CLOUD_FILES = ["connector-cloud.service", "Containerfile.cloud", "compose.ha.yaml"];

async function analyze(args: string[]) {
  const r = await new Deno.Command("systemd-analyze", { args, stdout: "piped", stderr: "piped" })
    .output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

Deno.test("install/ cloud files: comment headers, and only variables the cloud reads", async () => {
  await checkRecipes("cloud", CLOUD_FILES);
});

Deno.test("install/connector-cloud.service: secrets from EnvironmentFile, verified and hardened", async () => {
  const text = await Deno.readTextFile(`${ROOT}install/connector-cloud.service`);
  const lines = text.split("\n");
  for (
    const line of [
      "EnvironmentFile=/etc/nanodems/cloud.env",
      "ExecStart=/usr/local/bin/connector-cloud",
      "Restart=always",
      "StateDirectory=nanodems",
      "StateDirectoryMode=0700",
      "UMask=0077",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "CapabilityBoundingSet=",
      "WantedBy=multi-user.target",
    ]
  ) assert(lines.includes(line), `missing ${line}`);
  // Nothing secret (or anything at all) on the command line the process list shows.
  const exec = lines.filter((l) => l.startsWith("ExecStart="));
  assertEquals(exec, ["ExecStart=/usr/local/bin/connector-cloud"]);
  assert(
    !/^Environment=.*(STORE|KEY|SECRET|PASSWORD|mongodb)/im.test(text),
    "secret in Environment=",
  );
  assert(!/^MemoryDenyWriteExecute=/m.test(text), "V8's JIT needs write-then-execute pages");

  const dir = await Deno.makeTempDir();
  try {
    const bin = `${dir}/connector-cloud`;
    await Deno.writeTextFile(bin, "#!/bin/sh\n", { mode: 0o755 });
    const unit = `${dir}/connector-cloud.service`;
    await Deno.writeTextFile(
      unit,
      text.replace("ExecStart=/usr/local/bin/connector-cloud", `ExecStart=${bin}`),
    );
    const v = await analyze(["verify", unit]);
    assertEquals(v.code, 0, v.err);
    assertEquals(v.err.trim(), "", "systemd-analyze verify warned");
    const s = await analyze(["security", "--offline=yes", unit]);
    const m = /Overall exposure level for connector-cloud\.service: ([\d.]+)/.exec(s.out + s.err);
    assert(m, s.out + s.err);
    assert(Number(m[1]) <= 4.0, `exposure ${m[1]} (expected OK, at most 4.0)`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("install/Containerfile.cloud copies the executable deno task compile builds", async () => {
  const text = await Deno.readTextFile(`${ROOT}install/Containerfile.cloud`);
  const compile = await Deno.readTextFile(`${ROOT}build/compile.ts`);
  assertMatch(compile, /role: "cloud",\s*name: "connector-cloud",/);
  // The store's checkpoint worker is loaded by URL: the cloud's executable must carry it.
  assertStringIncludes(compile, 'workers: ["src/cloud/store/sqlite_checkpoint_worker.ts"]');
  assert((await Deno.stat(`${ROOT}src/cloud/store/sqlite_checkpoint_worker.ts`)).isFile);
  assertStringIncludes(compile, "const output = `out/${target}/${name}");
  assertStringIncludes(text, "COPY out/${TARGET}/connector-cloud /usr/local/bin/connector-cloud");
  assertStringIncludes(text, 'ENTRYPOINT ["/usr/local/bin/connector-cloud"]');
});

Deno.test("install/compose.ha.yaml: two nodes sharing store, secret and CAs, not certificates", async () => {
  const [compose] = await yamlDocs(`${ROOT}install/compose.ha.yaml`);
  // deno-lint-ignore no-explicit-any
  const svc = compose.services as Record<string, any>;
  assertEquals(Object.keys(svc).sort(), ["mongo", "mongo-init", "node-1", "node-2"]);
  // MongoDB as a replica set of one, initiated once before any node starts.
  assertEquals(svc.mongo.command.slice(0, 2), ["--replSet", "rs0"]);
  assertStringIncludes(svc["mongo-init"].command.join(" "), "rs.initiate(");
  assertEquals(svc["mongo-init"].depends_on.mongo.condition, "service_healthy");
  assertEquals(
    svc["node-1"].depends_on["mongo-init"].condition,
    "service_completed_successfully",
  );
  // node-2 starts after node-1 created the shared CAs.
  assertEquals(svc["node-2"].depends_on["node-1"].condition, "service_healthy");
  const ports = new Set<string>();
  for (const name of ["node-1", "node-2"]) {
    const n = svc[name];
    assertEquals(n.restart, "always");
    assertEquals(n.env_file, "./cloud.env", `${name}: the store URI comes from the env file`);
    assertEquals(n.environment.NC_NODE, name);
    assertEquals(n.environment.NC_SECRET_KEY_FILE, "/run/secrets/cloud-secret");
    assertEquals(n.secrets, ["cloud-secret"]);
    for (const k of Object.keys(n.environment)) {
      assert(!/STORE|ADMIN_API_KEY|PASSWORD/.test(k), `${name}: ${k} belongs in cloud.env`);
    }
    assertEquals(n.volumes, [`${name}-data:/var/lib/nanodems`, "cloud-ca:/var/lib/nanodems/ca"]);
    for (const p of n.ports) {
      const host = String(p).split(":")[0];
      assert(!ports.has(host), `host port ${host} published twice`);
      ports.add(host);
    }
  }
  assertEquals(compose.secrets, { "cloud-secret": { file: "./cloud-secret.key" } });
  // Node to node: each node's internal listener, named as the other node reaches it, never
  // published; agents get both control endpoints.
  for (const name of ["node-1", "node-2"]) {
    const n = svc[name];
    assertEquals(n.environment.NC_INTERNAL_LISTEN, "0.0.0.0:7443");
    assertEquals(n.environment.NC_INTERNAL_ENDPOINT, `${name}:7443`);
    assertEquals(n.environment.NC_CONTROL_ENDPOINT, "localhost:8443,localhost:8453");
    assert(!n.ports.some((p: unknown) => String(p).endsWith(":7443")), `${name} publishes 7443`);
  }
});
