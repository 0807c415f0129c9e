/**
 * Where a camera's ONVIF service for one job is (its PTZ service and profile, its imaging service
 * and video source), kept for a minute per camera: a held button repeats a call each second, and
 * asking the camera where things are costs four calls, so each repeat would cost five. A call
 * that fails forgets its camera's place, so the next one asks again (a camera reset, its
 * credentials changed). A camera whose clock the cloud set is forgotten by every job at once
 * ({@linkcode OnvifPlaces.forgetCamera}): each place keeps the camera's clock skew, which dates the
 * signatures of its calls, and the next call would otherwise be signed for the old time.
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
  /** Every job's places on this node (a few per app: one per kind of camera control). */
  static readonly #all = new Set<WeakRef<OnvifPlaces<unknown>>>();
  readonly #places = new Map<string, { place: T; until: number }>();
  readonly #now: () => number;

  /** Places read by `now` (the cloud's clock). */
  constructor(now: () => number) {
    this.#now = now;
    OnvifPlaces.#all.add(new WeakRef(this as OnvifPlaces<unknown>));
  }

  /** The key of a camera's place: its device and the port its service was found on. */
  static key(deviceId: string, port: number): string {
    return `${deviceId}:${port}`;
  }

  /**
   * Forgets the places of the camera `deviceId` (its {@linkcode OnvifPlaces.key}s) in every job on
   * this node: its clock was set, so the skew each place keeps is out of date.
   */
  static forgetCamera(deviceId: string): void {
    for (const ref of OnvifPlaces.#all) {
      const places = ref.deref();
      if (!places) {
        OnvifPlaces.#all.delete(ref);
        continue;
      }
      for (const key of [...places.#places.keys()]) {
        if (key.startsWith(`${deviceId}:`)) places.#places.delete(key);
      }
    }
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
