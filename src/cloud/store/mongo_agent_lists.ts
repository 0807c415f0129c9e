/**
 * The MongoDB store's paged agent reads: a page of a tenant's agents matching a search
 * (skip/limit in the query on the `tenant_created` index), every agent a page at a time by id
 * for background passes, each site's counts, and the presence and day totals of a page of
 * agents in one query each. A tenant of thousands of agents is then never read whole for one
 * screen, and a pass over all agents costs a few round trips per page instead of one per site.
 * Split from `mongo.ts` to keep each part one concept.
 * @module
 */
import type { Document, Filter } from "mongodb";
import { C, FIELDS, MongoBase, pick } from "./mongo_schema.ts";
import { escapeRegex, listSearch, pageBounds } from "./rules.ts";
import type {
  Agent,
  AgentCounters,
  AgentCounts,
  AgentPage,
  AgentQuery,
  Presence,
} from "./store.ts";

/** How many ids one `$in` carries (a page of 1000 is one query; more are split). */
const IN_CHUNK = 1000;

/** An agent stored before agents had a console name reads with an empty one. */
export function labelled(a: Agent): Agent {
  return { ...a, label: a.label ?? "" };
}

/** Presence written by a node from before `dataBlocked` has none: "" (nothing known). */
export function withDataBlocked(p: Presence): Presence {
  return p.dataBlocked === null ? { ...p, dataBlocked: "" } : p;
}

const asAgent = (doc: Document) => labelled(pick<Agent>(doc, FIELDS.agent));
const asPresence = (doc: Document) => withDataBlocked(pick<Presence>(doc, FIELDS.presence));

/** Paged agent lists over one database. */
export class MongoAgentLists extends MongoBase {
  /** See {@linkcode Store.queryAgents}. */
  async queryAgents(tenantId: string, query: AgentQuery): Promise<AgentPage> {
    const { offset, limit } = pageBounds(query);
    const search = listSearch(query.search);
    const filter: Filter<Document> = { tenantId };
    if (query.siteId !== undefined) filter.siteId = query.siteId;
    if (query.activeOnly) filter.revokedAt = null;
    if (search !== null) {
      const re = { $regex: escapeRegex(search), $options: "i" };
      const sites = await this.c(C.sites).find({ tenantId, name: re }, { projection: { _id: 1 } })
        .toArray();
      filter.$or = [
        ...["label", "hostname", "id", "version"].map((f) => ({ [f]: re })),
        { siteId: { $in: sites.map((s) => String(s._id)) } },
      ];
    }
    const docs = await this.c(C.agents).find(filter).sort({ createdAt: 1, ord: 1 })
      .skip(offset).limit(limit).toArray();
    return {
      agents: docs.map(asAgent),
      total: await this.c(C.agents).countDocuments(filter),
    };
  }

  /** See {@linkcode Store.scanAgents}. */
  async scanAgents(afterId: string | null, limit: number): Promise<Agent[]> {
    const n = Math.max(0, Math.floor(limit));
    if (n === 0) return [];
    const filter: Filter<Document> = { revokedAt: null };
    if (afterId !== null) filter._id = { $gt: afterId as never };
    const docs = await this.c(C.agents).find(filter).sort({ _id: 1 }).limit(n).toArray();
    return docs.map(asAgent);
  }

  /** See {@linkcode Store.countAgentsBySite}. */
  async countAgentsBySite(
    tenantId: string,
    siteIds?: string[],
  ): Promise<Record<string, AgentCounts>> {
    const out: Record<string, AgentCounts> = {};
    const only = siteIds === undefined ? {} : { siteId: { $in: siteIds } };
    const groups = await this.c(C.agents).aggregate([
      { $match: { tenantId, revokedAt: null, ...only } },
      { $group: { _id: "$siteId", n: { $sum: 1 } } },
    ]).toArray();
    for (const g of groups) {
      out[String(g._id)] = { agents: Number(g.n), online: 0, activeStreams: 0 };
    }
    const live = await this.c(C.presence).find(
      { tenantId, expiresAt: { $gt: this.now() }, ...only },
      { projection: { _id: 1, siteId: 1, activeStreams: 1 } },
    ).toArray();
    // Presence of a revoked agent (a heartbeat racing the revocation) does not count.
    const revoked = new Set<string>();
    for (const ids of chunks(live.map((p) => String(p._id)))) {
      const docs = await this.c(C.agents).find(
        { _id: { $in: ids as never[] }, revokedAt: { $ne: null } },
        { projection: { _id: 1 } },
      ).toArray();
      for (const d of docs) revoked.add(String(d._id));
    }
    for (const p of live) {
      const site = out[String(p.siteId)];
      if (!site || revoked.has(String(p._id))) continue;
      site.online++;
      site.activeStreams += Number(p.activeStreams) || 0;
    }
    return out;
  }

  /** See {@linkcode Store.getPresenceOf}. */
  async getPresenceOf(agentIds: string[]): Promise<Presence[]> {
    const out: Presence[] = [];
    for (const ids of chunks(agentIds)) {
      const docs = await this.c(C.presence).find({
        _id: { $in: ids as never[] },
        expiresAt: { $gt: this.now() },
      }).toArray();
      out.push(...docs.map(asPresence));
    }
    return out.sort((a, b) => a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0);
  }

  /** See {@linkcode Store.getAgentCountersOf}. */
  async getAgentCountersOf(agentIds: string[]): Promise<AgentCounters[]> {
    const out: AgentCounters[] = [];
    for (const ids of chunks(agentIds)) {
      const docs = await this.c(C.agentCounters).find({ _id: { $in: ids as never[] } }).toArray();
      out.push(...docs.map((d) => pick<AgentCounters>(d, FIELDS.agentCounters)));
    }
    return out.sort((a, b) => a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0);
  }
}

/** `ids` in runs of at most IN_CHUNK. */
function chunks(ids: string[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < ids.length; i += IN_CHUNK) out.push(ids.slice(i, i + IN_CHUNK));
  return out;
}
