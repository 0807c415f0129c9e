/**
 * Which outbound proxy the agent goes through, and where that choice lives. A site whose only way
 * out is an HTTP proxy had to edit the service's environment (`NC_TRUST_ENV=1` and
 * `HTTPS_PROXY=…` in a systemd drop-in, or the Windows service's registry) before its agent
 * could come online, since a service does not inherit the installer's shell. Now the proxy given
 * at enrollment (`--proxy URL` / `NC_PROXY`, which the installers fill from the `https_proxy`
 * their own download used) is kept in the state directory, 0600 since its URL may carry a
 * password, and `agent run` uses it. In order: `--proxy` (`off`: none), the saved one, then with
 * `--trust-env` `HTTPS_PROXY`/`NO_PROXY`.
 * @module
 */
import { join } from "node:path";
import { UsageError } from "../shared/cli.ts";
import { writeSecretFile } from "../shared/crypto/files.ts";
import { parseProxyUrl, type ProxyConfig, ProxyError } from "../shared/transport/proxy.ts";

/** The file in the state directory that holds the proxy URL given at enrollment. */
export const PROXY_FILE = "proxy.url";

/** `--proxy`'s value that means "no proxy, whatever was saved". */
export const NO_PROXY_VALUE = "off";

/** Parses a `--proxy` value (an http:// URL) or says what is wrong with it, naming the flag. */
export function parseProxyFlag(text: string): ProxyConfig {
  try {
    return parseProxyUrl(text);
  } catch (e) {
    if (e instanceof ProxyError) {
      throw new UsageError(`--proxy (NC_PROXY): ${e.message.replace(/^proxy: /, "")}`);
    }
    throw e;
  }
}

/** Keeps `url` as this agent's proxy (null: none), 0600. */
export async function saveProxySetting(stateDir: string, url: string | null): Promise<void> {
  const path = join(stateDir, PROXY_FILE);
  if (url === null) {
    await Deno.remove(path).catch(() => {});
    return;
  }
  await writeSecretFile(path, `${url}\n`);
}

/** The proxy URL saved at enrollment, or null. */
export async function loadProxySetting(stateDir: string): Promise<string | null> {
  try {
    const text = (await Deno.readTextFile(join(stateDir, PROXY_FILE))).trim();
    return text || null;
  } catch {
    return null;
  }
}

/** Where the proxy in use came from, for the log. */
export type ProxySource = "flag" | "saved" | "environment";

/**
 * The proxy `agent run` goes through: `flag` (`--proxy`; "off": none), else the saved one, else
 * `fromEnv()` (the `--trust-env` choice). A saved file that is no proxy URL is a usage error
 * naming the file.
 */
export async function chooseProxy(o: {
  flag?: string;
  stateDir: string;
  fromEnv: () => ProxyConfig | null;
}): Promise<{ proxy: ProxyConfig; source: ProxySource } | null> {
  if (o.flag !== undefined) {
    return o.flag === NO_PROXY_VALUE ? null : { proxy: parseProxyFlag(o.flag), source: "flag" };
  }
  const saved = await loadProxySetting(o.stateDir);
  if (saved) {
    try {
      return { proxy: parseProxyUrl(saved), source: "saved" };
    } catch (e) {
      throw new UsageError(
        `${join(o.stateDir, PROXY_FILE)}: ${(e as Error).message}; fix it, or replace it with ` +
          "--proxy URL (--proxy off: none)",
      );
    }
  }
  const env = o.fromEnv();
  return env ? { proxy: env, source: "environment" } : null;
}

/**
 * What to tell a technician whose enrollment could not reach the cloud while this shell has a
 * proxy variable the agent did not use (it reads them only with `--trust-env`, and keeps a proxy
 * only from `--proxy`): null when there is none, or the agent was told about a proxy.
 */
export function unusedProxyNote(
  env: Record<string, string | undefined>,
  told: { trustEnv: boolean; proxy?: string },
): string | null {
  if (told.trustEnv || told.proxy !== undefined) return null;
  const name = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"].find((k) => env[k]);
  if (!name) return null;
  return `note: ${name} is set here, but the agent goes through a proxy only when told: run ` +
    `the same command with NC_PROXY set to that proxy (NC_PROXY="$${name}"); the agent keeps it ` +
    "for its service";
}
