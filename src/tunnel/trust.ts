/**
 * Which certificate authorities this CLI trusts for the cloud's HTTPS: the runtime's built-in
 * ones, and those of `--ca-file`. A company laptop whose traffic goes through a proxy that
 * inspects TLS sees the cloud's certificate re-signed by the company's own authority, which the
 * operating system trusts and this executable (Mozilla's list, built in) does not; a cloud on a
 * private certificate is the same. Every way the CLI reaches the cloud — its requests, the
 * tunnels' WebSockets, the terminal — goes through this module, so one flag covers them all.
 * Set once when a command starts: a process talks to one cloud.
 * @module
 */
import { splitPemCerts } from "../shared/crypto/cert_reader.ts";
import { UsageError } from "../shared/cli.ts";

/** The flag, as named in errors that advise it. */
export const CA_FLAG = "--ca-file FILE";

let extra: string[] = [];
let client: Deno.HttpClient | undefined;

/**
 * Adds the PEM certificates in `path` to what the cloud's certificate may chain to; a file that
 * cannot be read or holds no certificate is the operator's error, said before anything is dialed.
 */
export async function trustCaFile(path: string): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new UsageError(`--ca-file: cannot read ${path}: ${(e as Error).message}`);
  }
  const certs = splitPemCerts(text);
  if (!certs.length) {
    throw new UsageError(
      `--ca-file: ${path} holds no PEM certificate (-----BEGIN CERTIFICATE----- …)`,
    );
  }
  try {
    const c = Deno.createHttpClient({ caCerts: certs });
    client?.close();
    client = c;
  } catch (e) {
    throw new UsageError(`--ca-file: ${path}: ${(e as Error).message}`);
  }
  extra = certs;
}

/** The certificates `--ca-file` added (none: the built-in authorities only). */
export function extraCaCerts(): string[] {
  return extra;
}

/** `fetch` to the cloud, trusting what {@linkcode trustCaFile} added. */
export function cloudFetch(input: URL, init: RequestInit = {}): Promise<Response> {
  return client ? fetch(input, { ...init, client } as RequestInit) : fetch(input, init);
}
