import type * as http from "node:http";
import { assert, assertEquals } from "../../../../_fixtures/assert.ts";
import {
  type Admission,
  AdmissionCache,
  admissionKey,
} from "../../../../../src/cloud/access/proxy/admit_cache.ts";

function req(method: string, headers: Record<string, string>, remote = "127.0.0.1") {
  return { method, headers, socket: { remoteAddress: remote } } as unknown as http.IncomingMessage;
}

Deno.test("admission key: reads with a bearer token or a session cookie only", () => {
  const bearer = { authorization: "Bearer nt_x" };
  assert(admissionKey(req("GET", bearer), "h-1"));
  assert(admissionKey(req("HEAD", { cookie: "nc_session=s" }), "h-1"));
  assertEquals(admissionKey(req("POST", bearer), "h-1"), null);
  assertEquals(admissionKey(req("GET", {}), "h-1"), null);
  for (const h of ["x-admin-api-key", "x-api-key", "x-license", "x-user-id"]) {
    assertEquals(admissionKey(req("GET", { ...bearer, [h]: "v" }), "h-1"), null, h);
  }
  // Another handle, another address or another credential is another key.
  const k = admissionKey(req("GET", bearer), "h-1");
  assert(k !== admissionKey(req("GET", bearer), "h-2"));
  assert(k !== admissionKey(req("GET", bearer, "127.0.0.2"), "h-1"));
  assert(k !== admissionKey(req("GET", { authorization: "Bearer nt_y" }), "h-1"));
});

Deno.test("admission cache: remembered for its TTL, then asked again", () => {
  const c = new AdmissionCache({ ttlMs: 1_000, max: 2 });
  const a = { principal: {}, target: {} } as unknown as Admission;
  c.set("k", a, 10_000);
  assertEquals(c.get("k", 10_999), a);
  assertEquals(c.get("k", 11_000), null);
  c.set("a", a, 0);
  c.set("b", a, 0);
  c.set("c", a, 0); // over the bound: starts afresh
  assertEquals(c.get("a", 1), null);
  assertEquals(c.get("c", 1), a);
});
