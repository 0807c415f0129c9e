// The RTSP gateway end to end: real connector processes, GStreamer's RTSP server as the camera
// (one open, one behind Digest auth), ffprobe as the player decoding H.264 through :9554 — with a
// signed URL, with Basic token auth (nt_ and ops_), with the camera's Digest answered by the
// player and by the cloud — plus the refusals as exact RTSP status lines and the device
// credential API (write-only, sealed at rest, every use audited).
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import {
  fakeRtspDevice,
  ffprobe,
  rtspExchange,
  startCamera,
  streamKinds,
} from "../_fixtures/rtsp.ts";
import { untilValue } from "../_fixtures/until.ts";

const req = (method: string, url: string, cseq: number, extra = "") =>
  `${method} ${url} RTSP/1.0\r\nCSeq: ${cseq}\r\n${extra}\r\n`;
const basic = (token: string) => `Authorization: Basic ${btoa(`op:${token}`)}\r\n`;

Deno.test("rtsp gateway: H.264 through :9554 with signed URLs, tokens, camera Digest, held credentials, refusals", async (t) => {
  const stack = await Stack.start();
  const open = await startCamera({ mounts: 2 });
  const locked = await startCamera({ digest: "camuser:Cam-Pa55word!" });
  stack.defer(open.close);
  stack.defer(locked.close);
  try {
    const q = await stack.quickstart([open.port, locked.port]);
    const agent = await stack.agentFor(q);
    const gw = `127.0.0.1:${stack.ports.rtsp}`;
    const hOpen = q.device.handles[open.port];
    const hLocked = q.device.handles[locked.port];
    const api = (method: string, path: string, body?: unknown, token = q.apiToken) =>
      fetch(`${stack.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, text: await r.text() }));
    const mint = async (handle: string, token = q.apiToken) => {
      const r = await api("POST", `/api/handles/${handle}/rtsp-url`, { path: "live/cam1" }, token);
      assertEquals(r.status, 201, r.text);
      const j = JSON.parse(r.text) as { url: string; expiresAt: number };
      // The cloud bound 127.0.0.1 without --public-url: the URL names that address.
      assert(j.url.startsWith(`rtsp://127.0.0.1:${stack.ports.rtsp}/${handle}.`), j.url);
      assert(j.url.endsWith("/live/cam1"), j.url);
      const hours = (j.expiresAt - Date.now()) / 3_600_000;
      assert(hours > 11.9 && hours <= 12, `12 h by default, got ${hours}`);
      return j.url;
    };

    await t.step("signed URL: ffprobe decodes H.264", async () => {
      const p = await ffprobe(await mint(hOpen));
      assertEquals([p.codec, p.width], ["h264", 320], p.stderr);
    });

    await t.step(
      "a stream path with a query (Dahua's ?channel=1&subtype=0): minted, remembered, played",
      async () => {
        const path = "/live/cam1?channel=1&subtype=0";
        const r = await api("POST", `/api/handles/${hOpen}/rtsp-url`, { path });
        assertEquals(r.status, 201, r.text);
        const { url } = JSON.parse(r.text) as { url: string };
        assert(url.endsWith(`/live/cam1?channel=1&subtype=0`), url);
        const p = await ffprobe(url);
        assertEquals([p.codec, p.width], ["h264", 320], p.stderr);
        const listed = JSON.parse(
          (await api("GET", `/api/sites/${q.siteId}/devices`)).text,
        ) as { items: { streamPaths: Record<string, string> }[] };
        assertEquals(listed.items[0].streamPaths[open.port], path, "remembered with its query");
        // The next URL without a path uses the remembered one, query and all.
        const again = JSON.parse((await api("POST", `/api/handles/${hOpen}/rtsp-url`, {})).text);
        assert(again.url.endsWith(`/live/cam1?channel=1&subtype=0`), again.url);
        const bad = await api("POST", `/api/handles/${hOpen}/rtsp-url`, { path: "/live/cam1#x" });
        assertEquals(bad.status, 400, bad.text);
        assertStringIncludes(bad.text, "a path without spaces or fragment");
        await api("POST", `/api/handles/${hOpen}/rtsp-url`, { path: "live/cam1" }); // as before
      },
    );

    await t.step(
      "a sub-stream: its signed URL beside the main one, played; remembered for the next",
      async () => {
        const mintSub = async (body: unknown) => {
          const r = await api("POST", `/api/handles/${hOpen}/rtsp-url`, body);
          assertEquals(r.status, 201, r.text);
          return JSON.parse(r.text) as { url: string; subUrl?: string };
        };
        assertEquals((await mintSub({})).subUrl, undefined, "no sub-stream known yet");
        const both = await mintSub({ path: "live/cam1", subPath: "/live/cam2" });
        assert(both.url.endsWith("/live/cam1"), both.url);
        // The same signature, on the sub-stream's path.
        assertEquals(both.subUrl, both.url.replace(/live\/cam1$/, "live/cam2"));
        const p = await ffprobe(both.subUrl!);
        assertEquals([p.codec, p.width], ["h264", 320], p.stderr);
        // The next URL carries the remembered sub-stream.
        assertEquals((await mintSub({})).subUrl?.endsWith("/live/cam2"), true);
        // A sub-stream that is the main stream (a one-profile camera) is not repeated.
        assertEquals(
          (await mintSub({ path: "live/cam1", subPath: "live/cam1" })).subUrl,
          undefined,
        );
        assertEquals((await mintSub({ path: "live/cam1", subPath: "" })).subUrl, undefined);
      },
    );

    await t.step("Basic auth with an nt_ or ops_ token as the password", async () => {
      const p = await ffprobe(`rtsp://op:${q.apiToken}@${gw}/${hOpen}/live/cam1`);
      assertEquals([p.codec, p.width], ["h264", 320], p.stderr);
      const s = await api("POST", "/api/cli/sessions", { siteIds: [q.siteId] });
      const ops = JSON.parse(s.text).token as string;
      const p2 = await ffprobe(`rtsp://op:${ops}@${gw}/${hOpen}/live/cam1`);
      assertEquals([p2.codec, p2.width], ["h264", 320], p2.stderr);
    });

    await t.step(
      "camera Digest without cloud credentials: the player's own answer works",
      async () => {
        const url = await mint(hLocked);
        const refused = await ffprobe(url);
        assertEquals(
          refused.codec,
          null,
          "no camera credentials: the camera's 401 reaches ffprobe",
        );
        assert(/401/.test(refused.stderr), refused.stderr);
        const withCreds = url.replace("rtsp://", "rtsp://camuser:Cam-Pa55word!@");
        const p = await ffprobe(withCreds);
        assertEquals([p.codec, p.width], ["h264", 320], p.stderr);
      },
    );

    await t.step(
      "device credentials held by the cloud: write-only, sealed, answered, audited",
      async () => {
        const path = `/api/sites/${q.siteId}/devices/${q.device.deviceId}/credentials`;
        assertEquals((await api("PUT", path, { username: "camuser" })).status, 400);
        const put = await api("PUT", path, { username: "camuser", password: "Cam-Pa55word!" });
        assertEquals(put.status, 200, put.text);
        assert(!put.text.includes("Cam-Pa55word!"));
        const list = await api("GET", `/api/sites/${q.siteId}/devices`);
        assert(list.text.includes('"hasCredentials":true'), list.text);
        assert(!list.text.includes("Cam-Pa55word!") && !list.text.includes("camuser"), list.text);
        // Sealed at rest: neither the database nor its write-ahead log holds the password.
        for (const f of ["cloud.db", "cloud.db-wal"]) {
          const bytes = await Deno.readFile(`${stack.dataDir}/${f}`).catch(() => new Uint8Array());
          assert(!new TextDecoder("latin1").decode(bytes).includes("Cam-Pa55word!"), f);
        }
        const key = await Deno.stat(`${stack.dataDir}/cloud-secret.key`);
        assertEquals(key.mode! & 0o777, 0o600);

        // The operator's URL carries no camera password: the cloud answers the Digest itself.
        const p = await ffprobe(await mint(hLocked));
        assertEquals([p.codec, p.width], ["h264", 320], p.stderr);
        // Also with the token as the Basic password: the gateway strips it, answers the camera.
        const b = await ffprobe(`rtsp://op:${q.apiToken}@${gw}/${hLocked}/live/cam1`);
        assertEquals([b.codec, b.width], ["h264", 320], b.stderr);
        const audit = JSON.parse(
          (await api("GET", `/api/audit?action=device.credentials.use`)).text,
        ) as { items: { target: string; detail: Record<string, unknown> }[] };
        assertEquals(audit.items.length, 2, "every use is audited");
        assertEquals(audit.items[0].target, q.device.deviceId);
        assertEquals(audit.items[0].detail.via, "rtsp");
        assertEquals(audit.items[0].detail.handle, hLocked);
        const actions = JSON.parse(
          (await api("GET", `/api/audit?target=${q.device.deviceId}`)).text,
        )
          .items.map((e: { action: string }) => e.action);
        assert(actions.includes("device.credentials.set"), actions.join());

        const del = await api("DELETE", path);
        assertEquals(JSON.parse(del.text).hasCredentials, false);
        const after = await api("GET", `/api/sites/${q.siteId}/devices`);
        assert(after.text.includes('"hasCredentials":false'), after.text);
        assertEquals((await ffprobe(await mint(hLocked))).codec, null, "credentials gone");
      },
    );

    await t.step("refusals as RTSP status lines", async () => {
      const url = `rtsp://${gw}/${hOpen}/live/cam1`;
      const [anon] = await rtspExchange(stack.ports.rtsp, [req("DESCRIBE", url, 1)]);
      assertEquals([anon.status, anon.reason], [401, "authentication required"]);
      assert(anon.head.includes('WWW-Authenticate: Basic realm="Nanodems Connector"'), anon.head);

      const other = await stack.quickstart([open.port], "Other");
      const [foreign] = await rtspExchange(stack.ports.rtsp, [
        req("DESCRIBE", url, 1, basic(other.apiToken)),
      ]);
      assertEquals([foreign.status, foreign.reason], [
        403,
        "handle does not belong to your tenant",
      ]);

      const [unknown] = await rtspExchange(stack.ports.rtsp, [
        req("DESCRIBE", `rtsp://${gw}/h-AAAAAAAAAAAAAAAAAAAAAA/x`, 1, basic(q.apiToken)),
      ]);
      assertEquals([unknown.status, unknown.reason], [404, "unknown handle"]);

      const signed = await mint(hOpen);
      // Flip one character inside the MAC (the token starts right after "{handle}.").
      const at = signed.indexOf(`${hOpen}.`) + hOpen.length + 1 + 16;
      const tampered = signed.slice(0, at) + (signed[at] === "A" ? "B" : "A") +
        signed.slice(at + 1);
      const [bad] = await rtspExchange(stack.ports.rtsp, [req("DESCRIBE", tampered, 1)]);
      assertEquals(bad.status, 401);
      const [other401] = await rtspExchange(stack.ports.rtsp, [
        req("DESCRIBE", signed.replace(hOpen, hLocked), 1),
      ]);
      assertEquals(other401.status, 401, "a signed URL is bound to its handle");

      const [, udp, tcp] = await rtspExchange(stack.ports.rtsp, [
        req("DESCRIBE", url, 1, basic(q.apiToken)),
        req(
          "SETUP",
          `${url}/stream=0`,
          2,
          basic(q.apiToken) + "Transport: RTP/AVP;unicast;client_port=50000-50001\r\n",
        ),
        req(
          "SETUP",
          `${url}/stream=0`,
          3,
          basic(q.apiToken) + "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n",
        ),
      ]);
      assertEquals([udp.status, udp.reason], [461, "Unsupported Transport"]);
      assertEquals(tcp.status, 200, "TCP still works on the same connection");
      assert(/Transport: RTP\/AVP\/TCP/i.test(tcp.head), tcp.head);

      const [garbage] = await rtspExchange(stack.ports.rtsp, ["GARBAGE\r\n\r\n"]);
      assertEquals(garbage.status, 400);

      // A revoked token's signed URL dies with it.
      const minted = JSON.parse((await api("POST", "/api/account/tokens", { name: "vlc" })).text);
      const revocable = await mint(hOpen, minted.token);
      const [ok] = await rtspExchange(stack.ports.rtsp, [req("OPTIONS", revocable, 1)]);
      assertEquals(ok.status, 200);
      assertEquals((await api("DELETE", `/api/account/tokens/${minted.id}`)).status, 200);
      const [dead] = await rtspExchange(stack.ports.rtsp, [req("OPTIONS", revocable, 1)]);
      assertEquals(dead.status, 401);

      await agent.stop("SIGKILL");
      const offline = await untilValue("503 after the agent is gone", async () => {
        const [r] = await rtspExchange(stack.ports.rtsp, [
          req("DESCRIBE", url, 1, basic(q.apiToken)),
        ]);
        return r.status === 503 ? r : null;
      }, 20_000);
      assertEquals(offline.reason, "agent reconnecting");
    });
  } finally {
    await stack.stop();
  }
});

