// What a node says when its MongoDB cannot be opened: the driver's reason, and what to check.
import { assertEquals, assertStringIncludes } from "../../../_fixtures/assert.ts";
import { mongoOpenHint } from "../../../../src/cloud/store/open.ts";

Deno.test("mongoOpenHint: refused, unresolved, refused credentials, no answer; else nothing", () => {
  const cases: [string, string][] = [
    ["connect ECONNREFUSED 127.0.0.1:1", "nothing listens there: is MongoDB running"],
    ["querySrv ENOTFOUND _mongodb._tcp.db.example.com", "does not resolve from this node"],
    ["Authentication failed.", "refused the user name or password"],
    ["Server selection timed out after 3000 ms", "no answer in time"],
  ];
  for (const [reason, words] of cases) assertStringIncludes(mongoOpenHint(reason) ?? "", words);
  assertEquals(mongoOpenHint("E11000 duplicate key error"), null);
});
