import { assert } from "../../../_fixtures/assert.ts";
import { listHas } from "../../../../src/cloud/api/header_list.ts";

Deno.test("a Connection list has a token as a whole member, in any case, spaces ignored", () => {
  assert(listHas("close", "close"));
  assert(listHas("Keep-Alive, Upgrade", "upgrade"));
  assert(listHas("keep-alive ,  CLOSE", "close"));
  assert(listHas("te,close,", "close"));
  assert(!listHas("", "close"));
  assert(!listHas("closed", "close"));
  assert(!listHas("not-close, x-upgrade", "close"));
  assert(!listHas("keep-alive, upgrades", "upgrade"));
});