/** Reads from `conn` until `buf` holds `want(buf)` bytes; returns them (and keeps the rest). */
class Reader {
  #conn: Deno.Conn;
  data = new Uint8Array(0);
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }
  async until(n: (d: Uint8Array) => number | null): Promise<Uint8Array> {
    for (;;) {
      const k = n(this.data);
      if (k !== null && k <= this.data.length) {
        const out = this.data.slice(0, k);
        this.data = this.data.slice(k);
        return out;
      }
      const buf = new Uint8Array(65536);
      const got = await this.#conn.read(buf);
      if (got === null) throw new Error("closed");
      const next = new Uint8Array(this.data.length + got);
      next.set(this.data);
      next.set(buf.subarray(0, got), this.data.length);
      this.data = next;
    }
  }
  /** One RTSP message (head + Content-Length body) as text. */
  async message(): Promise<string> {
    const bytes = await this.until((d) => {
      const t = new TextDecoder("latin1").decode(d);
      const end = t.indexOf("\r\n\r\n");
      if (end < 0) return null;
      return end + 4 + Number(/content-length:\s*(\d+)/i.exec(t.slice(0, end))?.[1] ?? 0);
    });
    return new TextDecoder("latin1").decode(bytes);
  }
  /** One interleaved frame, whole. */
  frame(): Promise<Uint8Array> {
    return this.until((d) => (d.length >= 4 ? 4 + ((d[2] << 8) | d[3]) : null));
  }
}

