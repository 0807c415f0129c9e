import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { AppError, CATALOGUE } from "../../../../src/shared/errors.ts";
import {
  bridgeOpen,
  bridgeResult,
  failureResult,
  resultError,
} from "../../../../src/cloud/interrelay/messages.ts";
import { isOlderOwner, OLDER_OWNER } from "../../../../src/cloud/interrelay/bridge_tunnel.ts";

Deno.test("bridge RESULT: a refusal carries its code, message and HTTP status", () => {
  const r = failureResult(new AppError("agent_data_unreachable", "blocked: refused"));
  assertEquals(r, {
    ok: false,
    code: "agent_data_unreachable",
    message: "blocked: refused",
    status: 502,
  });
  assertEquals(bridgeResult.parse(r), r);
});

Deno.test("bridge RESULT: a known code is itself; a newer node's unknown code keeps its status and message", () => {
  const known = resultError({ code: "device_unreachable", message: "device unreachable: refused" });
  assertEquals([known.code, known.message, known.httpStatus], [
    "device_unreachable",
    "device unreachable: refused",
    502,
  ]);

  // A code added after this node was built, from a sibling already upgraded.
  const parsed = bridgeResult.parse({
    ok: false,
    code: "device_asleep",
    message: "the camera is asleep; wake it from the site page",
    status: 504,
  });
  assert(!parsed.ok);
  const newer = resultError(parsed);
  assertEquals(newer.httpStatus, 504);
  assertEquals(newer.message, "the camera is asleep; wake it from the site page");
  assert(newer.code in CATALOGUE);
  assertEquals(newer.detail, { peerCode: "device_asleep" });

  const noStatus = resultError({ code: "something_new", message: "said the owner" });
  assertEquals([noStatus.httpStatus, noStatus.message], [502, "said the owner"]);
  const unusual = resultError({ code: "something_new", message: "m", status: 418 });
  assertEquals(unusual.httpStatus, 400, "a status no code has: its class");
});

Deno.test("bridge RESULT: what a sibling may not send is refused", () => {
  for (
    const bad of [
      { ok: false, code: "x", message: "m", status: 200 },
      { ok: false, code: "", message: "m" },
      { ok: false, code: "c".repeat(65), message: "m" },
      { ok: false, code: "x", message: "m".repeat(2001) },
      { ok: false, code: "x", message: "m", status: 502.5 },
    ]
  ) {
    assertEquals(bridgeResult.safeParse(bad).success, false, JSON.stringify(bad).slice(0, 60));
  }
});

Deno.test("bridge OPEN live: validated; an op a node does not know is refused the way the asking node reads as an older owner", () => {
  const live = {
    v: 1,
    op: "live",
    agentId: "ag_1",
    handleId: "h-abc",
    path: "/Streaming/Channels/101",
    actor: "user:u-1",
    from: "node-2",
  } as const;
  assertEquals(bridgeOpen.parse(live), live);
  for (
    const bad of [{ path: "stream" }, { path: "/a b" }, { path: "/" + "x".repeat(600) }, {
      actor: "",
    }, { handleId: "" }]
  ) {
    assert(!bridgeOpen.safeParse({ ...live, ...bad }).success, JSON.stringify(bad));
  }
  // What a node of this version answers an OPEN it cannot parse (internal_listener.ts), as the
  // asking node reads it back: the sign to do it the older way (play the camera itself).
  assert(!bridgeOpen.safeParse({ ...live, op: "live-v2" }).success);
  const refusal = bridgeResult.parse(failureResult(new AppError("bad_request", OLDER_OWNER)));
  assert(!refusal.ok);
  assert(isOlderOwner(resultError(refusal)));
  assert(!isOlderOwner(resultError(failureResult(new AppError("camera_refused")))));
  assert(!isOlderOwner(new Error(OLDER_OWNER)));
});
