import { assert, assertEquals } from "../../_fixtures/assert.ts";
import { Allowlist } from "../../../src/agent/allowlist.ts";

Deno.test("allowlist: only listed pairs, newest version wins, stale pushes ignored", () => {
  const a = new Allowlist();
  assert(!a.allows("127.0.0.1", 22), "empty list refuses everything");
  assert(a.update(2, [{ host: "Cam.Local", port: 80 }, { host: "127.0.0.1", port: 22 }]));
  assert(a.allows("cam.local", 80));
  assert(a.allows("127.0.0.1", 22));
  assert(!a.allows("127.0.0.1", 23), "another port on a listed host");
  assert(!a.allows("127.0.0.2", 22), "another host on a listed port");
  assert(!a.update(1, [{ host: "127.0.0.9", port: 9 }]), "older version ignored");
  assert(!a.update(2, []), "same version ignored");
  assert(!a.allows("127.0.0.9", 9));
  assert(a.update(3, []));
  assertEquals(a.size, 0);
  assertEquals(a.version, 3);
});

Deno.test("allowlist: an open that arrives before the push that lists its pair waits for that push; a pair no push lists is refused once the wait is over", async () => {
  const a = new Allowlist();
  a.update(1, [{ host: "127.0.0.1", port: 22 }]);
  assert(await a.allowsSoon("127.0.0.1", 22, 0), "listed: at once");
  // The push (control stream) lands after the open (data connection) was read.
  const soon = a.allowsSoon("127.0.0.5", 554, 60_000);
  await Promise.resolve();
  a.update(2, [{ host: "127.0.0.1", port: 22 }, { host: "127.0.0.5", port: 554 }]);
  assert(await soon, "allowed by the push that arrived meanwhile");
  // A push that does not list it, then the wait runs out: refused.
  const other = a.allowsSoon("127.0.0.9", 80, 50);
  await Promise.resolve();
  a.update(3, [{ host: "127.0.0.1", port: 22 }]);
  assertEquals(await other, false);
  assertEquals(await a.allowsSoon("127.0.0.9", 80, 0), false, "no wait: refused at once");
});
