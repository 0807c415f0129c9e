/**
 * Which certificate authorities this CLI trusts for the cloud's HTTPS: the runtime's built-in
 * ones, this computer's own store, and those of `--ca-file` (`shared/crypto/trust_roots.ts` says
 * why each). Every way the CLI reaches the cloud — its requests, the tunnels' WebSockets, the
 * terminal — goes through this module, so one flag covers them all. The file is read when a
 * command starts (a process talks to one cloud); the computer's store when first needed.
 * @module
 */
import {
  CA_FLAG,
  type CaFile,
  cloudHttpClient,
  readCaFile,
  systemCaCerts,
} from "../shared/crypto/trust_roots.ts";

export { CA_FLAG };

let file: CaFile | undefined;
let client: Deno.HttpClient | undefined | null = null;

/**
 * Adds the PEM certificates in `path` to what the cloud's certificate may chain to; a file that
 * cannot be read or holds no certificate is the operator's error, said before anything is dialed.
 */
export async function trustCaFile(path: string): Promise<void> {
  file = await readCaFile(path);
  client?.close();
  client = null;
}

/** The certificates trusted besides the built-in ones: the computer's, then `--ca-file`'s. */
export function extraCaCerts(): string[] {
  return [...systemCaCerts(), ...file?.certs ?? []];
}

/** `fetch` to the cloud, trusting what {@linkcode extraCaCerts} adds. */
export function cloudFetch(input: URL, init: RequestInit = {}): Promise<Response> {
  if (client === null && input.protocol === "https:") client = cloudHttpClient(file);
  return client ? fetch(input, { ...init, client } as RequestInit) : fetch(input, init);
}
