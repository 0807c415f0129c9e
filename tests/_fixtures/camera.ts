/**
 * A fake IP camera web UI for the browser-proxy tests, served on 127.0.0.1 (HTTP, or HTTPS with a
 * self-signed certificate). It behaves as camera firmware does: root-relative links in markup, an
 * absolute self-URL in a redirect, a session cookie set with Path=/ and a Domain, JavaScript that
 * builds root-relative API URLs at run time and calls them with fetch, XMLHttpRequest, WebSocket
 * and EventSource (Hikvision's /ISAPI, Dahua's /RPC2), a `location` assignment, Basic auth, an
 * MJPEG stream, a Digest-protected snapshot URL, ONVIF media services when asked
 * (onvif_service.ts), a streamed upload, a slow endpoint, and a hostile page. Every request it
 * receives is recorded, so tests can assert what reached the device (and what did not).
 * @module
 */
import { createHash } from "node:crypto";
import { opensslOk } from "./openssl.ts";
import { onvifAnswer, type OnvifOptions } from "./onvif_service.ts";

/** A request as the camera saw it. */
export interface SeenRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  bodyBytes: number;
}

/** A running camera. */
export interface Camera {
  port: number;
  scheme: "http" | "https";
  seen: SeenRequest[];
  close(): Promise<void>;
}

/** A 1×1 JPEG-ish frame (the bytes matter, not the picture). */
export const FRAME = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 0xff, 0xd9]);

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>` +
    `<link rel="stylesheet" href="/css/app.css"></head><body>${body}</body></html>`;
}

const APP_JS = `
function show(id, text) { var el = document.getElementById(id); if (el) el.textContent = text; }
var base = "/IS" + "API";
fetch(base + "/System/deviceInfo").then(r => r.text()).then(t => show("fetch", t), e => show("fetch", "ERR " + e));
var x = new XMLHttpRequest(); x.open("POST", "/RP" + "C2");
x.onload = function () { show("xhr", x.responseText); }; x.onerror = function () { show("xhr", "ERR"); };
x.setRequestHeader("content-type", "application/json"); x.send('{"method":"global.login"}');
var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/events");
ws.onmessage = function (m) { show("ws", m.data); }; ws.onopen = function () { ws.send("ping"); };
ws.onerror = function () { show("ws", "ERR"); };
var es = new EventSource("/events"); es.onmessage = function (m) { show("sse", m.data); es.close(); };
document.cookie = "lang=en; path=/";
`;

const EVIL_JS = `
// A hostile page does not play along with the shim: it takes pristine APIs from a fresh iframe.
const realm = document.createElement("iframe"); document.body.appendChild(realm);
const raw = realm.contentWindow;
const rawFetch = (u, o) => raw.fetch.call(window, new URL(u, location.href).href, o);
const other = new URLSearchParams(location.search).get("other");
async function attempt(id, fn) {
  try { document.getElementById(id).textContent = String(await fn()); }
  catch (e) { document.getElementById(id).textContent = "blocked: " + (e && e.name || e); }
}
attempt("api", async () => (await rawFetch("/api/auth/me", { credentials: "include" })).status);
attempt("api-noref", async () => (await rawFetch("/api/auth/me", { referrerPolicy: "no-referrer" })).status);
attempt("api-post", async () => (await rawFetch("/api/account/tokens", { method: "POST", headers: { "content-type": "application/json" }, body: '{"name":"stolen"}' })).status);
attempt("other", async () => (await rawFetch("/c/" + other + "/")).status);
attempt("other-noref", async () => (await rawFetch("/c/" + other + "/", { referrerPolicy: "no-referrer" })).status);
attempt("sw", async () => { await navigator.serviceWorker.register("sw.js"); return "registered"; });
attempt("sw-raw", async () => {
  await raw.ServiceWorkerContainer.prototype.register.call(navigator.serviceWorker, "sw.js");
  return "registered";
});
attempt("cookie", async () => {
  Object.getOwnPropertyDescriptor(raw.Document.prototype, "cookie").set.call(document, "nc_session=stolen; path=/");
  return "written";
});
attempt("frame", async () => {
  const f = document.createElement("iframe");
  Object.getOwnPropertyDescriptor(raw.HTMLIFrameElement.prototype, "src").set.call(f, location.origin + "/api/auth/me");
  document.body.appendChild(f);
  await new Promise(r => setTimeout(r, 1000));
  try { return "read: " + f.contentDocument.body.textContent; } catch (e) { return "blocked: " + e.name; }
});
attempt("popup", async () => {
  const w = raw.open(location.origin + "/login", "_blank");
  await new Promise(r => setTimeout(r, 1500));
  try { return "read: " + (w && w.document && w.document.title); } catch (e) { return "blocked: " + e.name; }
  finally { try { w.close(); } catch {} }
});
`;

const DIGEST_REALM = "IP Camera Digest";
const DIGEST_NONCE = "6b4e2f1c0d9a";
const md5 = (s: string) => createHash("md5").update(s).digest("hex");

/** Checks a Digest (MD5, qop=auth) answer for admin:12345, as camera firmware does. */
function checkDigest(method: string, header: string): boolean {
  const m = /^Digest\s+(.*)$/i.exec(header);
  if (!m) return false;
  const p: Record<string, string> = {};
  for (const part of m[1].matchAll(/(\w+)=("([^"]*)"|[^,\s]+)/g)) p[part[1]] = part[3] ?? part[2];
  if (p.username !== "admin" || p.realm !== DIGEST_REALM || p.nonce !== DIGEST_NONCE) return false;
  const ha1 = md5(`admin:${DIGEST_REALM}:12345`);
  const ha2 = md5(`${method}:${p.uri}`);
  return p.response === md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`);
}

