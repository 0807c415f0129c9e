/**
 * The MongoDB store's browser-terminal records: SSH host keys pinned per (device, port), each
 * tenant's terminal policy, and session recordings (asciicast text with what it belongs to).
 * Each write is one single-document operation; split from `mongo.ts` to keep each part one
 * concept.
 * @module
 */
import { C, FIELDS, MongoBase, nextOrd, pick, pickOrNull, SECURE, upsert } from "./mongo_schema.ts";
import type { SshHostKey, TerminalPolicy, TerminalRecording } from "./store.ts";

/** Host key pins, terminal policies and recordings over one database. */
export class MongoTerminal extends MongoBase {
  async getSshHostKey(tenantId: string, deviceId: string, port: number) {
    return pickOrNull<SshHostKey>(
      await this.c(C.sshHostKeys).findOne({ _id: `${deviceId}:${port}` as never, tenantId }),
      FIELDS.sshHostKey,
    );
  }

  async putSshHostKey(pin: SshHostKey): Promise<boolean> {
    const device = await this.c(C.devices).findOne({
      _id: pin.deviceId as never,
      tenantId: pin.tenantId,
    });
    if (!device) return false;
    // As with device credentials: a delete racing between the check and the upsert can leave
    // the pin of a gone device under its never-reused id, which nothing reaches again.
    await upsert(() =>
      this.c(C.sshHostKeys).updateOne(
        { _id: `${pin.deviceId}:${pin.port}` as never },
        { $set: { ...pin } },
        { upsert: true, ...SECURE },
      )
    );
    return true;
  }

  async getTerminalPolicy(tenantId: string): Promise<TerminalPolicy | null> {
    return pickOrNull<TerminalPolicy>(
      await this.c(C.terminalPolicies).findOne({ _id: tenantId as never }),
      FIELDS.terminalPolicy,
    );
  }

  async putTerminalPolicy(tenantId: string, policy: TerminalPolicy): Promise<void> {
    const set = pick<TerminalPolicy>(
      policy as unknown as Record<string, unknown>,
      FIELDS.terminalPolicy,
    );
    await upsert(() =>
      this.c(C.terminalPolicies).updateOne(
        { _id: tenantId as never },
        { $set: { ...set, tenantId } },
        { upsert: true, ...SECURE },
      )
    );
  }

  async putRecording(rec: TerminalRecording): Promise<void> {
    await this.c(C.recordings).insertOne({ _id: rec.id as never, ...rec, ord: nextOrd() });
  }

  async getRecording(tenantId: string, id: string): Promise<TerminalRecording | null> {
    return pickOrNull<TerminalRecording>(
      await this.c(C.recordings).findOne({ _id: id as never, tenantId }),
      [...FIELDS.recording, "cast"],
    );
  }

  async listRecordings(
    tenantId: string,
    opts: { deviceId?: string; limit?: number } = {},
  ): Promise<Omit<TerminalRecording, "cast">[]> {
    const limit = Math.min(Math.max(opts.limit ?? 100, 1), 1000);
    const docs = await this.c(C.recordings)
      .find({ tenantId, ...(opts.deviceId ? { deviceId: opts.deviceId } : {}) })
      .project({ cast: 0 })
      .sort({ endedAt: -1, ord: -1 })
      .limit(limit)
      .toArray();
    return docs.map((d) => pick<Omit<TerminalRecording, "cast">>(d, FIELDS.recording));
  }

  async deleteRecordingsBefore(tenantId: string, before: number): Promise<number> {
    const r = await this.c(C.recordings).deleteMany({ tenantId, endedAt: { $lt: before } });
    return r.deletedCount;
  }
}
