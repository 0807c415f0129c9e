/**
 * `parseFlags`' refusal of an unknown option names the option it likely meant (`nearestOption`):
 * a name borrowed from another tool, a typo, a prefix; nothing when none is close, and only
 * options the command has.
 */
import { assertEquals, assertThrows } from "../../_fixtures/assert.ts";
import { nearestOption, type OptionSpec, parseFlags, UsageError } from "../../../src/shared/cli.ts";

const specs: Record<string, OptionSpec> = {
  http: { type: "string", help: "" },
  "data-dir": { type: "string", help: "" },
  store: { type: "string", help: "" },
  "log-level": { type: "string", help: "" },
};

Deno.test("nearest option: aliases, typos and prefixes; none when far", () => {
  const known = Object.keys(specs);
  assertEquals(nearestOption("listen", known), "http");
  assertEquals(nearestOption("datadir", known), "data-dir");
  assertEquals(nearestOption("data_dir", known), "data-dir");
  assertEquals(nearestOption("stor", known), "store");
  assertEquals(nearestOption("log-levle", known), "log-level");
  assertEquals(nearestOption("http-port", known), "http");
  assertEquals(nearestOption("mongodb", known), "store");
  assertEquals(nearestOption("frobnicate", known), null);
  assertEquals(nearestOption("x", known), null);
  // An alias whose target the command lacks suggests nothing of it.
  assertEquals(nearestOption("cacert", known), null);
});

Deno.test("parse flags: an unknown option is a usage error with the suggestion", () => {
  const e = assertThrows(() => parseFlags(["--listen", "x"], specs, {}), UsageError);
  assertEquals(e.message, "Unknown option '--listen' (did you mean --http? see --help)");
  const far = assertThrows(() => parseFlags(["--zzzzzz"], specs, {}), UsageError);
  assertEquals(far.message, "Unknown option '--zzzzzz' (see --help)");
  // Other refusals are as before.
  const missing = assertThrows(() => parseFlags(["--http"], specs, {}), UsageError);
  assertEquals(missing.message.includes("did you mean"), false);
});

Deno.test("nearest option: two letters swapped is one typo", () => {
  assertEquals(nearestOption("nmae", ["name", "json"]), "name");
  assertEquals(nearestOption("sotre", ["store", "node"]), "store");
});
