/**
 * The MongoDB store's agent statistics (guide §9): the day totals each agent last reported,
 * the per-hour deltas derived from them (the source of truth), the daily rows the background
 * jobs roll up, and the janitor's purge. Split from `mongo.ts` to keep each part one concept.
 * @module
 */
import type { Document, Filter } from "mongodb";
import { counterDeltas, dayOf, dayStart, hourOf } from "./rules.ts";
import { C, FIELDS, isDuplicateKey, MongoBase, pickOrNull, upsert } from "./mongo_schema.ts";
import type {
  AgentCounters,
  AgentDailyStat,
  AgentHourlyStat,
  PurgeCounts,
  PurgeCutoffs,
} from "./store.ts";

/** Agent counters, hourly and daily rows, and the purge, over one database. */
export class MongoStats extends MongoBase {
  async recordAgentCounters(
    input: Omit<AgentCounters, "at">,
  ): Promise<{ bytesUp: number; bytesDown: number; tunnels: number }> {
    const zero = { bytesUp: 0, bytesDown: 0, tunnels: 0 };
    for (let attempt = 0; attempt < 20; attempt++) {
      const now = this.now();
      const prevDoc = await this.c(C.agentCounters).findOne({ _id: input.agentId as never });
      const prev = pickOrNull<AgentCounters>(prevDoc, FIELDS.agentCounters);
      const d = counterDeltas(input, prev);
      if (d === "stale") return zero;
      const next = { ...input, at: now, rev: ((prevDoc?.rev as number | undefined) ?? 0) + 1 };
      // Step 1 is a compare-and-set on the previous report's revision, so of two concurrent
      // reports only one computes each delta (the other retries on fresh totals). Step 2 adds
      // the delta to the hour. A crash between them loses that delta from the hour (an
      // undercount of one heartbeat); it can never be counted twice.
      try {
        const r = prevDoc
          ? await this.c(C.agentCounters).replaceOne(
            { _id: input.agentId as never, rev: prevDoc.rev },
            next,
          )
          : await this.c(C.agentCounters).insertOne({ _id: input.agentId as never, ...next });
        if ("matchedCount" in r && r.matchedCount === 0) continue;
      } catch (e) {
        if (isDuplicateKey(e)) continue;
        throw e;
      }
      if (d.bytesUp || d.bytesDown || d.tunnels) {
        const hour = hourOf(now);
        await upsert(() =>
          this.c(C.hourly).updateOne(
            { _id: `${input.agentId}|${hour}` as never },
            {
              $inc: { bytesUp: d.bytesUp, bytesDown: d.bytesDown, tunnels: d.tunnels },
              $setOnInsert: { agentId: input.agentId, tenantId: input.tenantId, hour },
            },
            { upsert: true },
          )
        );
      }
      return d;
    }
    throw new Error(`agent ${input.agentId}: counters changed too often to record`);
  }

  async getAgentCounters(agentId: string): Promise<AgentCounters | null> {
    return pickOrNull(
      await this.c(C.agentCounters).findOne({ _id: agentId as never }),
      FIELDS.agentCounters,
    );
  }

  listAgentHourlyStats(
    tenantId: string,
    agentId: string,
    sinceMs: number,
  ): Promise<AgentHourlyStat[]> {
    return this.list(C.hourly, { tenantId, agentId, hour: { $gte: sinceMs } }, FIELDS.hourly, {
      hour: 1,
    });
  }

  /** See {@linkcode Store.listHourlyStatsOf}. */
  listHourlyStatsOf(
    tenantId: string,
    agentIds: string[],
    sinceMs: number,
  ): Promise<AgentHourlyStat[]> {
    return this.list(
      C.hourly,
      { tenantId, agentId: { $in: agentIds }, hour: { $gte: sinceMs } },
      FIELDS.hourly,
      { agentId: 1, hour: 1 },
    );
  }

  async addHourToDaily(hour: number): Promise<number> {
    const day = dayOf(hour);
    const rows = await this.c(C.hourly).find({ hour }).toArray();
    // One $inc per agent: the caller holds the hourly-rollup lock, so no other node adds the
    // same hour. A crash part-way leaves some agents' day short by this hour, which the daily
    // reconciliation (sum of hourly) repairs.
    for (const r of rows) {
      await upsert(() =>
        this.c(C.daily).updateOne(
          { _id: `${r.agentId}|${day}` as never },
          {
            $inc: { bytesUp: r.bytesUp, bytesDown: r.bytesDown, tunnels: r.tunnels },
            $setOnInsert: { agentId: r.agentId, tenantId: r.tenantId, day },
          },
          { upsert: true },
        )
      );
    }
    return rows.length;
  }

  async reconcileDailyStats(day: string): Promise<number> {
    const from = dayStart(day);
    const sums = new Map<string, AgentDailyStat>();
    const rows = this.c(C.hourly).find({ hour: { $gte: from, $lt: from + 86_400_000 } });
    for await (const r of rows) {
      const t = sums.get(r.agentId) ??
        { agentId: r.agentId, tenantId: r.tenantId, day, bytesUp: 0, bytesDown: 0, tunnels: 0 };
      t.bytesUp += r.bytesUp;
      t.bytesDown += r.bytesDown;
      t.tunnels += r.tunnels;
      sums.set(r.agentId, t);
    }
    // Each agent's row is set (not added to), so running this again, or on two nodes, or after
    // a crash part-way, converges on the same totals.
    for (const t of sums.values()) {
      await upsert(() =>
        this.c(C.daily).replaceOne({ _id: `${t.agentId}|${day}` as never }, t, { upsert: true })
      );
    }
    return sums.size;
  }

  listAgentDailyStats(
    tenantId: string,
    agentId: string,
    sinceDay: string,
  ): Promise<AgentDailyStat[]> {
    return this.list(C.daily, { tenantId, agentId, day: { $gte: sinceDay } }, FIELDS.daily, {
      day: 1,
    });
  }

  async purgeExpired(cutoffs: PurgeCutoffs): Promise<PurgeCounts> {
    const now = this.now();
    const del = async (coll: string, filter: Filter<Document>) =>
      (await this.c(coll).deleteMany(filter)).deletedCount;
    // Independent deletes of records nothing points to once expired; a crash part-way leaves
    // the rest for the next run.
    return {
      hourly: await del(C.hourly, { hour: { $lt: cutoffs.hourlyBefore } }),
      daily: await del(C.daily, { day: { $lt: cutoffs.dailyBefore } }),
      webSessions: await del(C.webSessions, { expiresAt: { $lte: now } }),
      cliSessions: await del(C.cliSessions, {
        $or: [
          { expiresAt: { $lt: cutoffs.cliSessionsBefore } },
          { revokedAt: { $ne: null, $lt: cutoffs.cliSessionsBefore } },
        ],
      }),
      enrollmentTokens: await del(C.enrollmentTokens, { usedAt: null, expiresAt: { $lte: now } }),
      presence: await del(C.presence, { expiresAt: { $lte: now } }),
      locks: await del(C.locks, { expiresAt: { $lte: now } }),
      rateWindows: await del(C.rateWindows, { expiresAt: { $lte: now } }),
    };
  }
}
