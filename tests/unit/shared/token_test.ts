import { assert, assertEquals } from "../../_fixtures/assert.ts";
import {
  constantTimeEqual,
  formatJoinToken,
  hashToken,
  isTokenShape,
  mintToken,
  parseJoinToken,
  parsePin,
} from "../../../src/shared/crypto/token.ts";

Deno.test("tokens: 256-bit secrets behind a prefix, stored as SHA-256, compared in constant time", async () => {
  const t = mintToken("nt");
  assert(isTokenShape(t, "nt"));
  assert(!isTokenShape(t, "ops"));
  assert(mintToken("nt") !== t);
  const h = await hashToken(t);
  assert(/^[0-9a-f]{64}$/.test(h));
  assert(!h.includes(t));
  assert(constantTimeEqual(h, await hashToken(t)));
  assert(!constantTimeEqual(h, await hashToken(mintToken("nt"))));
  assert(!constantTimeEqual("a", "ab"));
});

Deno.test("join token: the secret and the CA pin travel together", () => {
  const secret = mintToken("enr");
  const pin = "sha256:" + "ab".repeat(32);
  const joined = formatJoinToken(secret, pin);
  assertEquals(parseJoinToken(joined), { token: secret, pin, pins: [pin] });
  assertEquals(parseJoinToken(secret), { token: secret, pin: null, pins: [] });
  // During a CA rotation: both pins.
  const next = "sha256:" + "cd".repeat(32);
  const both = formatJoinToken(secret, `${pin},${next}`);
  assertEquals(both, `${secret}.${"ab".repeat(32)}.${"cd".repeat(32)}`);
  assertEquals(parseJoinToken(both), { token: secret, pin, pins: [pin, next] });
  assertEquals(parseJoinToken(`${both}.${"ef".repeat(32)}`), null, "at most two pins");
  assertEquals(parseJoinToken("enr_short"), null);
  assertEquals(parsePin("AB".repeat(32)), pin);
  assertEquals(parsePin("sha256:xyz"), null);
});
