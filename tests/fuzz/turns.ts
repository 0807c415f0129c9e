/**
 * Turns for the fuzz targets whose cases share one hostile peer that cannot tell them apart (the
 * device's ONVIF paths, the LAN's probe port, the SSH device's port): each case waits for the
 * cases queued before it, in order, and gives up after a while (a case has 15 s in all).
 * @module
 */

/** A queue of turns. */
export class Turns {
  #last: Promise<void> = Promise.resolve();

  /**
   * Waits for this case's turn: its release (call it when done), or null when the turns before
   * it took more than `waitMs` (the case is skipped; its turn passes as soon as it comes).
   */
  async take(waitMs: number): Promise<(() => void) | null> {
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const before = this.#last;
    this.#last = before.then(() => mine);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ready = await Promise.race([
      before.then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), waitMs))),
    ]);
    clearTimeout(timer);
    if (ready) return release;
    release();
    return null;
  }
}
