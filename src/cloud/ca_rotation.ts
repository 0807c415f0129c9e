/**
 * Phased rotation of the agent CA (and, the same way, of the internal CA: `internal-ca.*`,
 * `internal-rotation.json`, whose primary signs each node's certificate), as Teleport does it, so a leaked or ageing CA is replaced in
 * an afternoon with no agent going dark: `standby → init → update-clients → update-servers →
 * standby`, each phase idempotent, and `rollback` (then `standby`) possible until the end.
 *
 * On disk (`<data-dir>/ca`): `agent-ca.{pem,key}` is always the *primary* CA — the one that signs
 * the control/data server certificate, whose pin enrollment tokens carry and which signs
 * enrollments; during a rotation `agent-ca.secondary.{pem,key}` is the other CA, trusted too.
 * `agent-rotation.json` holds the phase and which pin is which (the commit point of a change).
 *
 * | phase          | primary | secondary | renewals signed by | trusted          |
 * | -------------- | ------- | --------- | ------------------ | ---------------- |
 * | standby        | current | —         | primary            | primary          |
 * | init           | old     | new       | primary (old)      | both             |
 * | update-clients | old     | new       | secondary (new)    | both             |
 * | update-servers | new     | old       | primary (new)      | both             |
 * | rollback       | old     | new       | primary (old)      | both             |
 *
 * Agents learn the trusted bundle over their control stream (CertificatePolicy) and are asked to
 * renew when their certificate is not from the CA that signs renewals, so in update-clients every
 * connected agent moves to the new CA, and after rollback back to the old one, without dropping
 * its stream. `standby` after update-servers drops the old CA (archived as
 * `agent-ca.retired.pem`); after rollback it drops the new one.
 * @module
 */
import { join } from "node:path";
import { z } from "zod";
import { createCA, type KeyAndCert, spkiPin } from "../shared/crypto/pki.ts";
import { writePublicFile, writeSecretFile } from "../shared/crypto/files.ts";

/** The phases of a rotation. */
export const PHASES = ["standby", "init", "update-clients", "update-servers", "rollback"] as const;
/** One phase. */
export type Phase = typeof PHASES[number];

/** Which phase may follow which (besides staying in the same one, always allowed). */
const NEXT: Record<Phase, Phase[]> = {
  standby: ["init"],
  init: ["update-clients", "rollback"],
  "update-clients": ["update-servers", "rollback"],
  "update-servers": ["standby", "rollback"],
  rollback: ["standby"],
};

const rotationSchema = z.object({
  phase: z.enum(PHASES),
  /** Pin of the CA being replaced, and of its replacement (null in standby). */
  oldPin: z.string().nullable(),
  newPin: z.string().nullable(),
  changedAt: z.string(),
});

/** The rotation record. */
export type Rotation = z.infer<typeof rotationSchema>;

/** A CA with its pin. */
export interface PinnedCa extends KeyAndCert {
  pin: string;
}

/** The agent CAs as the cloud uses them in the current phase. */
export interface AgentCas {
  phase: Phase;
  /** Signs the server certificate and enrollments; its pin is in enrollment tokens. */
  primary: PinnedCa;
  /** The other trusted CA during a rotation. */
  secondary: PinnedCa | null;
  /** Signs renewed agent certificates in this phase. */
  renewals: PinnedCa;
  /** The old CA during a rotation (null in standby). */
  old: PinnedCa | null;
  /** The PEM bundle agents and the control listener trust (primary first). */
  trustPem: string;
}

/** A refused transition, in words for the operator. */
export class RotationError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "RotationError";
  }
}

/** The CAs that rotate: the agent CA, and the internal (node-to-node) CA. */
export const CA_KINDS = ["agent", "internal"] as const;
/** One of {@linkcode CA_KINDS}. */
export type CaKind = typeof CA_KINDS[number];

/** The file names of a CA kind's rotation. */
function files(kind: CaKind) {
  return {
    primary: `${kind}-ca`,
    secondary: `${kind}-ca.secondary`,
    retired: `${kind}-ca.retired`,
    state: `${kind}-rotation.json`,
    commonName: kind === "agent" ? "Nanodems Connector Agent CA" : "Nanodems Connector Internal CA",
  };
}

/**
 * Reads a CA's certificate and key; with `keyOptional`, a certificate without its key is a CA
 * this host trusts but cannot sign with (`keyPem` ""), else null.
 */
