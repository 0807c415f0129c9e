/**
 * The control listener's TLS identity, replaceable while it runs. The server certificate renews
 * itself before expiry (server_cert_renewal.ts) and the trusted agent CAs change with a rotation,
 * without a restart: the cloud process holds the current identity and tells the control relay
 * (relay.ts) of each change; in the relay process the TLS listener takes each update as its new
 * secure context (`onChange` → `setSecureContext`) for new connections, while streams already open
 * keep their session (`serverCredentials()` offers the same as a grpc-js certificate provider for
 * a listener that lets grpc-js end TLS). Client certificates stay required and verified
 * against the agent CA (checked under Deno: a client without one, or with one from another CA,
 * is refused before and after an update).
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import type { KeyAndCert } from "../../shared/crypto/pki.ts";

type Listener = (update: unknown) => void;

/** A server key pair plus the CA its clients must chain to, as a grpc-js certificate provider. */
export class TlsIdentity {
  #pair: KeyAndCert;
  #caPem: string;
  readonly #identityListeners = new Set<Listener>();
  readonly #caListeners = new Set<Listener>();
  readonly #changeListeners = new Set<() => void>();

  /** An identity serving `pair` to clients of `caPem`. */
  constructor(caPem: string, pair: KeyAndCert) {
    this.#caPem = caPem;
    this.#pair = pair;
  }

  /** The pair served to new connections. */
  get pair(): KeyAndCert {
    return this.#pair;
  }

  /** The CA certificate(s) client certificates must chain to. */
  get caPem(): string {
    return this.#caPem;
  }

  /** Serves `pair` to every new connection from now on. */
  update(pair: KeyAndCert): void {
    this.#pair = pair;
    for (const l of this.#identityListeners) l(this.#identity());
    for (const l of this.#changeListeners) l();
  }

  /** Trusts the CA certificate(s) in `caPem` for new connections from now on. */
  updateCa(caPem: string): void {
    this.#caPem = caPem;
    for (const l of this.#caListeners) l({ caCertificate: Buffer.from(caPem) });
    for (const l of this.#changeListeners) l();
  }

  /** Calls `fn` after every change of the pair or the CAs; returns the unsubscribe function. */
  onChange(fn: () => void): () => void {
    this.#changeListeners.add(fn);
    return () => this.#changeListeners.delete(fn);
  }

  /** Server credentials for grpc-js that require a client certificate chaining to the CA. */
  serverCredentials(): grpc.ServerCredentials {
    // grpc-js's experimental helper passes its arguments on in swapped order (identity first);
    // one object answers both roles, so the order does not matter here.
    const provider = {
      addCaCertificateListener: (l: Listener) => {
        this.#caListeners.add(l);
        queueMicrotask(() => l({ caCertificate: Buffer.from(this.#caPem) }));
      },
      removeCaCertificateListener: (l: Listener) => this.#caListeners.delete(l),
      addIdentityCertificateListener: (l: Listener) => {
        this.#identityListeners.add(l);
        // Later than grpc-js registering its own watcher, or the first update is lost.
        queueMicrotask(() => l(this.#identity()));
      },
      removeIdentityCertificateListener: (l: Listener) => this.#identityListeners.delete(l),
    };
    return grpc.experimental.createCertificateProviderServerCredentials(
      provider as unknown as grpc.experimental.CertificateProvider,
      provider as unknown as grpc.experimental.CertificateProvider,
      true,
    );
  }

  #identity() {
    return {
      certificate: Buffer.from(this.#pair.certPem),
      privateKey: Buffer.from(this.#pair.keyPem),
    };
  }
}
