/**
 * A store that counts its calls by method name, for tests that prove how often a pass reads or
 * writes (a page per query, never one per row) against a real store.
 * @module
 */
import type { Store } from "../../src/cloud/store/store.ts";

/** `store` behind a proxy that counts every method call by name in `calls`. */
export function counted(store: Store): { store: Store; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const proxy = new Proxy(store, {
    get(target, name, receiver) {
      const v = Reflect.get(target, name, receiver);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        calls.set(String(name), (calls.get(String(name)) ?? 0) + 1);
        return v.apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}
