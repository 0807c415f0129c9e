/**
 * The soak's ledger: every operation ends as `ok`, an expected refusal (a refusal the product
 * must give — a revoked token, another tenant's handle, "agent reconnecting" while an agent is
 * being restarted) or `unexpected`, counted per operation kind. Any unexpected outcome fails the
 * run; the first ones are kept with their detail so the report says what went wrong.
 * @module
 */

/** How one operation ended. */
export type Outcome = "ok" | "refused" | "unexpected";

/** Counts for one operation kind. */
export interface Counts {
  ok: number;
  refused: number;
  unexpected: number;
}

/** One unexpected outcome, for the report. */
export interface Surprise {
  /** Seconds since the workload started. */
  t: number;
  op: string;
  tenant: string;
  detail: string;
}

/** The per-kind counts and the kept unexpected details. */
export class Ledger {
  readonly byOp = new Map<string, Counts>();
  readonly surprises: Surprise[] = [];
  /** The workload's start (ms since the epoch); surprise times are relative to it. */
  start = Date.now();
  static readonly KEEP = 100;

  /** Records one outcome. */
  add(op: string, tenant: string, outcome: Outcome, detail = ""): void {
    const c = this.byOp.get(op) ?? { ok: 0, refused: 0, unexpected: 0 };
    c[outcome]++;
    this.byOp.set(op, c);
    if (outcome === "unexpected" && this.surprises.length < Ledger.KEEP) {
      const t = Math.round((Date.now() - this.start) / 100) / 10;
      this.surprises.push({ t, op, tenant, detail: detail.slice(0, 500) });
    }
  }

  /** Totals over every kind. */
  totals(): Counts {
    const t = { ok: 0, refused: 0, unexpected: 0 };
    for (const c of this.byOp.values()) {
      t.ok += c.ok;
      t.refused += c.refused;
      t.unexpected += c.unexpected;
    }
    return t;
  }

  /** The counts as a plain object (for the JSON). */
  toJSON(): Record<string, Counts> {
    return Object.fromEntries(this.byOp);
  }
}
