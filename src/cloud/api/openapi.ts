/**
 * `GET /api/openapi.json`: the API described from the running app itself — the paths and methods
 * hono actually routes, with request bodies and queries converted from the same zod schemas the
 * routes validate with (`schemas.ts`). Nothing here is written twice.
 * @module
 */
import { z } from "zod";
import { VERSION } from "../../shared/version.ts";
import { BODIES, QUERIES } from "./schemas.ts";

const ERROR = {
  type: "object",
  required: ["error", "message"],
  properties: { error: { type: "string" }, message: { type: "string" } },
};

function toOpenApiPath(p: string): string {
  return p.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

/** Builds the OpenAPI 3.1 document of an app. */
export function openApiDocument(
  app: { routes: { method: string; path: string }[] },
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of app.routes) {
    if (r.method === "ALL" || !r.path.startsWith("/api/") || r.path.includes("*")) continue;
    const method = r.method.toLowerCase();
    const key = `${r.method} ${r.path}`;
    const path = toOpenApiPath(r.path);
    const params = [...r.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    const q = QUERIES[key];
    if (q) {
      const json = z.toJSONSchema(q, { io: "input" }) as { properties?: Record<string, unknown> };
      for (const [name, schema] of Object.entries(json.properties ?? {})) {
        params.push({ name, in: "query", required: false, schema: schema as { type: string } });
      }
    }
    const body = BODIES[key];
    (paths[path] ??= {})[method] = {
      operationId: `${method}_${r.path.replace(/[^A-Za-z0-9]+/g, "_").replace(/^_|_$/g, "")}`,
      ...(params.length ? { parameters: params } : {}),
      ...(body
        ? {
          requestBody: {
            required: true,
            content: { "application/json": { schema: z.toJSONSchema(body, { io: "input" }) } },
          },
        }
        : {}),
      responses: {
        "200": { description: "OK" },
        default: {
          description: "An error: {error, message}",
          content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
        },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "Nanodems Connector cloud API", version: VERSION },
    components: {
      schemas: { Error: ERROR },
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "nt_… API token or ops_… CLI session",
        },
        session: { type: "apiKey", in: "cookie", name: "nc_session" },
        license: { type: "apiKey", in: "header", name: "X-License" },
        partnerKey: { type: "apiKey", in: "header", name: "X-API-Key" },
        adminKey: { type: "apiKey", in: "header", name: "X-Admin-Api-Key" },
      },
    },
    paths,
  };
}
