/**
 * The cloud's public URL when `--public-url` is not given: derived from the address the web
 * listener actually bound (`127.0.0.1` stays `127.0.0.1`; a wildcard address becomes
 * `localhost`, which is a guess the cloud warns about). The running cloud records the URL in its
 * data directory so that `cloud admin` prints hints (`agent enroll --cloud …`) that match. A
 * public URL that is plain http to another machine is warned about: secrets would cross in clear.
 * @module
 */
import { join } from "node:path";
import { isLoopbackHost } from "../shared/loopback.ts";

const FILE = "public-url";

/** The URL derived from the bound address, and whether it is only a guess. */
export function defaultPublicUrl(hostname: string, port: number): { url: string; guess: boolean } {
  const wildcard = hostname === "0.0.0.0" || hostname === "::" || hostname === "";
  const host = wildcard ? "localhost" : hostname.includes(":") ? `[${hostname}]` : hostname;
  return { url: `http://${host}:${port}`, guess: wildcard };
}

/** Records the URL the running cloud answers on (best effort). */
export async function recordPublicUrl(dataDir: string, url: string): Promise<void> {
  await Deno.writeTextFile(join(dataDir, FILE), `${url}\n`).catch(() => {});
}

/** The URL the cloud last recorded in `dataDir`, or `http://localhost:8080`. */
export async function recordedPublicUrl(dataDir: string): Promise<string> {
  try {
    const url = (await Deno.readTextFile(join(dataDir, FILE))).trim();
    if (/^https?:\/\/\S+$/.test(url)) return url;
  } catch { /* not started yet */ }
  return "http://localhost:8080";
}

/** Whether `url` is http:// to a host other than this machine (loopback is development). */
export function plainOverNetwork(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === "http:" && !isLoopbackHost(u.hostname);
  } catch {
    return false;
  }
}

/**
 * Whether agents that enroll through `publicUrl` (another machine's name) would be told to dial
 * the control channel on their own loopback: every `HOST:PORT` of `controlEndpoint` is one.
 */
export function controlOnLoopbackOnly(controlEndpoint: string, publicUrl: string): boolean {
  let host: string;
  try {
    host = new URL(publicUrl).hostname;
  } catch {
    return false;
  }
  if (isLoopbackHost(host)) return false;
  return controlEndpoint.split(",").every((ep) => isLoopbackHost(ep.trim().replace(/:\d+$/, "")));
}
