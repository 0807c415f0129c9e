/**
 * `connector agent enroll`: turns a join token into a running identity. It checks the cloud's
 * agent CA against the pin carried in (or beside) the token BEFORE sending the token, makes the
 * private key here (it never leaves this machine), sends only a CSR, checks that what comes back
 * chains to the pinned CA, and stores key, certificate and CA 0600.
 * The key is written (`enroll.key`, 0600) before the token is sent, and a later attempt uses it
 * again: if the answer is lost or cannot be saved, running the same command again proves the
 * same key, and the cloud hands this machine its identity again instead of "token already used".
 * A key that cannot be written stops enrollment before the token is spent.
 * Plain HTTP is accepted only to a loopback cloud (development).
 * @module
 */
import { hostname } from "node:os";
import {
  createCsr,
  generateKeyPem,
  spkiPin,
  splitPemCerts,
  verifiedBy,
} from "../shared/crypto/pki.ts";
import { parseJoinToken, parsePin } from "../shared/crypto/token.ts";
import { writeSecretFile } from "../shared/crypto/files.ts";
import { osMessage } from "../shared/os_error.ts";
import { join as joinPath } from "node:path";
import { UsageError } from "../shared/cli.ts";
import { VERSION } from "../shared/version.ts";
import { type AgentState, loadState, saveState } from "./state.ts";
import { clockSkew, skewProblem, skewWarning } from "./clock_skew.ts";
import { notTheCloud, reachFailure } from "../shared/reach_error.ts";
import { isLoopbackHost } from "../shared/loopback.ts";
import { CA_FLAG, cloudHttpClient, readCaFile } from "../shared/crypto/trust_roots.ts";
import { NO_PROXY_VALUE, parseProxyFlag, saveProxySetting } from "./proxy_setting.ts";

/** Why enrollment failed, in words for the technician. */
export class EnrollError extends Error {
  /** Creates an enrollment error. */
  constructor(message: string) {
    super(message);
    this.name = "EnrollError";
  }
}

/** Checks the cloud URL: https anywhere, http only on loopback. */
export function checkCloudUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--cloud: expected a URL like https://cloud.example.com, got "${text}"`);
  }
  if (url.protocol === "https:") return url;
  if (url.protocol === "http:" && isLoopbackHost(url.hostname)) return url;
  if (url.protocol === "http:") {
    throw new UsageError(
      `--cloud: plain http:// is allowed only to a loopback cloud (development); use https://${url.host}`,
    );
  }
  throw new UsageError(`--cloud: expected an http(s) URL, got "${text}"`);
}

/** The body of the cloud's answer (JSON) and its `Date` header. */
async function call(
  url: URL,
  init: RequestInit = {},
  client?: Deno.HttpClient,
): Promise<{ body: Record<string, unknown>; date: string | null }> {
  let res: Response;
  try {
    res = await fetch(url, {
      ...init,
      signal: AbortSignal.timeout(30_000),
      ...(client ? { client } : {}),
    } as RequestInit);
  } catch (e) {
    throw new EnrollError(
      `cannot reach the cloud at ${url.origin}: ${
        reachFailure(e, Date.now(), { caFlag: CA_FLAG })
      }`,
    );
  }
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text);
  } catch {
    // A network's sign-in page, a proxy's block page, a web server at a wrong --cloud URL.
    throw new EnrollError(
      `cannot reach the cloud at ${url.origin}: ${
        notTheCloud(res.status, res.headers.get("server"), text)
      }`,
    );
  }
  if (!res.ok) {
    throw new EnrollError(
      `the cloud refused: ${res.status} ${String(body.message ?? text.slice(0, 200))}`,
    );
  }
  return { body, date: res.headers.get("date") };
}

