// POST /claim refuses quickly-repeated attempts from one address (serials must not be guessed)
// and validates its body at the edge.
import { assertEquals } from "../_fixtures/assert.ts";
import { startTestCloud } from "../_fixtures/cloud.ts";
import { CLAIMS_PER_MINUTE } from "../../src/cloud/api/claim.ts";

Deno.test("claim: bad bodies are 400, then 429 past the per-address limit until the window passes", async () => {
  const tc = await startTestCloud();
  try {
    const bad = await tc.call("POST", "/claim", {}, { serial: "x" });
    assertEquals(bad.status, 400);
    assertEquals(bad.json.error, "bad_request");
    for (let i = 1; i < CLAIMS_PER_MINUTE; i++) {
      assertEquals((await tc.call("POST", "/claim", {}, { serial: "ABCD-1234" })).status, 400);
    }
    const limited = await tc.call("POST", "/claim", {}, { serial: "ABCD-1234" });
    assertEquals(limited.status, 429);
    assertEquals(limited.json.error, "rate_limited");
    tc.clock.advance(60_000);
    assertEquals((await tc.call("POST", "/claim", {}, { serial: "ABCD-1234" })).status, 400);
  } finally {
    await tc.stop();
  }
});
