/**
 * The two clocks of a terminal session: the idle timeout (restarted by every keystroke or
 * resize, with a warning before it fires) and the maximum length (never restarted).
 * @module
 */
import type { TerminalPolicy } from "../../store/store.ts";
import { idleWarningAfterMs } from "./policy.ts";

/** What happens when a clock runs out. */
export interface TimerEvents {
  /** The idle close comes in `leftMs`. */
  warn(leftMs: number): void;
  idle(): void;
  max(): void;
}

/** A session's idle and maximum-length timers. */
export class SessionTimers {
  #warn: ReturnType<typeof setTimeout> | undefined;
  #idle: ReturnType<typeof setTimeout> | undefined;
  #max: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  readonly #policy: Pick<TerminalPolicy, "idleTimeoutMs" | "maxSessionMs">;
  readonly #on: TimerEvents;

  /** Starts both clocks. */
  constructor(policy: Pick<TerminalPolicy, "idleTimeoutMs" | "maxSessionMs">, on: TimerEvents) {
    this.#policy = policy;
    this.#on = on;
    this.#max = setTimeout(() => on.max(), policy.maxSessionMs);
    this.activity();
  }

  /** The operator did something: the idle clock starts again. */
  activity(): void {
    if (this.#stopped) return;
    clearTimeout(this.#warn);
    clearTimeout(this.#idle);
    const warnAt = idleWarningAfterMs(this.#policy.idleTimeoutMs);
    this.#warn = setTimeout(() => this.#on.warn(this.#policy.idleTimeoutMs - warnAt), warnAt);
    this.#idle = setTimeout(() => this.#on.idle(), this.#policy.idleTimeoutMs);
  }

  /** Stops both clocks for good. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#warn);
    clearTimeout(this.#idle);
    clearTimeout(this.#max);
  }
}