const EVIL_ORIGIN_JS = `
// On its own origin a hostile page can only try other origins: the cloud's and another device's.
const q = new URLSearchParams(location.search);
async function attempt(id, fn) {
  try { document.getElementById(id).textContent = String(await fn()); }
  catch (e) { document.getElementById(id).textContent = "blocked: " + (e && e.name || e); }
}
attempt("api", async () => (await fetch(q.get("cloud") + "/api/auth/me", { credentials: "include" })).status);
attempt("api-post", async () => (await fetch(q.get("cloud") + "/api/account/tokens", { method: "POST", credentials: "include", headers: { "content-type": "text/plain" }, body: '{"name":"stolen"}' })).status);
attempt("other", async () => (await fetch(q.get("other") + "/", { credentials: "include" })).status);
attempt("frame", async () => {
  const f = document.createElement("iframe"); f.src = q.get("other") + "/"; document.body.appendChild(f);
  await new Promise(r => setTimeout(r, 1000));
  try { return "read: " + f.contentDocument.body.textContent; } catch (e) { return "blocked: " + e.name; }
});
attempt("sw", async () => { await navigator.serviceWorker.register("/sw.js"); return "registered"; });
`;

const SW_JS = `self.addEventListener("fetch", () => {});`;

/** Starts the camera. */
export function startCamera(
  opts: {
    tls?: { cert: string; key: string };
    port?: number;
    onvif?: OnvifOptions;
    /** The loopback address it listens on (default 127.0.0.1: another device of a site). */
    hostname?: string;
  } = {},
): Promise<Camera> {
  const seen: SeenRequest[] = [];
  const ac = new AbortController();
  const handler = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => (headers[k] = v));
    let bodyBytes = 0;
    const kept: Uint8Array[] = [];
    const keep = !!opts.onvif && url.pathname.startsWith("/onvif/");
    if (req.body && req.headers.get("upgrade") === null) {
      for await (const c of req.body) {
        bodyBytes += c.length;
        if (keep) kept.push(c);
      }
    }
    seen.push({ method: req.method, path: url.pathname + url.search, headers, bodyBytes });
    if (keep) {
      const dec = new TextDecoder();
      const text = kept.map((c) => dec.decode(c, { stream: true })).join("") + dec.decode();
      const soap = await onvifAnswer(url.pathname, text, opts.onvif!, () => req.signal);
      if (soap) return soap;
    }
    const self = `${opts.tls ? "https" : "http"}://${url.host}`;
    const html = (s: string, init: ResponseInit = {}) =>
      new Response(s, {
        ...init,
        headers: { "content-type": "text/html; charset=utf-8", ...(init.headers ?? {}) },
      });
    switch (url.pathname) {
      case "/":
        return html(page(
          "Camera",
          `<h1 id="title">IP Camera</h1>` +
            `<a id="cfg" href="/doc/page/config.asp">Config</a> ` +
            `<a id="abs" href="${self}/doc/page/abs.asp">Absolute</a> ` +
            `<img id="logo" src="/img/logo.png" alt="logo"> ` +
            `<form id="login" method="post" action="/login.cgi"><input name="user" value="admin">` +
            `<button id="go">Log in</button></form>` +
            `<div style="background:url(/img/bg.png)" id="styled"></div>` +
            `<p>fetch: <span id="fetch">…</span></p><p>xhr: <span id="xhr">…</span></p>` +
            `<p>ws: <span id="ws">…</span></p><p>sse: <span id="sse">…</span></p>` +
            `<script src="/js/app.js"></script>`,
        ));
      case "/js/app.js":
        return new Response(APP_JS, { headers: { "content-type": "application/javascript" } });
      case "/css/app.css":
        return new Response("body{background:url(/img/bg.png)} @import '/css/more.css';", {
          headers: { "content-type": "text/css" },
        });
      case "/img/logo.png":
      case "/img/bg.png":
        return new Response(FRAME, { headers: { "content-type": "image/png" } });
      case "/ISAPI/System/deviceInfo":
        return new Response("<DeviceInfo><model>DS-TEST</model></DeviceInfo>", {
          headers: { "content-type": "application/xml" },
        });
      case "/RPC2":
        return Response.json({ result: true, session: "rpc2-ok" });
      case "/events":
        return new Response("data: sse-ok\n\n", {
          headers: { "content-type": "text/event-stream" },
        });
      case "/ws/events": {
        // `?delay=ms` holds the 101 back (a camera slow to accept), for a client that writes early.
        const delay = Number(url.searchParams.get("delay") ?? "0");
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        const { socket, response } = Deno.upgradeWebSocket(req);
        socket.onmessage = (m) => socket.send(`ws-ok:${m.data}`);
        return response;
      }
      case "/ws/basic": {
        // A live event stream behind the camera's own Basic auth.
        if (req.headers.get("authorization") !== `Basic ${btoa("admin:12345")}`) {
          return new Response("auth needed", {
            status: 401,
            headers: { "www-authenticate": 'Basic realm="IP Camera"' },
          });
        }
        const { socket, response } = Deno.upgradeWebSocket(req);
        socket.onmessage = (m) => socket.send(`ws-basic-ok:${m.data}`);
        return response;
      }
      case "/login.cgi":
        return new Response(null, {
          status: 302,
          headers: [
            ["location", `${self}/doc/page/main.asp`],
            ["set-cookie", `WebSession=s3cr3t; Path=/; Domain=${url.hostname}; HttpOnly`],
            ["set-cookie", "__Host-evil=1; Path=/; Secure"],
            ["set-cookie", "nc_session=overwritten; Path=/"],
          ],
        });
      case "/doc/page/main.asp": {
        const ok = (req.headers.get("cookie") ?? "").includes("WebSession=s3cr3t");
        return html(page(
          "Main",
          `<p id="state">${ok ? "logged-in" : "no-session"}</p>` +
            `<script>setTimeout(function(){ location.href = "/doc/page/after.asp"; }, 10);</script>`,
        ));
      }
      case "/doc/page/after.asp":
        return html(page("After", `<p id="state">after-location</p>`));
      case "/doc/page/config.asp":
        return html(page("Config", `<p id="state">config</p>`));
      case "/live.html":
        // The camera's live view: its event stream is a WebSocket behind the camera's Basic auth.
        return html(page(
          "Live",
          `<p id="state">connecting</p><script>var w = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/basic");` +
            `w.onopen = function () { w.send("event"); }; w.onmessage = function (m) { document.getElementById("state").textContent = m.data; };` +
            `w.onerror = function () { document.getElementById("state").textContent = "ERR"; };</script>`,
        ));
      case "/basic": {
        const auth = req.headers.get("authorization");
        if (auth !== `Basic ${btoa("admin:12345")}`) {
          return new Response("auth needed", {
            status: 401,
            headers: { "www-authenticate": 'Basic realm="IP Camera"' },
          });
        }
        return html(page("Basic", `<p id="state">basic-ok</p>`));
      }
      case "/digest": {
        const ok = checkDigest(req.method, req.headers.get("authorization") ?? "");
        if (!ok) {
          return new Response("digest needed", {
            status: 401,
            headers: {
              "www-authenticate":
                `Digest realm="${DIGEST_REALM}", nonce="${DIGEST_NONCE}", qop="auth", algorithm=MD5`,
            },
          });
        }
        return html(page("Digest", `<p id="state">digest-ok</p>`));
      }
      case "/onvif-http/snapshot": // the snapshot URI ONVIF gives (onvif_service.ts)
      case "/ISAPI/Streaming/channels/101/picture": {
        // The camera's snapshot URL, behind the same Digest as /digest.
        if (!checkDigest(req.method, req.headers.get("authorization") ?? "")) {
          return new Response("digest needed", {
            status: 401,
            headers: {
              "www-authenticate":
                `Digest realm="${DIGEST_REALM}", nonce="${DIGEST_NONCE}", qop="auth", algorithm=MD5`,
            },
          });
        }
        return new Response(FRAME, { headers: { "content-type": "image/jpeg" } });
      }
      case "/mjpeg": {
        const frames = Number(url.searchParams.get("frames") ?? "3");
        const gapMs = Number(url.searchParams.get("gap") ?? "100");
        const enc = new TextEncoder();
        let n = 0;
        const body = new ReadableStream<Uint8Array>({
          async pull(ctl) {
            if (n === frames) return ctl.close();
            if (n > 0) await new Promise((r) => setTimeout(r, gapMs));
            ctl.enqueue(
              enc.encode(
                `--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${FRAME.length}\r\n\r\n`,
              ),
            );
            ctl.enqueue(FRAME);
            ctl.enqueue(enc.encode("\r\n"));
            n++;
          },
        });
        return new Response(body, {
          headers: { "content-type": "multipart/x-mixed-replace; boundary=frame" },
        });
      }
      case "/upload":
        return Response.json({ received: bodyBytes });
      case "/headers":
        return Response.json(headers);
      case "/redirect": {
        // Whatever redirect headers the test asks for, as a hostile or sloppy firmware sends them.
        const out: [string, string][] = [["content-type", "text/html"]];
        for (const h of ["location", "content-location", "refresh"]) {
          const v = url.searchParams.get(h);
          if (v !== null) out.push([h, v]);
        }
        return new Response("<p>device body</p>", {
          status: Number(url.searchParams.get("status") ?? "302"),
          headers: out,
        });
      }
      case "/markup": {
        // A page whose markup the test chooses (a hostile firmware's meta refresh, say), in UTF-8
        // or (utf16=1) in UTF-16LE with a byte order mark and no charset in the header, or
        // (notype=1) with no Content-Type at all.
        const markup = url.searchParams.get("html") ?? "";
        if (url.searchParams.has("notype")) return new Response(new TextEncoder().encode(markup));
        if (!url.searchParams.has("utf16")) return html(markup);
        const bytes = new Uint8Array(2 + markup.length * 2);
        bytes.set([0xff, 0xfe]);
        for (let i = 0; i < markup.length; i++) {
          bytes[2 + 2 * i] = markup.charCodeAt(i) & 0xff;
          bytes[3 + 2 * i] = markup.charCodeAt(i) >> 8;
        }
        return new Response(bytes, { headers: { "content-type": "text/html" } });
      }
      case "/slow":
        await new Promise((r) => setTimeout(r, 60_000));
        return new Response("late");
      case "/thinking":
        // A CGI that takes a moment (longer than the cloud waits before it reads ahead).
        await new Promise((r) => setTimeout(r, 1_500));
        return new Response("thought it over");
      case "/stall": {
        // Answers, sends the start of its body, and then nothing more (a hung firmware).
        const body = new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(new TextEncoder().encode("the start of a picture"));
          },
        });
        return new Response(body, { headers: { "content-type": "image/jpeg" } });
      }
      case "/big.html":
        return html(`<a href="/x">${"y".repeat(1000)}</a>`.repeat(100));
      case "/evil":
        return html(
          `<h1>evil</h1>` +
            [
              "api",
              "api-noref",
              "api-post",
              "other",
              "other-noref",
              "sw",
              "sw-raw",
              "cookie",
              "frame",
              "popup",
            ]
              .map((k) => `<p>${k}: <span id="${k}">…</span></p>`).join("") +
            `<script>${EVIL_JS}</script>`,
        );
      case "/evil-origin":
        return html(
          `<h1>evil</h1>` +
            ["api", "api-post", "other", "frame", "sw"]
              .map((k) => `<p>${k}: <span id="${k}">…</span></p>`).join("") +
            `<script>${EVIL_ORIGIN_JS}</script>`,
        );
      case "/sw.js":
        return new Response(SW_JS, { headers: { "content-type": "application/javascript" } });
      default:
        return new Response("not found on camera", { status: 404 });
    }
  };
  const server = opts.tls
    ? Deno.serve({
      port: opts.port ?? 0,
      hostname: opts.hostname ?? "127.0.0.1",
      cert: opts.tls.cert,
      key: opts.tls.key,
      signal: ac.signal,
      onListen: () => {},
    }, handler)
    : Deno.serve({
      port: opts.port ?? 0,
      hostname: opts.hostname ?? "127.0.0.1",
      signal: ac.signal,
      onListen: () => {},
    }, handler);
  return Promise.resolve({
    port: server.addr.port,
    scheme: opts.tls ? "https" : "http",
    seen,
    close: async () => {
      opts.onvif?.events?.close();
      ac.abort();
      await server.finished.catch(() => {});
    },
  });
}

/** A self-signed certificate for the HTTPS camera (openssl, PKCS#8 key). */
export async function selfSigned(cn = "ipcam.local"): Promise<{ cert: string; key: string }> {
  const dir = await Deno.makeTempDir({ prefix: "nc-cam-" });
  await opensslOk([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    `${dir}/k.pem`,
    "-out",
    `${dir}/c.pem`,
    "-days",
    "2",
    "-subj",
    `/CN=${cn}`,
  ]);
  const r = {
    cert: await Deno.readTextFile(`${dir}/c.pem`),
    key: await Deno.readTextFile(`${dir}/k.pem`),
  };
  await Deno.remove(dir, { recursive: true });
  return r;
}
