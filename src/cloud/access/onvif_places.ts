/**
 * Where a camera's ONVIF service for one job is (its PTZ service and profile, its imaging service
 * and video source), kept for a minute per camera: a held button repeats a call each second, and
 * asking the camera where things are costs four calls, so each repeat would cost five. A call
 * that fails forgets its camera's place, so the next one asks again (a camera reset, its
 * credentials changed).
 * @module
 */

/** How long a camera's place is kept. */
export const ONVIF_PLACE_TTL_MS = 60_000;
/** Most cameras whose place is kept. */
const MAX_PLACES = 1_000;

/**
 * The places of the cameras used lately, for ONVIF_PLACE_TTL_MS each (by a key such as the device
 * and port), at most 1 000 (the oldest go first).
 */
export class OnvifPlaces<T> {
  readonly #places = new Map<string, { place: T; until: number }>();
  readonly #now: () => number;

  /** Places read by `now` (the cloud's clock). */
  constructor(now: () => number) {
    this.#now = now;
  }

  /** The place kept for `key`, or null. */
  get(key: string): T | null {
    const p = this.#places.get(key);
    if (!p || p.until <= this.#now()) {
      this.#places.delete(key);
      return null;
    }
    return p.place;
  }

  /** Keeps `place` for `key`. */
  set(key: string, place: T): void {
    this.#places.delete(key);
    this.#places.set(key, { place, until: this.#now() + ONVIF_PLACE_TTL_MS });
    if (this.#places.size > MAX_PLACES) {
      this.#places.delete(this.#places.keys().next().value!);
    }
  }

  /** Forgets `key`'s place. */
  forget(key: string): void {
    this.#places.delete(key);
  }
}