const frameOf = (channel: number, payload: Uint8Array) =>
  new Uint8Array([0x24, channel, payload.length >> 8, payload.length & 0xff, ...payload]);

Deno.test("rtsp gateway: what the device sees and what the player gets, byte for byte", async () => {
  const stack = await Stack.start();
  const device = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (device.addr as Deno.NetAddr).port;
  stack.defer(() => Promise.resolve(device.close()));
  try {
    const q = await stack.quickstart([port]);
    await stack.agentFor(q);
    const h = q.device.handles[port];
    const token = q.apiToken;
    const seen: string[] = [];
    const payloads = [
      crypto.getRandomValues(new Uint8Array(1000)),
      new Uint8Array([...new TextEncoder().encode("RTSP/1.0 200 OK\r\n\r\n$"), 0x24, 0, 0xff]),
      new Uint8Array(65535).map((_, i) => i & 0xff),
    ];
    const rtcp = crypto.getRandomValues(new Uint8Array(52));
    const fromPlayer = (async () => {
      const conn = await device.accept();
      const r = new Reader(conn);
      const dev = `rtsp://127.0.0.1:${port}`;
      const sdp = `v=0\r\na=control:${dev}/live/\r\nm=video 0 RTP/AVP 96\r\n` +
        `a=control:${dev}/live/trackID=1\r\n`;
      const reply = (cseq: string, extra: string, body = "") =>
        conn.write(
          new TextEncoder().encode(
            `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\n${extra}` +
              (body ? `Content-Length: ${body.length}\r\n` : "") + `\r\n${body}`,
          ),
        );
      for (let i = 0; i < 3; i++) {
        const m = await r.message();
        seen.push(m);
        const cseq = /CSeq: (\d+)/.exec(m)![1];
        if (m.startsWith("DESCRIBE")) {
          await reply(cseq, `Content-Base: ${dev}/live/\r\nContent-Type: application/sdp\r\n`, sdp);
        } else if (m.startsWith("SETUP")) {
          await reply(cseq, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 42\r\n");
        } else {
          await reply(cseq, `Session: 42\r\nRTP-Info: url=${dev}/live/trackID=1;seq=1\r\n`);
          for (const p of payloads) await conn.write(frameOf(0, p));
        }
      }
      const got = await r.frame();
      conn.close();
      return got;
    })();

    fromPlayer.catch(() => {}); // awaited below; a failure before that must not go unhandled
    const player = await Deno.connect({ hostname: "127.0.0.1", port: stack.ports.rtsp });
    const r = new Reader(player);
    // The signed token in the query on the first request; the URLs the player derives from
    // Content-Base carry it in the path from then on.
    const minted = await fetch(`${stack.url}/api/handles/${h}/rtsp-url`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: "{}",
    }).then((x) => x.json());
    const signed = /\/h-[^.]+\.([^/]+)\//.exec(minted.url)![1];
    const plain = `rtsp://127.0.0.1:${stack.ports.rtsp}/${h}`;
    const base = `${plain}.${signed}`;
    const send = (s: string) => player.write(new TextEncoder().encode(s));
    await send(req("DESCRIBE", `${plain}/live?x=1&nc=${signed}`, 1));
    const described = await r.message();
    assert(described.includes(`Content-Base: ${base}/live/\r\n`), described);
    assert(described.includes(`a=control:${base}/live/trackID=1\r\n`), described);
    const body = described.slice(described.indexOf("\r\n\r\n") + 4);
    assertEquals(Number(/Content-Length: (\d+)/.exec(described)![1]), body.length);
    await send(
      req(
        "SETUP",
        `${base}/live/trackID=1`,
        2,
        basic(token) + "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n",
      ),
    );
    assert((await r.message()).startsWith("RTSP/1.0 200"));
    await send(req("PLAY", `${base}/live/`, 3, "Session: 42\r\n"));
    const played = await r.message();
    assert(played.includes(`RTP-Info: url=${base}/live/trackID=1;seq=1`), played);
    for (const p of payloads) assertEquals(await r.frame(), frameOf(0, p), "frames untouched");
    await player.write(frameOf(1, rtcp));
    assertEquals(await fromPlayer, frameOf(1, rtcp), "the player's RTCP reaches the device");
    player.close();

    const dev = `rtsp://127.0.0.1:${port}`;
    assert(seen[0].startsWith(`DESCRIBE ${dev}/live?x=1 RTSP/1.0\r\n`), seen[0]);
    assert(seen[1].startsWith(`SETUP ${dev}/live/trackID=1 RTSP/1.0\r\n`), seen[1]);
    assert(seen[2].startsWith(`PLAY ${dev}/live/ RTSP/1.0\r\n`), seen[2]);
    for (const m of seen) {
      assert(!/authorization/i.test(m) && !m.includes(token), `the token reached the device: ${m}`);
      assert(!m.includes(signed) && !m.includes("nc="), `the signed URL reached the device: ${m}`);
      assert(!m.includes(h), "the handle is cloud-side only");
    }
  } finally {
    await stack.stop();
  }
});

