/**
 * Long synchronous passes cut into slices. The embedded store is synchronous (`node:sqlite`)
 * behind async methods, so a loop over every agent or every row that awaits the store never
 * gives the event loop a turn: at 10 000 agents one pass of a background job held every tunnel,
 * control stream and request of the node for about 100 ms. A slicer lets such a loop give the
 * event loop a turn once it has held it for a few milliseconds; against a network store (whose
 * awaits turn the loop anyway) it costs a clock read per call.
 * @module
 */
import { setImmediate } from "node:timers";

/**
 * One turn of the event loop: pending I/O and timers run, then the caller continues (about 5 µs
 * when nothing waits; a chained `setTimeout(0)` costs about 2 ms).
 */
export function loopTurn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** How long a slice may hold the event loop by default. */
export const SLICE_MS = 4;

/**
 * A function to await between steps of a long pass: it resolves at once while the current
 * slice is under `budgetMs`, and after one {@linkcode loopTurn} once it is over.
 */
export function timeSlicer(budgetMs = SLICE_MS): () => Promise<void> {
  let since = performance.now();
  return async () => {
    if (performance.now() - since < budgetMs) return;
    await loopTurn();
    since = performance.now();
  };
}
