/**
 * The in-process cloud for integration tests: the real `startCloud` on loopback port 0 with a
 * real SQLite store in a temp dir and an injected ManualClock, plus a JSON `call` helper.
 * (End-to-end tests spawn the real processes instead: see stack.ts.)
 * @module
 */
import { ManualClock } from "../../src/shared/clock.ts";
import { createLogger } from "../../src/shared/log.ts";
import { loadCloudConfig } from "../../src/cloud/config.ts";
import { type Cloud, startCloud } from "../../src/cloud/main.ts";
import { formatJoinToken, hashToken, mintToken } from "../../src/shared/crypto/token.ts";
import { enroll } from "../../src/agent/enroll.ts";

/** A JSON answer: status, parsed body ({} when not JSON), raw text and headers. */
export interface Answer {
  status: number;
  json: Record<string, unknown>;
  text: string;
  headers: Headers;
}

/** A running in-process cloud. */
export interface TestCloud {
  cloud: Cloud;
  clock: ManualClock;
  base: string;
  /** Sends a request; a body is sent as JSON (or `raw` text as is). */
  call(
    method: string,
    path: string,
    headers?: Record<string, string>,
    body?: unknown,
    raw?: string,
  ): Promise<Answer>;
  stop(): Promise<void>;
}

/** Starts a cloud with extra flag values (e.g. `"admin-api-key"`). */
export async function startTestCloud(extra: Record<string, string> = {}): Promise<TestCloud> {
  const dir = await Deno.makeTempDir({ prefix: "nc-it-" });
  const clock = new ManualClock(Date.now());
  const cloud = await startCloud(
    loadCloudConfig({
      "data-dir": dir,
      http: "127.0.0.1:0",
      control: "127.0.0.1:0",
      data: "127.0.0.1:0",
      rtsp: "127.0.0.1:0",
      internal: "127.0.0.1:0",
      ...extra,
    }),
    { clock, log: createLogger({ role: "test", level: "silent" }) },
  );
  const base = `http://127.0.0.1:${cloud.ports.http}`;
  return {
    cloud,
    clock,
    base,
    async call(method, path, headers = {}, body, raw) {
      const res = await fetch(base + path, {
        method,
        headers: { "content-type": "application/json", ...headers },
        body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
      });
      const text = await res.text();
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(text);
      } catch { /* not JSON */ }
      return { status: res.status, json, text, headers: res.headers };
    },
    async stop() {
      await cloud.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * A new tenant and site in the test cloud (or the site `into`), and an agent enrolled in it
 * (state in `dir`).
 */
export async function enrollAgent(
  tc: TestCloud,
  dir: string,
  into?: { tenantId: string; siteId: string },
) {
  const s = tc.cloud.store;
  const tenantId = into?.tenantId ?? (await s.createTenant({ name: "HE" })).id;
  const siteId = into?.siteId ?? (await s.createSite({ tenantId, name: "HQ" })).id;
  const secret = await enrollmentSecret(tc, tenantId, siteId);
  return await enroll({
    cloud: tc.base,
    token: formatJoinToken(secret, tc.cloud.pki.agentCaPin),
    stateDir: dir,
  });
}

/** A fresh enrollment token's secret (enr_…) for the site, valid for an hour of the test clock. */
export async function enrollmentSecret(
  tc: TestCloud,
  tenantId: string,
  siteId: string,
): Promise<string> {
  const secret = mintToken("enr");
  await tc.cloud.store.createEnrollmentToken({
    hash: await hashToken(secret),
    tenantId,
    siteId,
    createdAt: tc.clock.now(),
    expiresAt: tc.clock.now() + 3600_000,
  });
  return secret;
}