Deno.test("rtsp gateway: a device that takes a request and never answers gets the player a 504", async () => {
  const stack = await Stack.start({ cloudArgs: ["--proxy-timeout", "1s"] });
  // A camera that accepts the connection and then says nothing.
  const mute = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (mute.addr as Deno.NetAddr).port;
  const held: Deno.Conn[] = [];
  (async () => {
    for await (const c of mute) held.push(c);
  })().catch(() => {});
  stack.defer(() => {
    mute.close();
    for (const c of held) c.close();
    return Promise.resolve();
  });
  try {
    const q = await stack.quickstart([port]);
    await stack.agentFor(q);
    const h = q.device.handles[port];
    const auth = `Authorization: Basic ${btoa(`op:${q.apiToken}`)}\r\n`;
    const [answer] = await rtspExchange(stack.ports.rtsp, [
      `OPTIONS rtsp://127.0.0.1:${stack.ports.rtsp}/${h}/live RTSP/1.0\r\nCSeq: 1\r\n${auth}\r\n`,
    ]);
    assertEquals(answer.status, 504, answer.head);
    assertStringIncludes(answer.head, "CSeq: 1");
  } finally {
    await stack.stop();
  }
});

Deno.test("rtsp gateway: a camera that stalls in the middle of a frame gets the player's connection closed, not held", async () => {
  const stack = await Stack.start({ cloudArgs: ["--proxy-timeout", "1s"] });
  // A camera that plays, sends the start of a 65 535-byte frame and then nothing more.
  const cam = fakeRtspDevice({ afterPlay: new Uint8Array([0x24, 0, 0xff, 0xff, 1, 2, 3]) });
  stack.defer(cam.close);
  const port = cam.port;
  const enc = new TextEncoder();
  try {
    const q = await stack.quickstart([port]);
    await stack.agentFor(q);
    const url = `rtsp://127.0.0.1:${stack.ports.rtsp}/${q.device.handles[port]}/live`;
    const player = await Deno.connect({ hostname: "127.0.0.1", port: stack.ports.rtsp });
    stack.defer(() => Promise.resolve(player.close()));
    let got = "";
    const buf = new Uint8Array(65536);
    const until = async (pred: () => boolean) => {
      while (!pred()) {
        const n = await player.read(buf);
        if (n === null) return false;
        got += new TextDecoder("latin1").decode(buf.subarray(0, n));
      }
      return true;
    };
    let cseq = 0;
    for (
      const [method, extra] of [
        ["OPTIONS", ""],
        ["DESCRIBE", ""],
        ["SETUP", "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"],
        ["PLAY", "Session: 42\r\n"],
      ]
    ) {
      const uri = method === "SETUP" ? `${url}/track1` : url;
      await player.write(enc.encode(req(method, uri, ++cseq, basic(q.apiToken) + extra)));
      assert(await until(() => got.includes(`CSeq: ${cseq}\r\n`)), `${method} answered`);
    }
    assert(await until(() => got.endsWith("$\x00\xff\xff\x01\x02\x03")), "the frame began");
    // The player's keep-alive: the camera's answer could only come inside the frame it cut.
    await player.write(enc.encode(req("GET_PARAMETER", url, ++cseq, basic(q.apiToken))));
    // Held for good before (the gateway's 504 waited for the frame's end); now closed.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ended = await Promise.race([
      until(() => false).then(() => "closed", () => "closed"),
      new Promise<string>((r) => timer = setTimeout(() => r("still open after 20 s"), 20_000)),
    ]).finally(() => clearTimeout(timer));
    assertEquals(ended, "closed");
    assert(got.endsWith("$\x00\xff\xff\x01\x02\x03"), "nothing landed inside the frame");
  } finally {
    await stack.stop();
  }
});

