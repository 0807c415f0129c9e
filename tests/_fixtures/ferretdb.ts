/**
 * A real MongoDB-compatible server for tests: FerretDB v1.24.2 (the MongoDB wire protocol over
 * SQLite), the only one these machines can build (no MongoDB server package installs here).
 * {@linkcode ensureFerretDb} builds it once from the Go module proxy with the recipe in
 * `shared/notes/environment.md` (the release's generated version file is written by hand) and
 * caches the binary under `~/.cache/nanodems/ferretdb/v1.24.2/`; {@linkcode startFerretDb}
 * starts it in a temp dir on a free loopback port. Start it once per test file, not per case.
 *
 * FerretDB has no multi-document transactions, no TTL expiry and no change streams, which is
 * exactly why the MongoDB store must not depend on them. Worse, v1.24 does not apply even one
 * update atomically: its handler queries the document, then writes it back, with no lock or
 * transaction between (FerretDB issue #3040; measured here: 100 concurrent `$inc` of one
 * document leave it at 3, and 50 concurrent "set owner where owner is null" all report a
 * match). MongoDB guarantees single-document atomicity, and the store is built on that, so the
 * fixture builds FerretDB with a small patch ({@linkcode SERIALIZE_WRITES}) that runs insert,
 * update, findAndModify and delete commands one at a time: the tests then exercise MongoDB's
 * semantics. Never run production on FerretDB v1.
 * @module
 */
import * as net from "node:net";
import { restartablePorts } from "./ports.ts";

/** The FerretDB release the tests run against. */
export const FERRETDB_VERSION = "v1.24.2";

/** Names the patched build (a new patch gets a new cache directory). */
const BUILD_TAG = "serialized-writes-1";

/**
 * The patch: one process-wide mutex held by every write command, so each update's
 * query-then-write is atomic as on MongoDB. Written into FerretDB's handler package.
 */
export const SERIALIZE_WRITES = `package handler

import "sync"

// nanodemsWriteMu serializes write commands (added by the Nanodems test fixture): FerretDB
// v1.24 queries and then rewrites a document without a transaction, so concurrent updates of
// one document lose writes. MongoDB applies each single-document write atomically.
var nanodemsWriteMu sync.Mutex
`;

const WRITE_COMMANDS = ["MsgInsert", "MsgUpdate", "MsgFindAndModify", "MsgDelete"];

const MODULE = "github.com/FerretDB/FerretDB";

/** Where the built binary is cached (override the base with NC_CACHE_DIR). */
export function ferretDbBinary(): string {
  const base = Deno.env.get("NC_CACHE_DIR") ??
    `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/tmp"}/.cache`}/nanodems`;
  return `${base}/ferretdb/${FERRETDB_VERSION}-${BUILD_TAG}/ferretdb`;
}

/** The Go toolchain: on PATH, or the usual /usr/local/go install. */
function goBinary(): string | null {
  for (const dir of [...(Deno.env.get("PATH") ?? "").split(":"), "/usr/local/go/bin"]) {
    if (!dir) continue;
    try {
      if (Deno.statSync(`${dir}/go`).isFile) return `${dir}/go`;
    } catch { /* not there */ }
  }
  return null;
}

async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr).slice(-2000)}`,
    );
  }
  return text;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

let building: Promise<string> | null = null;

/**
 * Returns the path of the FerretDB binary, building it first when it is not cached (about two
 * minutes the first time). Throws naming exactly what is missing when Go is not installed.
 */
export function ensureFerretDb(log: (line: string) => void = console.error): Promise<string> {
  building ??= build(log).catch((e) => {
    building = null;
    throw e;
  });
  return building;
}

