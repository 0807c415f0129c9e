/**
 * `connector agent claim` (guide §3, the embedded agent): a device that ships the agent runtime
 * claims itself by its manufacturer serial. It has no enrollment token, so it must know the
 * cloud CA's pin beforehand (baked into the firmware image, or `--ca-pin`); the rest is
 * enrollment's: key made here, CSR sent with the serial to `POST /claim`, certificate checked
 * against the pin, state stored 0600. Then `connector agent run` works as for any agent. Like
 * enrollment, the key is kept (`enroll.key`) until the identity is saved, and the cloud answers
 * the same device claiming again with the same key with its identity again, so a claim whose
 * answer was lost is finished by running the same command again.
 * @module
 */
import { parsePin } from "../shared/crypto/token.ts";
import { UsageError } from "../shared/cli.ts";
import { checkCloudUrl, obtainIdentity, refuseIfEnrolled } from "./enroll.ts";
import type { AgentState } from "./state.ts";

/** Serial numbers as the cloud accepts them. */
const SERIAL = /^[A-Za-z0-9._-]{4,64}$/;

/** Claims this device; returns the stored state. */
export async function claim(opts: {
  cloud: string;
  serial: string;
  caPin: string;
  /** A PEM file of authorities the cloud's HTTPS certificate may chain to (`--ca-file`). */
  caFile?: string;
  /** `--proxy`: the HTTP proxy to claim through, kept for `agent run`. */
  proxy?: string;
  stateDir: string;
  force?: boolean;
  log?: (line: string) => void;
}): Promise<AgentState> {
  const url = checkCloudUrl(opts.cloud);
  if (!SERIAL.test(opts.serial)) {
    throw new UsageError("--serial: expected 4 to 64 letters, digits, dots, dashes or underscores");
  }
  const pin = parsePin(opts.caPin);
  if (!pin) throw new UsageError("--ca-pin: expected sha256:<64 hex digits>");
  if (!opts.force) await refuseIfEnrolled(opts.stateDir);
  return await obtainIdentity({
    url,
    pins: [pin],
    stateDir: opts.stateDir,
    path: "/claim",
    body: { serial: opts.serial },
    caFile: opts.caFile,
    proxy: opts.proxy,
    say: opts.log ?? (() => {}),
    repeat: "this device kept its key, and the cloud hands the same key its identity again",
  });
}
