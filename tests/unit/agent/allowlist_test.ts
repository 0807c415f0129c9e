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