Deno.test("rtsp gateway: a camera whose sound an admin turned off plays without it; its sound track cannot be set up", async () => {
  const stack = await Stack.start();
  const cam = await startCamera({ audio: true });
  stack.defer(cam.close);
  try {
    const q = await stack.quickstart([cam.port]);
    await stack.agentFor(q);
    const handle = q.device.handles[cam.port];
    const mint = async () => {
      const r = await stack.api("POST", `/api/handles/${handle}/rtsp-url`, q.apiToken, {
        path: "live/cam1",
      });
      assertEquals(r.status, 201);
      return r.json.url as string;
    };
    // Sound on (the default): the player gets both tracks.
    assertEquals(await streamKinds(await mint()), ["video", "audio"]);

    // A player on when an admin turns the sound off: its connection (which carries the sound)
    // ends within the setting's 5 s check; it would have played 60 s.
    const rtspOpens = async () => {
      const r = await stack.api("GET", "/api/audit?action=tunnel.open", q.apiToken);
      return (r.json.items as { detail: { path?: string } }[])
        .filter((e) => e.detail.path === "rtsp").length;
    };
    const opened = await rtspOpens();
    const player = new Deno.Command("ffmpeg", {
      args: [
        "-v",
        "error",
        "-rtsp_transport",
        "tcp",
        "-i",
        await mint(),
        "-t",
        "60",
        "-f",
        "null",
        "-",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await untilValue("the player's connection", async () => (await rtspOpens()) > opened || null);
    const off = await stack.api("PATCH", `/api/devices/${q.device.deviceId}`, q.apiToken, {
      liveSound: false,
    });
    assertEquals(off.status, 200);
    const ended = await Promise.race([
      player.status.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 20_000)),
    ]);
    if (!ended) player.kill("SIGKILL");
    await player.status;
    assert(ended, "the player's connection did not end when the sound was turned off");
    // Off: the description has no sound, and the picture still plays.
    const url = await mint();
    assertEquals(await streamKinds(url), ["video"]);
    const p = await ffprobe(url);
    assertEquals([p.codec, p.width], ["h264", 320], p.stderr);

    // A player that asks for the sound track anyway (its URL guessed, or DESCRIBE skipped) is
    // refused; the picture's track is set up.
    const base = `rtsp://127.0.0.1:${stack.ports.rtsp}/${handle}/live/cam1`;
    const auth = basic(q.apiToken);
    const tcp = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n";
    const refused = "the camera's sound was turned off by an admin";
    const [described, audio, video] = await rtspExchange(stack.ports.rtsp, [
      req("DESCRIBE", base, 1, `${auth}Accept: application/sdp\r\n`),
      req("SETUP", `${base}/stream=1`, 2, auth + tcp),
      req("SETUP", `${base}/stream=0`, 3, auth + tcp),
    ]);
    assertEquals(described.status, 200, described.head);
    assertEquals([audio.status, audio.reason], [403, refused], audio.head);
    assertEquals(video.status, 200, video.head);
    const [blind] = await rtspExchange(stack.ports.rtsp, [
      req("SETUP", `${base}/stream=1`, 1, auth + tcp),
    ]);
    assertEquals([blind.status, blind.reason], [403, refused], blind.head);

    // On again: both tracks.
    await stack.api("PATCH", `/api/devices/${q.device.deviceId}`, q.apiToken, { liveSound: true });
    assertEquals(await streamKinds(await mint()), ["video", "audio"]);
  } finally {
    await stack.stop();
  }
});
