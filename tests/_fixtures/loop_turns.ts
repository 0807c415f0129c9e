/**
 * Whether a piece of work let the event loop turn. Work that yields with `setImmediate` can
 * finish in well under a millisecond between turns, too soon for any timer to fall due, so this
 * counts turns with an immediate that re-queues itself: it runs once per turn of the loop while
 * `work` is pending, and not at all when `work` never yields.
 * @module
 */
import { setImmediate } from "node:timers";

/** Runs `work`, returning its result and how many times the event loop turned meanwhile. */
export async function countLoopTurns<T>(
  work: () => Promise<T>,
): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let counting = true;
  const tick = () => {
    if (!counting) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  try {
    const result = await work();
    return { result, turns };
  } finally {
    counting = false;
  }
}
