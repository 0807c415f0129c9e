/**
 * CSV for the console's exports (the audit log, the events): RFC 4180 cells, CRLF lines, and no
 * cell a spreadsheet would run — one starting with `=`, `+`, `-`, `@`, a tab or a carriage return
 * is prefixed with `'` (a device label or a site name is whatever someone typed).
 * @module
 */

/** One cell, quoted when it must be and neutralized when a spreadsheet would read a formula. */
export function csvCell(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** A CSV document: the header line, then a line per row. */
export function csvDocument(header: string[], rows: string[][]): string {
  return [header, ...rows].map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n";
}