async function readPair(dir: string, name: string, keyOptional = false): Promise<PinnedCa | null> {
  try {
    const certPem = await Deno.readTextFile(join(dir, `${name}.pem`));
    const keyPem = await Deno.readTextFile(join(dir, `${name}.key`)).catch((e) => {
      if (keyOptional && e instanceof Deno.errors.NotFound) return "";
      throw e;
    });
    return { certPem, keyPem, pin: await spkiPin(certPem) };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

async function writePair(dir: string, name: string, ca: KeyAndCert): Promise<void> {
  await writeSecretFile(join(dir, `${name}.key`), ca.keyPem);
  await writePublicFile(join(dir, `${name}.pem`), ca.certPem);
}

async function removePair(dir: string, name: string): Promise<void> {
  for (const ext of ["pem", "key"]) {
    await Deno.remove(join(dir, `${name}.${ext}`)).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}

/** The rotation record (standby with no pins when none was ever started). */
export async function readRotation(caDir: string, kind: CaKind = "agent"): Promise<Rotation> {
  try {
    const text = await Deno.readTextFile(join(caDir, files(kind).state));
    return rotationSchema.parse(JSON.parse(text));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return { phase: "standby", oldPin: null, newPin: null, changedAt: "" };
    }
    throw e;
  }
}

/** Loads the agent CAs of the current phase from `<dataDir>/ca`. */
export function loadAgentCas(dataDir: string): Promise<AgentCas> {
  return loadCas(dataDir, "agent");
}

/**
 * Loads the CAs of `kind` in its current rotation phase from `<dataDir>/ca`. The internal CA may
 * be there without its keys (a node given its certificate by `admin node-cert`): then each
 * `keyPem` is "".
 */
export async function loadCas(dataDir: string, kind: CaKind): Promise<AgentCas> {
  const dir = join(dataDir, "ca");
  const f = files(kind);
  const r = await readRotation(dir, kind);
  const keyOptional = kind === "internal";
  const primary = await readPair(dir, f.primary, keyOptional);
  if (!primary) throw new RotationError(`no ${kind} CA in ${dir}`);
  const secondary = r.phase === "standby" ? null : await readPair(dir, f.secondary, keyOptional);
  if (r.phase !== "standby" && !secondary) {
    throw new RotationError(`rotation phase ${r.phase} but no secondary ${kind} CA in ${dir}`);
  }
  const renewals = r.phase === "update-clients" ? secondary! : primary;
  const old = secondary ? (secondary.pin === r.oldPin ? secondary : primary) : null;
  return {
    phase: r.phase,
    primary,
    secondary,
    renewals,
    old,
    trustPem: secondary ? primary.certPem + secondary.certPem : primary.certPem,
  };
}

/** {@linkcode rotateCa} for the agent CA. */
export function rotateAgentCa(dataDir: string, target: Phase, now = new Date()): Promise<Rotation> {
  return rotateCa(dataDir, "agent", target, now);
}

/**
 * Moves the rotation of the `kind` CA to `target`. Idempotent (asking for the current phase
 * changes nothing); refuses transitions the table does not allow. Returns the new record.
 */
export async function rotateCa(
  dataDir: string,
  kind: CaKind,
  target: Phase,
  now = new Date(),
): Promise<Rotation> {
  const dir = join(dataDir, "ca");
  const FILES = files(kind);
  const r = await readRotation(dir, kind);
  if (r.phase === target) return r;
  if (!NEXT[r.phase].includes(target)) {
    throw new RotationError(
      `cannot go from ${r.phase} to ${target}; next: ${NEXT[r.phase].join(" or ")}`,
    );
  }
  const primary = await readPair(dir, FILES.primary);
  if (!primary) throw new RotationError(`no ${kind} CA in ${dir}`);
  const secondary = await readPair(dir, FILES.secondary);
  /** Puts the CA with pin `pin` in the primary files (swapping when needed). */
  const primaryMustBe = async (pin: string) => {
    if (primary.pin === pin) return;
    if (!secondary || secondary.pin !== pin) throw new RotationError("rotation CA files missing");
    // Both written before the record changes; re-running the command finds them in place.
    await writePair(dir, FILES.secondary, primary);
    await writePair(dir, FILES.primary, secondary);
  };
  let next: Rotation;
  switch (target) {
    case "init": {
      const fresh = await createCA({ commonName: `${FILES.commonName} ${now.getTime()}` });
      await writePair(dir, FILES.secondary, fresh);
      next = {
        phase: target,
        oldPin: primary.pin,
        newPin: await spkiPin(fresh.certPem),
        changedAt: "",
      };
      break;
    }
    case "update-clients":
      next = { ...r, phase: target };
      break;
    case "update-servers":
      await primaryMustBe(r.newPin!);
      next = { ...r, phase: target };
      break;
    case "rollback":
      await primaryMustBe(r.oldPin!);
      next = { ...r, phase: target };
      break;
    case "standby": {
      // After update-servers the new CA stays; after rollback the old one does.
      const keep = r.phase === "rollback" ? r.oldPin! : r.newPin!;
      await primaryMustBe(keep);
      const dropped = await readPair(dir, FILES.secondary);
      if (dropped) await writePair(dir, FILES.retired, dropped);
      await removePair(dir, FILES.secondary);
      next = { phase: "standby", oldPin: null, newPin: null, changedAt: "" };
      break;
    }
  }
  next.changedAt = now.toISOString();
  await writePublicFile(join(dir, FILES.state), JSON.stringify(next, null, 2) + "\n");
  return next;
}

/** The pins enrollment tokens carry now: the primary's, then the other CA's during a rotation. */
export function tokenPins(cas: AgentCas): string {
  return [cas.primary.pin, ...(cas.secondary ? [cas.secondary.pin] : [])].join(",");
}

/** The path whose change tells a running cloud to reload the CAs of `kind`. */
export function rotationStatePath(dataDir: string, kind: CaKind = "agent"): string {
  return join(dataDir, "ca", files(kind).state);
}
