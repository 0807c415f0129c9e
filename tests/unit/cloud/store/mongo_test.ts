/**
 * The MongoDB store against a real MongoDB-compatible server (FerretDB, started once for this
 * file in a temp dir on a free loopback port): the shared conformance suite, each case on a
 * fresh database.
 * @module
 */
import { openMongoStore } from "../../../../src/cloud/store/mongo.ts";
import type { Store } from "../../../../src/cloud/store/store.ts";
import { startFerretDb } from "../../../_fixtures/ferretdb.ts";
import { storeConformance } from "./conformance.ts";

const ferret = await startFerretDb();
let n = 0;

/** The server's URL with a database of its own. */
export function freshDbUrl(): string {
  return ferret.url.replace("/nanodems?", `/case${++n}_${Date.now()}?`);
}

const urls = new WeakMap<Store, string>();
storeConformance("mongo", async (clock, sameDatabaseAs) => {
  const url = sameDatabaseAs ? urls.get(sameDatabaseAs)! : freshDbUrl();
  const store = await openMongoStore({ url, clock });
  urls.set(store, url);
  return store;
});

Deno.test("mongo store: (stop the server)", async () => {
  await ferret.stop();
});
