// The challenge answerer against the RFCs' own worked examples (RFC 2617 §3.5, RFC 7616 §3.9.1,
// RFC 7617 §2) and the header shapes cameras send.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { createHash } from "node:crypto";
import {
  authorization,
  basicAuthorization,
  type Challenge,
  ChallengeAnswerer,
  chooseChallenge,
  parseChallenges,
} from "../../../../src/cloud/access/device_auth.ts";

const md5 = (s: string | Uint8Array) => createHash("md5").update(s).digest("hex");

function param(header: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|[ ,])${name}=("((?:[^"\\\\]|\\\\.)*)"|[^, ]+)`).exec(header);
  return m ? (m[2] ?? m[1]) : undefined;
}

Deno.test("device auth: RFC 7617 Basic example", () => {
  assertEquals(
    basicAuthorization({ username: "Aladdin", password: "open sesame" }),
    "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
  );
  const [c] = parseChallenges('Basic realm="WallyWorld"');
  assertEquals(c, { scheme: "basic", realm: "WallyWorld" });
});

Deno.test("device auth: RFC 2617 §3.5 Digest MD5 qop=auth example", () => {
  const [c] = parseChallenges(
    'Digest realm="testrealm@host.com", qop="auth,auth-int", ' +
      'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
  );
  assert(c.scheme === "digest");
  assertEquals(c.qop, ["auth", "auth-int"]);
  const h = authorization({
    challenge: c,
    method: "GET",
    uri: "/dir/index.html",
    credentials: { username: "Mufasa", password: "Circle Of Life" },
    nc: 1,
    cnonce: "0a4f113b",
  });
  assertEquals(param(h, "response"), "6629fae49393a05397450978507c4ef1");
  assertEquals(param(h, "nc"), "00000001");
  assertEquals(param(h, "qop"), "auth");
  assertEquals(param(h, "opaque"), "5ccc069c403ebaf9f0171e9517f40e41");
  assertEquals(param(h, "uri"), "/dir/index.html");
});

Deno.test("device auth: RFC 7616 §3.9.1 SHA-256 and MD5 examples (two challenges, one header each)", () => {
  const common = 'realm="http-auth@example.org", qop="auth, auth-int", ' +
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", ' +
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';
  const all = parseChallenges([
    `Digest ${common}, algorithm=SHA-256`,
    `Digest ${common}, algorithm=MD5`,
  ]);
  assertEquals(all.length, 2);
  const chosen = chooseChallenge(all)!;
  assert(chosen.scheme === "digest" && chosen.algorithm === "SHA-256", "SHA-256 preferred");
  const input = {
    method: "GET",
    uri: "/dir/index.html",
    credentials: { username: "Mufasa", password: "Circle of Life" },
    nc: 1,
    cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
  };
  assertEquals(
    param(authorization({ ...input, challenge: chosen }), "response"),
    "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
  );
  assertEquals(
    param(authorization({ ...input, challenge: all[1] }), "response"),
    "8ca523f5e9506fed4657c9700eebdbec",
  );
});

Deno.test("device auth: several challenges in one header, Digest over Basic, RTSP without qop", () => {
  const all = parseChallenges(
    'Basic realm="cam", Digest realm="GStreamer RTSP Server", nonce="8d92ff2e8f21fa09"',
  );
  assertEquals(all.map((c) => c.scheme), ["basic", "digest"]);
  const c = chooseChallenge(all)!;
  assert(c.scheme === "digest" && c.qop.length === 0 && c.algorithm === "MD5");
  const h = authorization({
    challenge: c,
    method: "DESCRIBE",
    uri: "rtsp://127.0.0.1:554/live",
    credentials: { username: "u", password: "p" },
  });
  // RFC 2069 form: no qop, nc or cnonce; response = MD5(HA1:nonce:HA2).
  assertEquals(param(h, "qop"), undefined);
  assertEquals(param(h, "nc"), undefined);
  const ha1 = md5("u:GStreamer RTSP Server:p");
  const ha2 = md5("DESCRIBE:rtsp://127.0.0.1:554/live");
  assertEquals(param(h, "response"), md5(`${ha1}:8d92ff2e8f21fa09:${ha2}`));
  assertEquals(param(h, "uri"), "rtsp://127.0.0.1:554/live");
});

Deno.test("device auth: MD5-sess, auth-int, userhash and quoting", () => {
  const [c] = parseChallenges(
    'Digest realm="r\\"x", nonce="n1", algorithm=MD5-sess, qop="auth-int", userhash=true',
  );
  assert(c.scheme === "digest" && c.algorithm === "MD5-sess" && c.userhash);
  assertEquals(c.realm, 'r"x');
  const body = new TextEncoder().encode("v=0\r\n");
  const h = authorization({
    challenge: c,
    method: "ANNOUNCE",
    uri: "/a",
    credentials: { username: "u", password: "p" },
    nc: 2,
    cnonce: "cn",
    body,
  });
  const ha1 = md5(`${md5(`u:${c.realm}:p`)}:n1:cn`);
  const ha2 = md5(`ANNOUNCE:/a:${md5(body)}`);
  assertEquals(param(h, "response"), md5(`${ha1}:n1:00000002:cn:auth-int:${ha2}`));
  assertEquals(param(h, "username"), md5(`u:${c.realm}`));
  assert(h.includes('realm="r\\"x"'), h);
});

Deno.test("device auth: what cannot be answered is left out; garbage never throws", () => {
  assertEquals(parseChallenges('Digest realm="x"'), [], "no nonce");
  assertEquals(parseChallenges('Digest realm="x", nonce="n", algorithm=SHA-512-256'), []);
  assertEquals(parseChallenges("Negotiate abc==, NTLM"), []);
  for (
    const g of ["", ",,,", '"', "Digest ,=,=", 'Basic realm="unterminated', "=x", "Digest nonce"]
  ) {
    parseChallenges(g);
  }
  assertEquals(chooseChallenge([]), null);
  const onlyIntUnknown: Challenge[] = parseChallenges(
    'Digest realm="r", nonce="n", qop="auth-conf"',
  );
  assertEquals(chooseChallenge(onlyIntUnknown), null);
});

Deno.test("device auth: the answerer counts nonce uses, retries a stale nonce, gives up on a refusal", () => {
  const a = new ChallengeAnswerer({ username: "u", password: "p" });
  assertEquals(a.authorize("OPTIONS", "*"), null, "nothing before a challenge");
  assert(a.challenged('Digest realm="r", nonce="n1", qop="auth"'));
  assertEquals(param(a.authorize("DESCRIBE", "/x")!, "nc"), "00000001");
  assertEquals(param(a.authorize("SETUP", "/x/t")!, "nc"), "00000002");
  assertEquals(a.challenged('Digest realm="r", nonce="n1", qop="auth"'), false, "refused");
  assert(a.challenged('Digest realm="r", nonce="n1", qop="auth", stale=true'), "stale: retry");
  assert(a.challenged('Digest realm="r", nonce="n2", qop="auth"'), "new nonce");
  assertEquals(param(a.authorize("PLAY", "/x")!, "nc"), "00000001");
  const b = new ChallengeAnswerer({ username: "u", password: "p" });
  assert(b.challenged('Basic realm="r"'));
  assertEquals(b.challenged('Basic realm="r"'), false, "Basic refused twice: give up");
});
