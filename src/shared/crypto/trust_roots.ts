/**
 * Which certificate authorities the cloud's HTTPS certificate may chain to, for the operator's
 * CLI and the agent's enrollment: the runtime's built-in list (Mozilla's), this computer's own
 * store, and a file given with `--ca-file`. The computer's store is what its browser and curl
 * trust: a company laptop whose proxy inspects TLS has the company's authority there, put there
 * by its IT, and a site PC the same; without it the executable refused what every other program
 * on the machine accepts. `--ca-file` is for an authority the computer does not trust either (a
 * cloud on a private certificate). Each is added to the built-in list, never instead of it.
 * @module
 */
import tls from "node:tls";
import { splitPemCerts } from "./cert_reader.ts";
import { UsageError } from "../cli.ts";
import type { ProxyConfig } from "../transport/proxy.ts";

/** The flag, as named in errors that advise it. */
export const CA_FLAG = "--ca-file FILE";

let system: string[] | undefined;

/**
 * This computer's trusted authorities (Linux: the system bundle, or `SSL_CERT_FILE` /
 * `SSL_CERT_DIR`; macOS: the keychains; Windows: the certificate store), those the built-in list
 * already has left out; read once. None when the store cannot be read: the built-in list still
 * applies.
 */
export function systemCaCerts(): string[] {
  if (system) return system;
  try {
    const get = (tls as unknown as { getCACertificates(kind: string): string[] })
      .getCACertificates;
    const bundled = new Set(get("bundled").map(squash));
    system = get("system").filter((pem) => !bundled.has(squash(pem)));
  } catch {
    system = [];
  }
  return system;
}

/** A PEM without its line breaks, to compare two encodings of one certificate. */
function squash(pem: string): string {
  return pem.replace(/\s+/g, "");
}

/** The certificates of a `--ca-file`, and its path for messages. */
export interface CaFile {
  path: string;
  certs: string[];
}

/**
 * Reads `--ca-file`: its PEM certificates, checked usable. A file that cannot be read, holds no
 * certificate or one the runtime refuses is the person's error, said before anything is dialed.
 */
export async function readCaFile(path: string): Promise<CaFile> {
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
    Deno.createHttpClient({ caCerts: certs }).close();
  } catch (e) {
    throw new UsageError(`--ca-file: ${path}: ${(e as Error).message}`);
  }
  return { path, certs };
}

/**
 * An HTTP client for `fetch` to the cloud that trusts this computer's authorities and `file`'s
 * besides the built-in ones, and goes through `proxy` when given (else it follows the proxy
 * variables as plain `fetch` does); undefined when there is nothing to add. A computer's
 * certificate the runtime cannot use leaves the computer's store out, never the file.
 */
export function cloudHttpClient(file?: CaFile, proxy?: ProxyConfig): Deno.HttpClient | undefined {
  const own = file?.certs ?? [];
  const via = proxy
    ? { proxy: { url: proxy.display, ...(proxy.auth ? { basicAuth: proxy.auth } : {}) } }
    : {};
  for (const certs of [[...systemCaCerts(), ...own], own]) {
    if (!certs.length && !proxy) continue;
    try {
      return Deno.createHttpClient({ ...(certs.length ? { caCerts: certs } : {}), ...via });
    } catch { /* the next, smaller set */ }
  }
  return undefined;
}