/** Enrolls this machine; returns the stored state. */
export async function enroll(opts: {
  cloud: string;
  token: string;
  caPin?: string;
  /** A PEM file of authorities the cloud's HTTPS certificate may chain to (`--ca-file`). */
  caFile?: string;
  /** `--proxy`: the HTTP proxy to enroll through, kept for `agent run` ("off": none). */
  proxy?: string;
  stateDir: string;
  force?: boolean;
  log?: (line: string) => void;
}): Promise<AgentState> {
  const say = opts.log ?? (() => {});
  const url = checkCloudUrl(opts.cloud);
  const join = parseJoinToken(opts.token);
  if (!join) {
    throw new UsageError("--token: expected the enrollment token from the site page (enr_…)");
  }
  const pins = opts.caPin ? [parsePin(opts.caPin)].filter((p) => p !== null) : join.pins;
  if (opts.caPin && !pins.length) {
    throw new UsageError("--ca-pin: expected sha256:<64 hex digits>");
  }
  if (!pins.length) {
    throw new UsageError(
      "the token carries no CA pin; pass --ca-pin sha256:… (shown next to the token)",
    );
  }
  if (!opts.force) await refuseIfEnrolled(opts.stateDir);
  return await obtainIdentity({
    url,
    pins,
    stateDir: opts.stateDir,
    path: "/api/agents/enroll",
    body: { token: join.token },
    caFile: opts.caFile,
    proxy: opts.proxy,
    say,
    repeat:
      "with the same token, until it expires, the cloud hands this machine its identity again",
  });
}

/** Refuses to overwrite an enrolled identity (the caller offers --force). */
export async function refuseIfEnrolled(stateDir: string): Promise<void> {
  const existing = await loadState(stateDir);
  if (existing) {
    throw new UsageError(
      `already enrolled as ${existing.agentId} (state in ${stateDir}); use --force to replace it`,
    );
  }
}

/** The key of an enrollment under way, kept in the state directory until the identity is saved. */
export const PENDING_KEY_FILE = "enroll.key";

/** An earlier attempt's key, when one was kept whole; else null. */
async function pendingKey(stateDir: string): Promise<string | null> {
  try {
    const pem = await Deno.readTextFile(joinPath(stateDir, PENDING_KEY_FILE));
    await createCsr({ keyPem: pem, commonName: "enrolling-agent" }); // usable, not torn
    return pem;
  } catch {
    return null;
  }
}

/**
 * The common second half of enrollment and claim: checks the cloud's CA against the pin BEFORE
 * sending anything secret, makes this agent's key here, sends only a CSR with `body` to `path`,
 * checks that the answer chains to the pinned CA, and stores the identity 0600.
 */
export async function obtainIdentity(o: {
  url: URL;
  /** The pinned CA(s): one, or two when the token was minted during a CA rotation. */
  pins: string[];
  stateDir: string;
  path: string;
  body: Record<string, unknown>;
  /** `--ca-file`: authorities the cloud's HTTPS certificate may chain to, besides the built-in. */
  caFile?: string;
  /** `--proxy`: the proxy URL to go through ("off" or absent: none, or the environment's). */
  proxy?: string;
  say: (line: string) => void;
  /** When the cloud answers a repeat of this request with the same identity, for the user. */
  repeat: string;
}): Promise<AgentState> {
  // The cloud's HTTPS may chain to this computer's authorities and the file's (trust_roots.ts);
  // the agent CA itself is still only what the pin says.
  const file = o.caFile ? await readCaFile(o.caFile) : undefined;
  const proxyUrl = o.proxy && o.proxy !== NO_PROXY_VALUE ? o.proxy : null;
  const proxy = proxyUrl ? parseProxyFlag(proxyUrl) : undefined;
  if (proxy) o.say(`reaching the cloud through the proxy ${proxy.display}`);
  const client = o.url.protocol === "https:" || proxy ? cloudHttpClient(file, proxy) : undefined;
  try {
    const state = await requestIdentity(o, client);
    // What enrollment went through is what `agent run` goes through (proxy_setting.ts).
    try {
      await saveProxySetting(o.stateDir, proxyUrl);
    } catch (e) {
      throw new EnrollError(
        `enrolled, but cannot keep the proxy setting in ${o.stateDir}: ${osMessage(e)}; run ` +
          "the agent with --proxy URL (NC_PROXY)",
      );
    }
    return state;
  } finally {
    client?.close();
  }
}

