/**
 * The MongoDB store's people and credentials: users (emails unique by index), API tokens, web
 * and CLI sessions, partner API keys and licenses. Only hashes are stored; every write that
 * grants or withdraws access uses write concern majority. Split from `mongo.ts` by concept.
 * @module
 */
import { newId } from "../../shared/ids.ts";
import { newApiTokenRecord, newUserRecord, normalizeEmail } from "./rules.ts";
import {
  C,
  FIELDS,
  isDuplicateKey,
  MongoBase,
  nextOrd,
  pickOrNull,
  SECURE,
} from "./mongo_schema.ts";
import type {
  ApiKey,
  ApiToken,
  CliSession,
  License,
  User,
  UserInvite,
  WebSession,
} from "./store.ts";

/** Users, tokens, sessions, API keys and licenses over one database. */
export class MongoCredentials extends MongoBase {
  async createUser(input: Omit<User, "id" | "createdAt" | "disabledAt">): Promise<User> {
    const user = newUserRecord(input, newId("u"), this.now());
    try {
      await this.c(C.users).insertOne({ _id: user.id as never, ...user, ord: nextOrd() }, SECURE);
    } catch (e) {
      if (isDuplicateKey(e)) {
        throw new Error(`a user with email ${user.email} already exists`, { cause: e });
      }
      throw e;
    }
    return user;
  }

  async getUser(id: string): Promise<User | null> {
    return pickOrNull(await this.c(C.users).findOne({ _id: id as never }), FIELDS.user);
  }

  async getUserByEmail(email: string): Promise<User | null> {
    return pickOrNull(
      await this.c(C.users).findOne({ email: normalizeEmail(email) }),
      FIELDS.user,
    );
  }

  listUsers(tenantId: string): Promise<User[]> {
    return this.list(C.users, { tenantId }, FIELDS.user, { createdAt: 1, ord: 1 });
  }

  async updateUser(
    tenantId: string,
    id: string,
    patch: Partial<Pick<User, "passwordHash" | "role" | "disabledAt">>,
  ): Promise<User | null> {
    const set: Record<string, unknown> = {};
    if (patch.passwordHash !== undefined) set.passwordHash = patch.passwordHash;
    if (patch.role !== undefined) set.role = patch.role;
    if (patch.disabledAt !== undefined) set.disabledAt = patch.disabledAt;
    if (!Object.keys(set).length) {
      return pickOrNull(await this.c(C.users).findOne({ _id: id as never, tenantId }), FIELDS.user);
    }
    return pickOrNull(
      await this.c(C.users).findOneAndUpdate(
        { _id: id as never, tenantId },
        { $set: set },
        { returnDocument: "after", ...SECURE },
      ),
      FIELDS.user,
    );
  }

  async createUserInvite(
    input: Omit<UserInvite, "createdAt" | "usedAt">,
  ): Promise<UserInvite> {
    const invite: UserInvite = { ...input, createdAt: this.now(), usedAt: null };
    await this.c(C.userInvites).insertOne(
      { _id: invite.hash as never, ...invite, ord: nextOrd() },
      SECURE,
    );
    return invite;
  }

  async getUserInvite(hash: string): Promise<UserInvite | null> {
    return pickOrNull(
      await this.c(C.userInvites).findOne({ _id: hash as never }),
      FIELDS.userInvite,
    );
  }

  async consumeUserInvite(hash: string, passwordHash: string): Promise<User | null> {
    const now = this.now();
    // The claim first (one conditional update: of concurrent uses exactly one matches), then the
    // user's other open links, then the password. A crash after the claim leaves a spent link
    // and the old password: the admin hands out a new link; nothing is granted.
    const claimed = await this.c(C.userInvites).findOneAndUpdate(
      { _id: hash as never, usedAt: null, expiresAt: { $gt: now } },
      { $set: { usedAt: now } },
      { returnDocument: "after", ...SECURE },
    );
    if (!claimed) return null;
    await this.c(C.userInvites).updateMany(
      { userId: claimed.userId, usedAt: null },
      { $set: { usedAt: now } },
      SECURE,
    );
    return pickOrNull(
      await this.c(C.users).findOneAndUpdate(
        { _id: claimed.userId as never, tenantId: claimed.tenantId },
        { $set: { passwordHash, disabledAt: null } },
        { returnDocument: "after", ...SECURE },
      ),
      FIELDS.user,
    );
  }

  async createApiToken(
    input: Omit<ApiToken, "createdAt" | "lastUsedAt" | "revokedAt">,
  ): Promise<ApiToken> {
    const token = newApiTokenRecord(input, this.now());
    await this.c(C.apiTokens).insertOne(
      { _id: token.hash as never, ...token, ord: nextOrd() },
      SECURE,
    );
    return token;
  }

  async getApiToken(hash: string): Promise<ApiToken | null> {
    return pickOrNull(await this.c(C.apiTokens).findOne({ _id: hash as never }), FIELDS.apiToken);
  }

  listApiTokens(tenantId: string, userId: string): Promise<ApiToken[]> {
    return this.list(C.apiTokens, { tenantId, userId }, FIELDS.apiToken, {
      createdAt: 1,
      ord: 1,
    });
  }

  async touchApiToken(hash: string): Promise<void> {
    await this.c(C.apiTokens).updateOne(
      { _id: hash as never },
      { $set: { lastUsedAt: this.now() } },
    );
  }

