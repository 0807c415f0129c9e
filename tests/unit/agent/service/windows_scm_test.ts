// The Windows Service Control Manager protocol as the agent speaks it, decided by pure
// functions (the FFI layer only carries these values): the start handshake, the control codes,
// the stop sequence with checkpoints and wait hints, exit codes, and the struct bytes.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import {
  encodeServiceStatus,
  onControl,
  progress,
  running,
  ServiceAccept,
  ServiceControl,
  ServiceState,
  serviceTable,
  startPending,
  stopped,
  utf16z,
  WAIT_HINT_MS,
  Win32,
} from "../../../../src/agent/service/windows_scm.ts";

Deno.test("SCM: start handshake — START_PENDING with checkpoints, then RUNNING accepting stop", () => {
  const s = startPending();
  assertEquals(s.serviceType, 0x10);
  assertEquals(s.currentState, ServiceState.START_PENDING);
  assertEquals(s.controlsAccepted, 0, "no controls while starting");
  assertEquals(s.checkPoint, 1);
  assertEquals(s.waitHint, WAIT_HINT_MS);
  const s2 = progress(s);
  assertEquals(s2.checkPoint, 2, "each progress report advances the checkpoint");
  assertEquals(progress(s2).checkPoint, 3);

  const r = running();
  assertEquals(r.currentState, ServiceState.RUNNING);
  assertEquals(r.controlsAccepted, ServiceAccept.STOP | ServiceAccept.SHUTDOWN);
  assertEquals([r.checkPoint, r.waitHint], [0, 0], "no checkpoint outside pending states");
  assertEquals(progress(r), r, "progress does nothing when not pending");
});

Deno.test("SCM: STOP and SHUTDOWN → STOP_PENDING (stop the agent), then STOPPED", () => {
  for (const code of [ServiceControl.STOP, ServiceControl.SHUTDOWN, ServiceControl.PRESHUTDOWN]) {
    const d = onControl(running(), code);
    assertEquals(d.stop, true);
    assertEquals(d.result, Win32.NO_ERROR);
    assertEquals(d.report?.currentState, ServiceState.STOP_PENDING);
    assertEquals(d.report?.controlsAccepted, 0);
    assertEquals(d.report?.checkPoint, 1);
    assertEquals(d.report?.waitHint, WAIT_HINT_MS);
    assertEquals(progress(d.report!).checkPoint, 2);
  }
  // A stop during start is honoured too.
  assertEquals(onControl(startPending(), ServiceControl.STOP).stop, true);
  // A second STOP while stopping changes nothing.
  const pending = onControl(running(), ServiceControl.STOP).report!;
  assertEquals(onControl(pending, ServiceControl.STOP), {
    report: null,
    stop: false,
    result: Win32.NO_ERROR,
  });
  assertEquals(onControl(stopped(0), ServiceControl.STOP).stop, false);
});

Deno.test("SCM: INTERROGATE re-reports the current status; unknown controls are not implemented", () => {
  const r = running();
  assertEquals(onControl(r, ServiceControl.INTERROGATE), {
    report: r,
    stop: false,
    result: Win32.NO_ERROR,
  });
  for (const code of [0x2, /* PAUSE */ 0x3, /* CONTINUE */ 0x10, /* HARDWAREPROFILE */ 0x80]) {
    assertEquals(onControl(r, code), {
      report: null,
      stop: false,
      result: Win32.ERROR_CALL_NOT_IMPLEMENTED,
    });
  }
});

Deno.test("SCM: exit codes — 0 is NO_ERROR, a failure is a service-specific error with the code", () => {
  const ok = stopped(0);
  assertEquals(ok.currentState, ServiceState.STOPPED);
  assertEquals([ok.win32ExitCode, ok.serviceSpecificExitCode], [0, 0]);
  assertEquals([ok.controlsAccepted, ok.checkPoint, ok.waitHint], [0, 0, 0]);
  const bad = stopped(2);
  assertEquals(bad.win32ExitCode, Win32.ERROR_SERVICE_SPECIFIC_ERROR);
  assertEquals(bad.serviceSpecificExitCode, 2);
});

Deno.test("SCM: SERVICE_STATUS is 7 little-endian DWORDs; names are UTF-16LE with a NUL", () => {
  const bytes = encodeServiceStatus({
    ...onControl(running(), ServiceControl.STOP).report!,
    checkPoint: 258,
  });
  assertEquals(bytes.byteLength, 28);
  const v = new DataView(bytes.buffer);
  assertEquals(
    [0, 1, 2, 3, 4, 5, 6].map((i) => v.getUint32(i * 4, true)),
    [0x10, 3, 0, 0, 0, 258, WAIT_HINT_MS],
  );
  assertEquals(bytes[20], 2, "little-endian: low byte first");
  assertEquals([...utf16z("Ab")], [0x41, 0, 0x62, 0, 0, 0]);
  const table = serviceTable(0x1000n, 0x2000n);
  assertEquals([...table], [0x1000n, 0x2000n, 0n, 0n], "entry then the NULL terminator");
  assert(table.byteLength === 32);
});
