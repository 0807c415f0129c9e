/**
 * How `connector cloud admin` prints a result without `--json`: `key: value` lines, nested
 * objects indented, and lists as `- ` blocks whose items are indented the same way. Before, a
 * list item that was an object printed as one line of JSON: `admin nodes` showed each node as a
 * 400-character line with its eleven settings inside, which platform ops had to read with jq.
 * `--json` still prints the result whole for scripts.
 * @module
 */

/** The lines of `result` as a person reads them. */
export function formatHuman(result: Record<string, unknown>): string[] {
  const out: string[] = [];
  const walk = (obj: Record<string, unknown>, indent: string, lead = indent) => {
    for (const [k, v] of Object.entries(obj)) {
      if (Array.isArray(v)) {
        out.push(`${lead}${k}:${v.length === 0 ? " (none)" : ""}`);
        for (const item of v) {
          if (isRecord(item) && Object.keys(item).length) {
            walk(item, `${indent}    `, `${indent}  - `);
          } else out.push(`${indent}  - ${typeof item === "string" ? item : JSON.stringify(item)}`);
        }
      } else if (isRecord(v)) {
        out.push(`${lead}${k}:`);
        walk(v, `${indent}  `);
      } else out.push(`${lead}${k}: ${v}`);
      lead = indent;
    }
  };
  walk(result, "");
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
