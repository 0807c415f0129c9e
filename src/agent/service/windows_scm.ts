/**
 * The Windows Service Control Manager protocol as pure decisions: which SERVICE_STATUS to
 * report when the service starts, runs, is asked to stop and has stopped; which control codes
 * it accepts and what the handler returns for each; the exit codes; and the 28-byte
 * SERVICE_STATUS struct itself. The FFI layer (windows_ffi.ts) only carries these values to
 * advapi32, so everything that can be wrong is tested here, on any OS.
 *
 * The protocol (learn.microsoft.com, "Service ServiceMain Function", "SetServiceStatus"):
 * START_PENDING (checkpoints, wait hint, no controls) → RUNNING (accepts STOP and SHUTDOWN) →
 * on STOP/SHUTDOWN: STOP_PENDING (checkpoint increasing while stopping) → STOPPED with the exit
 * code. INTERROGATE is answered with NO_ERROR; anything else ERROR_CALL_NOT_IMPLEMENTED.
 * @module
 */

/** dwServiceType: a service that runs in its own process. */
export const SERVICE_WIN32_OWN_PROCESS = 0x10;

/** dwCurrentState values. */
export const ServiceState = {
  STOPPED: 1,
  START_PENDING: 2,
  STOP_PENDING: 3,
  RUNNING: 4,
} as const;

/** Control codes the SCM sends to the handler. */
export const ServiceControl = {
  STOP: 0x1,
  INTERROGATE: 0x4,
  SHUTDOWN: 0x5,
  PRESHUTDOWN: 0xf,
} as const;

/** dwControlsAccepted bits. */
export const ServiceAccept = { STOP: 0x1, SHUTDOWN: 0x4 } as const;

/** Win32 error codes used here. */
export const Win32 = {
  NO_ERROR: 0,
  ERROR_CALL_NOT_IMPLEMENTED: 120,
  ERROR_SERVICE_SPECIFIC_ERROR: 1066,
  /** StartServiceCtrlDispatcher from a process the SCM did not start. */
  ERROR_FAILED_SERVICE_CONTROLLER_CONNECT: 1063,
} as const;

/** How long the SCM should wait for the next report while starting or stopping (ms). */
export const WAIT_HINT_MS = 15_000;

/** SERVICE_STATUS. */
export interface ServiceStatus {
  serviceType: number;
  currentState: number;
  controlsAccepted: number;
  win32ExitCode: number;
  serviceSpecificExitCode: number;
  checkPoint: number;
  waitHint: number;
}

function status(
  currentState: number,
  over: Partial<ServiceStatus> = {},
): ServiceStatus {
  return {
    serviceType: SERVICE_WIN32_OWN_PROCESS,
    currentState,
    controlsAccepted: 0,
    win32ExitCode: Win32.NO_ERROR,
    serviceSpecificExitCode: 0,
    checkPoint: 0,
    waitHint: 0,
    ...over,
  };
}

/** The first report, from ServiceMain: starting, checkpoint 1, no controls accepted yet. */
export function startPending(): ServiceStatus {
  return status(ServiceState.START_PENDING, { checkPoint: 1, waitHint: WAIT_HINT_MS });
}

/** Running: accepts STOP and SHUTDOWN; checkpoint and wait hint back to 0. */
export function running(): ServiceStatus {
  return status(ServiceState.RUNNING, {
    controlsAccepted: ServiceAccept.STOP | ServiceAccept.SHUTDOWN,
  });
}

/** A progress report while a start or stop is pending (checkpoint + 1); unchanged otherwise. */
export function progress(s: ServiceStatus): ServiceStatus {
  const pending = s.currentState === ServiceState.START_PENDING ||
    s.currentState === ServiceState.STOP_PENDING;
  return pending ? { ...s, checkPoint: s.checkPoint + 1 } : s;
}

/**
 * The final report: STOPPED with the process's exit code (0 → NO_ERROR; anything else →
 * ERROR_SERVICE_SPECIFIC_ERROR with the code, so `sc query` shows it).
 */
export function stopped(exitCode: number): ServiceStatus {
  return exitCode === 0 ? status(ServiceState.STOPPED) : status(ServiceState.STOPPED, {
    win32ExitCode: Win32.ERROR_SERVICE_SPECIFIC_ERROR,
    serviceSpecificExitCode: exitCode >>> 0,
  });
}

/** What the handler does with one control code. */
export interface ControlDecision {
  /** The status to report now, if any. */
  report: ServiceStatus | null;
  /** Whether the agent must begin stopping. */
  stop: boolean;
  /** HandlerEx's return value. */
  result: number;
}

/** Decides what a control code means in the current status. */
export function onControl(current: ServiceStatus, control: number): ControlDecision {
  switch (control) {
    case ServiceControl.STOP:
    case ServiceControl.SHUTDOWN:
    case ServiceControl.PRESHUTDOWN: {
      if (
        current.currentState === ServiceState.STOP_PENDING ||
        current.currentState === ServiceState.STOPPED
      ) {
        return { report: null, stop: false, result: Win32.NO_ERROR };
      }
      return {
        report: status(ServiceState.STOP_PENDING, { checkPoint: 1, waitHint: WAIT_HINT_MS }),
        stop: true,
        result: Win32.NO_ERROR,
      };
    }
    case ServiceControl.INTERROGATE:
      return { report: current, stop: false, result: Win32.NO_ERROR };
    default:
      return { report: null, stop: false, result: Win32.ERROR_CALL_NOT_IMPLEMENTED };
  }
}

/** SERVICE_STATUS as the 7 little-endian DWORDs SetServiceStatus reads. */
export function encodeServiceStatus(s: ServiceStatus): Uint8Array<ArrayBuffer> {
  const buf = new Uint8Array(28);
  const v = new DataView(buf.buffer);
  [
    s.serviceType,
    s.currentState,
    s.controlsAccepted,
    s.win32ExitCode,
    s.serviceSpecificExitCode,
    s.checkPoint,
    s.waitHint,
  ].forEach((x, i) => v.setUint32(i * 4, x >>> 0, true));
  return buf;
}

/** A string as UTF-16LE with a terminating NUL (LPCWSTR). */
export function utf16z(text: string): Uint8Array<ArrayBuffer> {
  const buf = new Uint8Array((text.length + 1) * 2);
  const v = new DataView(buf.buffer);
  for (let i = 0; i < text.length; i++) v.setUint16(i * 2, text.charCodeAt(i), true);
  return buf;
}

/**
 * SERVICE_TABLE_ENTRYW[2] for a 64-bit process: {name, ServiceMain} then the {NULL, NULL}
 * terminator, as pointer-sized little-endian words.
 */
export function serviceTable(namePtr: bigint, mainPtr: bigint): BigUint64Array<ArrayBuffer> {
  return new BigUint64Array([namePtr, mainPtr, 0n, 0n]);
}
