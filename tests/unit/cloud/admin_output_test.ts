// `connector cloud admin` without --json: lists of objects print as indented blocks a person
// reads (they printed as one line of JSON per item), scalars as `key: value`, empty lists as
// "(none)", lists of strings as "- " lines.
import { assertEquals } from "../../_fixtures/assert.ts";
import { formatHuman } from "../../../src/cloud/admin_output.ts";

Deno.test("admin output: nested objects and lists of objects as indented blocks", () => {
  assertEquals(
    formatHuman({
      nodes: [
        { name: "node-1", running: true, settings: { "offline-grace": "30s", "public-url": "x" } },
        { name: "node-2", running: false, tags: ["a", "b"] },
      ],
      differences: [],
      notes: ["one line", 2],
      site: { id: "site-1", devices: [{ host: "127.0.0.5" }, {}] },
      total: 2,
    }),
    [
      "nodes:",
      "  - name: node-1",
      "    running: true",
      "    settings:",
      "      offline-grace: 30s",
      "      public-url: x",
      "  - name: node-2",
      "    running: false",
      "    tags:",
      "      - a",
      "      - b",
      "differences: (none)",
      "notes:",
      "  - one line",
      "  - 2",
      "site:",
      "  id: site-1",
      "  devices:",
      "    - host: 127.0.0.5",
      "    - {}",
      "total: 2",
    ],
  );
});