async function build(log: (line: string) => void): Promise<string> {
  const bin = ferretDbBinary();
  if (await exists(bin)) return bin;
  const go = goBinary();
  if (!go) {
    throw new Error(
      `FerretDB ${FERRETDB_VERSION} is not built (${bin}) and building it needs the Go ` +
        "toolchain (go on PATH or /usr/local/go/bin/go), which is missing",
    );
  }
  const binDir = bin.slice(0, bin.lastIndexOf("/"));
  await Deno.mkdir(binDir, { recursive: true });
  const work = await Deno.makeTempDir({ prefix: "nanodems-ferretdb-build-" });
  try {
    log(`ferretdb: downloading ${MODULE}@${FERRETDB_VERSION} from the Go module proxy`);
    await run(go, ["mod", "download", `${MODULE}@${FERRETDB_VERSION}`], work);
    const modcache = await run(go, ["env", "GOMODCACHE"], work);
    const src = `${modcache}/github.com/!ferret!d!b/!ferret!d!b@${FERRETDB_VERSION}`;
    const tree = `${work}/ferretdb-src`;
    await run("cp", ["-r", src, tree]);
    await run("chmod", ["-R", "u+w", tree]);
    // The release's version file is generated at release time; without it the binary panics.
    await Deno.writeTextFile(`${tree}/build/version/version.txt`, `${FERRETDB_VERSION}\n`);
    await patchWrites(`${tree}/internal/handler`);
    log(`ferretdb: building (about two minutes the first time) into ${bin}`);
    const tmpBin = `${binDir}/ferretdb.${Deno.pid}.tmp`;
    await run(go, ["build", "-o", tmpBin, "./cmd/ferretdb"], tree);
    await Deno.rename(tmpBin, bin); // atomic: a concurrent builder never sees half a binary
    log("ferretdb: built");
    return bin;
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/** Applies {@linkcode SERIALIZE_WRITES} to the handler package at `dir`. */
async function patchWrites(dir: string): Promise<void> {
  await Deno.writeTextFile(`${dir}/nanodems_write_lock.go`, SERIALIZE_WRITES);
  for (const name of WRITE_COMMANDS) {
    const file = `${dir}/msg_${name.slice(3).toLowerCase()}.go`;
    const src = await Deno.readTextFile(file);
    const head =
      `func (h *Handler) ${name}(connCtx context.Context, msg *wire.OpMsg) (*wire.OpMsg, error) {`;
    if (!src.includes(head)) throw new Error(`FerretDB patch: ${head} not found in ${file}`);
    await Deno.writeTextFile(
      file,
      src.replace(head, `${head}\n\tnanodemsWriteMu.Lock()\n\tdefer nanodemsWriteMu.Unlock()\n`),
    );
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** A running FerretDB. */
export interface FerretDb {
  /** `mongodb://127.0.0.1:PORT/nanodems?directConnection=true` */
  url: string;
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>;
  /** Stops the server (SIGKILL: a database host that vanishes), keeping its data directory. */
  halt(): Promise<void>;
  /** Starts the server again on the same port and data directory after {@linkcode halt}. */
  resume(): Promise<void>;
}

/** One FerretDB process on `port` over the SQLite files in `dir`. */
interface Server {
  exited: () => boolean;
  kill(signal: Deno.Signal): Promise<void>;
  stderr: Promise<string>;
}

function spawnServer(bin: string, dir: string, port: number): Server {
  const child = new Deno.Command(bin, {
    args: [
      "--handler=sqlite",
      `--sqlite-url=file:${dir}/`,
      `--listen-addr=127.0.0.1:${port}`,
      "--telemetry=disable",
      // Its debug HTTP listener defaults to the fixed 127.0.0.1:8088: two servers would clash.
      "--debug-addr=-",
      "--log-level=error",
      `--state-dir=${dir}`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text().catch(() => "");
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  return {
    exited: () => exited,
    stderr,
    async kill(signal) {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      await status;
      await stderr;
    },
  };
}

/** Waits until `port` accepts connections or the server exits; false on exit or timeout. */
async function waitListening(server: Server, port: number, ms = 30_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!server.exited() && Date.now() < deadline) {
    if (await canConnect(port)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/**
 * Starts FerretDB on a free loopback port with its SQLite files in a new temp dir (building it
 * first if needed) and waits until it accepts connections.
 */
export async function startFerretDb(): Promise<FerretDb> {
  const bin = await ensureFerretDb();
  const dir = await Deno.makeTempDir({ prefix: "nanodems-ferretdb-" });
  for (let attempt = 0;; attempt++) {
    // Below the ephemeral range: nothing else takes it while resume() restarts the server.
    const [port] = restartablePorts(1);
    let server = spawnServer(bin, dir, port);
    if (await waitListening(server, port)) {
      // Should the test file end without calling stop (a --filter that skips it), the server
      // and its files still go when this process exits.
      const onUnload = () => {
        server.kill("SIGKILL");
        try {
          Deno.removeSync(dir, { recursive: true });
        } catch { /* already gone */ }
      };
      globalThis.addEventListener("unload", onUnload);
      return {
        url: `mongodb://127.0.0.1:${port}/nanodems?directConnection=true`,
        async stop() {
          globalThis.removeEventListener("unload", onUnload);
          await server.kill("SIGTERM");
          await Deno.remove(dir, { recursive: true }).catch(() => {});
        },
        async halt() {
          await server.kill("SIGKILL");
        },
        async resume() {
          if (!server.exited()) return;
          // The port was ours a moment ago; another process taking it in between would fail
          // here with FerretDB's own message.
          for (let i = 0;; i++) {
            server = spawnServer(bin, dir, port);
            if (await waitListening(server, port)) return;
            await server.kill("SIGKILL");
            if (i >= 20) {
              throw new Error(
                `FerretDB did not restart on 127.0.0.1:${port}:\n${
                  (await server.stderr).slice(-2000)
                }`,
              );
            }
            await new Promise((r) => setTimeout(r, 250)); // the old socket may linger a moment
          }
        },
      };
    }
    await server.kill("SIGKILL");
    const err = await server.stderr;
    if (attempt >= 2) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw new Error(`FerretDB did not start on 127.0.0.1:${port}:\n${err.slice(-2000)}`);
    }
  }
}
