// The install/ recipes: each opens with a comment saying what it is; the YAML parses (Debian's
// PyYAML) into the objects Compose and Kubernetes expect; every NC_* variable they set is one
// the agent really reads (its --help lists them); the container copies the executable by the
// name the build and the cloud use.
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { downloadName } from "../../src/shared/downloads.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FILES = ["nanodems-agent.service", "Containerfile", "compose.yaml", "kubernetes.yaml"];

async function agentHelp(): Promise<string> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}src/main.ts`, "agent", "--help"],
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

Deno.test("install/: comment headers, and only variables the agent reads", async () => {
  const help = await agentHelp();
  for (const f of FILES) {
    const text = await Deno.readTextFile(`${ROOT}install/${f}`);
    assert(text.startsWith("# "), `${f} must open with a comment header`);
    for (const v of new Set(text.match(/\bNC_[A-Z_]+\b/g) ?? [])) {
      assertStringIncludes(help, v, `${f} uses ${v}, which the agent does not read`);
    }
  }
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