/** The exchange itself: the CA against the pin, a CSR out, the identity checked and saved. */
async function requestIdentity(
  o: Parameters<typeof obtainIdentity>[0],
  client: Deno.HttpClient | undefined,
): Promise<AgentState> {
  const { url, pins, say } = o;
  say(`checking the cloud at ${url.origin} against the pinned CA`);
  const answer = await call(new URL("/api/agents/ca", url), {}, client);
  const ca = answer.body as { caCertificate?: string; caCertificates?: string; time?: string };
  // Before anything is sent: a clock the cloud's certificates cannot be valid by (clock_skew.ts;
  // the cloud's own time, or its Date header from a cloud older than that field).
  const now = Date.now();
  const skew = clockSkew(ca.time ?? answer.date, now);
  const problem = skewProblem(skew, now);
  if (problem) throw new EnrollError(`${problem}; nothing was sent and the token is unused`);
  const warning = skewWarning(skew, now);
  if (warning) say(warning);
  if (typeof ca.caCertificate !== "string") {
    throw new EnrollError("the cloud sent no CA certificate");
  }
  const got = await spkiPin(ca.caCertificate);
  if (!pins.includes(got)) {
    throw new EnrollError(
      `the cloud's CA does not match the pin (expected ${pins.join(" or ")}, got ${got}); ` +
        "refusing to enroll — check the cloud URL or download a fresh installer",
    );
  }
  // Trust only what the token pins: during a rotation, the other CA too when the token has it.
  const trusted: string[] = [];
  for (const cert of splitPemCerts(ca.caCertificates ?? ca.caCertificate)) {
    if (pins.includes(await spkiPin(cert).catch(() => ""))) trusted.push(cert);
  }
  const pin = got;

  let keyPem = await pendingKey(o.stateDir);
  if (keyPem) say("using this agent's private key from the earlier attempt");
  else {
    say("creating this agent's private key (it never leaves this machine)");
    keyPem = await generateKeyPem();
    try {
      await Deno.mkdir(o.stateDir, { recursive: true, mode: 0o700 });
      await writeSecretFile(joinPath(o.stateDir, PENDING_KEY_FILE), keyPem);
    } catch (e) {
      throw new EnrollError(
        `cannot write this agent's key in ${o.stateDir}: ${osMessage(e)}. Nothing was sent and ` +
          "the token is unused: free some space (or fix the directory's permissions) and run " +
          "the same command again",
      );
    }
  }
  const csr = await createCsr({ keyPem, commonName: "enrolling-agent" });
  const r = (await call(new URL(o.path, url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      ...o.body,
      csr,
      hostname: hostname(),
      os: `${Deno.build.os}/${Deno.build.arch}`,
      version: VERSION,
    }),
  }, client)).body as Record<string, string>;
  if (await spkiPin(r.caCertificate ?? "").catch(() => "") !== pin) {
    throw new EnrollError("the cloud answered with a CA that does not match the pin; refusing");
  }
  if (!r.certificate || !await verifiedBy(r.certificate, r.caCertificate)) {
    throw new EnrollError("the certificate the cloud issued does not chain to the pinned CA");
  }
  const state: AgentState = {
    agentId: r.agentId,
    siteId: r.siteId,
    cloudUrl: url.origin,
    controlEndpoint: r.controlEndpoint,
    caPin: pin,
    enrolledAt: new Date().toISOString(),
    keyPem,
    certPem: r.certificate,
    caPem: trusted.length ? trusted.join("") : r.caCertificate,
  };
  try {
    await saveState(o.stateDir, state);
  } catch (e) {
    throw new EnrollError(
      `the cloud enrolled this machine as ${state.agentId}, but its identity cannot be saved in ` +
        `${o.stateDir}: ${osMessage(e)}. Free some space (or fix the directory's permissions) ` +
        `and run the same command again: ${o.repeat}`,
    );
  }
  await Deno.remove(joinPath(o.stateDir, PENDING_KEY_FILE)).catch(() => {});
  say(`enrolled as ${state.agentId} (site ${state.siteId}); state in ${o.stateDir}`);
  return state;
}
