// A short run of the project's own fuzzer (`deno task fuzz`, tests/fuzz/) against the real cloud
// and agent processes, with a fixed seed so a failure replays: any crash, error reaching the
// last-resort handler, ERROR log line, response outside the documented set (a 500 above all),
// internals in a response, path escape or cloud credential reaching a device fails the suite.
//
// Every target runs, the control stream's too: it used to find, within minutes, an abort inside
// Deno's own node:http2 (nghttp2 assertion `stream->closed_next == NULL`, denoland/deno#36788)
// when an agent's GOAWAY arrived; the control relay now drops that frame before nghttp2 sees it
// (src/cloud/control/goaway_filter.ts), and a relay ending would show here as an ERROR line.
// `datamux` is a compromised agent on its data connection: hostile mux frames must close that
// connection (and the tunnels on it) and nothing else. `camera` is a hostile camera the live view,
// recordings and clips play: what it sends must cost only its own session. `device` is a hostile
// device's web port, read by the browser proxy and every ONVIF ask (and the motion alerts' polls).
// `discovery` is a hostile LAN answering an agent's ONVIF probe: the agent must stay up and on
// line, and the operator get an answer the console can show (every target also fails on an agent
// that exits, loses its control stream or logs an ERROR). `terminal` is a hostile SSH server at a
// device's SSH port, which the browser terminal makes the cloud an SSH client of. `https` is a
// hostile device at a port marked HTTPS, which the browser proxy makes the cloud a TLS client of:
// an answer must come within the proxy's timeout, and a certificate's subject be printable.
// `gateway` is a hostile camera behind the RTSP gateway, answering a well-behaved player: every
// request must be answered within the proxy's timeout and the camera's connection end with the
// player's.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { fuzz } from "../fuzz/main.ts";
import { TARGETS } from "../fuzz/targets.ts";

Deno.test("fuzz (quick): HTTP, enrollment, RTSP, framing, control-stream, internal-listener, compromised-agent, hostile-camera, hostile-device, hostile-LAN, hostile-SSH-server, hostile-HTTPS-device and hostile-camera-behind-the-gateway inputs find nothing", async () => {
  const report = await fuzz({
    seconds: 20,
    seed: 20261201,
    targets: TARGETS.map((t) => t.name),
    rssBoundMib: 256,
    jobs: 4,
    out: "out/fuzz/quick.json",
    log: (l) => Deno.env.get("NC_TEST_VERBOSE") && console.error(l),
  });
  const total = Object.values(report.executions).reduce((a, b) => a + b, 0);
  console.error(
    `fuzz quick: ${total} executions, ${report.findings.length} findings, datamux checks ${
      JSON.stringify(report.checks.datamux)
    }, camera checks ${JSON.stringify(report.checks.camera)}, device checks ${
      JSON.stringify(report.checks.device)
    }, discovery checks ${JSON.stringify(report.checks.discovery)}, terminal checks ${
      JSON.stringify(report.checks.terminal)
    }, https checks ${JSON.stringify(report.checks.https)}, gateway checks ${
      JSON.stringify(report.checks.gateway)
    }`,
  );
  assertEquals(
    report.findings.map((f) => `${f.target} #${f.case} ${f.kind}: ${f.detail.slice(0, 200)}`),
    [],
  );
  // The rogue agent really got its tunnels and connections: its oracle ran, not only its cases.
  assert(
    (report.checks.datamux?.violation ?? 0) >= 1,
    `no datamux case reached its violation check (${JSON.stringify(report.checks.datamux)})`,
  );
  // The hostile camera's sessions really played: a well-formed one's pictures reached its viewer.
  assert(
    (report.checks.camera?.tame ?? 0) >= 1,
    `no well-formed camera case played (${JSON.stringify(report.checks.camera)})`,
  );
  // The hostile device's ONVIF side really answered: a well-formed one's ask came back 200.
  assert(
    (report.checks.device?.tame ?? 0) >= 1,
    `no well-formed device case was answered (${JSON.stringify(report.checks.device)})`,
  );
  // The hostile LAN's probes really were answered: a LAN of well-formed cameras all came back.
  assert(
    (report.checks.discovery?.tame ?? 0) >= 1,
    `no well-formed LAN case was found whole (${JSON.stringify(report.checks.discovery)})`,
  );
  // The hostile SSH server's sessions really opened: a well-formed device's shell echoed.
  assert(
    (report.checks.terminal?.tame ?? 0) >= 1,
    `no well-formed SSH device's shell echoed (${JSON.stringify(report.checks.terminal)})`,
  );
  // The hostile HTTPS device's handshakes really completed: a well-formed camera's page came.
  assert(
    (report.checks.https?.tame ?? 0) >= 1,
    `no well-formed HTTPS camera's page came through (${JSON.stringify(report.checks.https)})`,
  );
  // The cameras behind the gateway really played: a well-formed one's PLAY brought frames.
  assert(
    (report.checks.gateway?.tame ?? 0) >= 1,
    `no well-formed camera played through the gateway (${JSON.stringify(report.checks.gateway)})`,
  );
});
