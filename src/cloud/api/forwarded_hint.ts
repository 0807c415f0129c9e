/**
 * A reverse proxy left out of `--trusted-proxies`, said once. Behind Caddy or a balancer every
 * request arrives from the proxy; unless its address is trusted, its `X-Forwarded-For` is
 * (rightly) ignored and every client counts as the proxy — one guesser's wrong passwords then lock
 * every user out of signing in, and the audit names the proxy for everyone. Nothing shows this
 * until it bites, so the first request that carries `X-Forwarded-For` from an untrusted peer logs
 * a warning naming that peer and the setting (once per peer, for the first 8: clients behind their
 * own proxies send it too, when the node faces them directly).
 * @module
 */
import type { Logger } from "../../shared/log.ts";

/** Remembers the peers already looked at (the trusted list is fixed while the node runs). */
export class ForwardedHint {
  #seen = new Set<string>();
  #warned = 0;
  #log: Logger;

  /** Creates the hint for `log`. */
  constructor(log: Logger) {
    this.#log = log;
  }

  /**
   * Looks at one request: `remote` its socket's peer, `forwarded` its X-Forwarded-For (or null),
   * `trusted()` whether the peer is a `--trusted-proxies` address (asked once per peer).
   */
  note(remote: string, forwarded: string | null, trusted: () => boolean): void {
    if (!forwarded || this.#seen.has(remote) || this.#seen.size >= 1_024) return;
    this.#seen.add(remote);
    if (trusted() || this.#warned >= 8) return;
    this.#warned++;
    this.#log.warn(
      { peer: remote },
      `requests from ${remote} carry X-Forwarded-For, but ${remote} is not in ` +
        "--trusted-proxies: every client behind it counts as that one address (sign-in limits " +
        "lock everyone out together; the audit names the proxy); if it is your reverse proxy or " +
        "balancer, add it to --trusted-proxies (NC_TRUSTED_PROXIES)",
    );
  }
}