  revokeApiToken(tenantId: string, hash: string): Promise<boolean> {
    return this.stamp(C.apiTokens, { _id: hash as never, tenantId }, "revokedAt");
  }

  async createWebSession(input: Omit<WebSession, "createdAt">): Promise<WebSession> {
    const s: WebSession = { ...input, createdAt: this.now() };
    await this.c(C.webSessions).insertOne({ _id: s.hash as never, ...s }, SECURE);
    return s;
  }

  async getWebSession(hash: string): Promise<WebSession | null> {
    return pickOrNull(
      await this.c(C.webSessions).findOne({
        _id: hash as never,
        expiresAt: { $gt: this.now() },
      }),
      FIELDS.webSession,
    );
  }

  async deleteWebSession(hash: string): Promise<void> {
    await this.c(C.webSessions).deleteOne({ _id: hash as never }, SECURE);
  }

  async setWebSessionTenant(hash: string, tenantId: string): Promise<boolean> {
    const r = await this.c(C.webSessions).updateOne(
      { _id: hash as never },
      { $set: { tenantId } },
      SECURE,
    );
    return r.matchedCount > 0;
  }

  // CLI sessions and API keys

  async createCliSession(
    input: Omit<CliSession, "createdAt" | "lastUsedAt" | "revokedAt">,
  ): Promise<CliSession> {
    const s: CliSession = { ...input, createdAt: this.now(), lastUsedAt: null, revokedAt: null };
    await this.c(C.cliSessions).insertOne({ _id: s.hash as never, ...s, ord: nextOrd() }, SECURE);
    return s;
  }

  async getCliSession(hash: string): Promise<CliSession | null> {
    return pickOrNull(
      await this.c(C.cliSessions).findOne({ _id: hash as never }),
      FIELDS.cliSession,
    );
  }

  async listCliSessions(
    tenantId: string,
    filter: { siteId?: string; issuerRef?: string } = {},
  ): Promise<CliSession[]> {
    const all = await this.list<CliSession>(C.cliSessions, { tenantId }, FIELDS.cliSession, {
      createdAt: -1,
      ord: -1,
    });
    return all.filter((s) =>
      (!filter.siteId || s.siteIds.includes(filter.siteId)) &&
      (!filter.issuerRef || s.issuerRef === filter.issuerRef)
    );
  }

  async slideCliSession(hash: string, slideMs: number): Promise<CliSession | null> {
    const now = this.now();
    const cur = await this.getCliSession(hash);
    if (!cur) return null;
    // hardCapAt never changes, so min(now + slide, cap) can be computed here; `$max` keeps
    // concurrent slides monotonic, and the filter refuses a revoked or expired session.
    await this.c(C.cliSessions).updateOne(
      { _id: hash as never, revokedAt: null, expiresAt: { $gt: now } },
      { $max: { lastUsedAt: now, expiresAt: Math.min(now + slideMs, cur.hardCapAt) } },
    );
    return await this.getCliSession(hash);
  }

  revokeCliSession(tenantId: string, hash: string): Promise<boolean> {
    return this.stamp(C.cliSessions, { _id: hash as never, tenantId }, "revokedAt");
  }

  async revokeCliSessionsByIssuer(tenantId: string, issuerRef: string): Promise<number> {
    const r = await this.c(C.cliSessions).updateMany(
      { tenantId, issuerRef, revokedAt: null },
      { $set: { revokedAt: this.now() } },
      SECURE,
    );
    return r.modifiedCount;
  }

  async createApiKey(input: Omit<ApiKey, "id" | "createdAt" | "revokedAt">): Promise<ApiKey> {
    const k: ApiKey = { ...input, id: newId("key"), createdAt: this.now(), revokedAt: null };
    await this.c(C.apiKeys).insertOne({ _id: k.id as never, ...k, ord: nextOrd() }, SECURE);
    return k;
  }

  async getApiKeyByHash(hash: string): Promise<ApiKey | null> {
    return pickOrNull(await this.c(C.apiKeys).findOne({ hash }), FIELDS.apiKey);
  }

  listApiKeys(tenantId: string): Promise<ApiKey[]> {
    return this.list(C.apiKeys, { tenantId }, FIELDS.apiKey, { createdAt: 1, ord: 1 });
  }

  revokeApiKey(tenantId: string, id: string): Promise<boolean> {
    return this.stamp(C.apiKeys, { _id: id as never, tenantId }, "revokedAt");
  }

  async createLicense(input: { tenantId: string; hash: string }): Promise<License> {
    const license: License = {
      id: newId("lic"),
      tenantId: input.tenantId,
      hash: input.hash,
      createdAt: this.now(),
      revokedAt: null,
    };
    await this.c(C.licenses).insertOne(
      { _id: license.id as never, ...license, ord: nextOrd() },
      SECURE,
    );
    return license;
  }

  async getLicenseByHash(hash: string): Promise<License | null> {
    return pickOrNull(await this.c(C.licenses).findOne({ hash }), FIELDS.license);
  }

  listLicenses(tenantId: string): Promise<License[]> {
    return this.list(C.licenses, { tenantId }, FIELDS.license, { createdAt: 1, ord: 1 });
  }

  revokeLicense(tenantId: string, id: string): Promise<boolean> {
    return this.stamp(C.licenses, { _id: id as never, tenantId }, "revokedAt");
  }
}
