/**
 * The thin FFI layer that lets the agent be a real Windows service (a console program under
 * `sc.exe create` fails with error 1053): StartServiceCtrlDispatcherW (on a worker thread, it
 * blocks until the service stops) → ServiceMain → RegisterServiceCtrlHandlerExW →
 * SetServiceStatus. Every decision — what to report, which controls to accept, exit codes, the
 * struct layout — is in windows_scm.ts and unit-tested; this file only carries values across.
 * Verified only by type checking: there is no Windows machine where this project is built.
 * @module
 */
import { UsageError } from "../../shared/cli.ts";
import {
  encodeServiceStatus,
  onControl,
  progress,
  running,
  ServiceState,
  type ServiceStatus,
  serviceTable,
  startPending,
  stopped,
  utf16z,
} from "./windows_scm.ts";
import { onServing, requestStop } from "./stop.ts";

const SYMBOLS = {
  StartServiceCtrlDispatcherW: { parameters: ["buffer"], result: "i32", nonblocking: true },
  RegisterServiceCtrlHandlerExW: {
    parameters: ["buffer", "function", "pointer"],
    result: "pointer",
  },
  SetServiceStatus: { parameters: ["pointer", "buffer"], result: "i32" },
} as const;

/**
 * Runs `body` (the agent's `run`) as the Windows service `name`; resolves with its exit code
 * after STOPPED was reported. Throws a UsageError when the SCM did not start this process.
 */
export async function runAsWindowsService(
  name: string,
  body: () => Promise<number>,
): Promise<number> {
  const lib = Deno.dlopen("advapi32.dll", SYMBOLS);
  const nameW = utf16z(name);
  let handle: Deno.PointerValue = null;
  let current: ServiceStatus = startPending();
  let exitCode = 0;
  let finished: Promise<void> = Promise.resolve();
  let started = false;
  const report = (s: ServiceStatus) => {
    current = s;
    if (handle) lib.symbols.SetServiceStatus(handle, encodeServiceStatus(s));
  };
  const ticker = setInterval(() => {
    const next = progress(current);
    if (next !== current) report(next);
  }, 2_000);
  const handler = Deno.UnsafeCallback.threadSafe(
    { parameters: ["u32", "u32", "pointer", "pointer"], result: "u32" } as const,
    (control: number) => {
      const d = onControl(current, control);
      if (d.report) report(d.report);
      if (d.stop) requestStop();
      return d.result;
    },
  );
  const serviceMain = Deno.UnsafeCallback.threadSafe(
    { parameters: ["u32", "pointer"], result: "void" } as const,
    () => {
      started = true;
      handle = lib.symbols.RegisterServiceCtrlHandlerExW(nameW, handler.pointer, null);
      report(startPending());
      onServing(() => {
        if (current.currentState === ServiceState.START_PENDING) report(running());
      });
      finished = body().catch(() => 1).then((code) => {
        exitCode = code;
        report(stopped(code));
      });
    },
  );
  const table = serviceTable(
    BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(nameW)!)),
    BigInt(Deno.UnsafePointer.value(serviceMain.pointer)),
  );
  const ok = await lib.symbols.StartServiceCtrlDispatcherW(table);
  clearInterval(ticker);
  await finished;
  handler.close();
  serviceMain.close();
  lib.close();
  if (!ok) {
    // GetLastError is per thread and the dispatcher ran on a worker: a dispatcher that never
    // called ServiceMain means this process was not started by the SCM (error 1063).
    throw new UsageError(
      started
        ? "the Windows Service Control Manager connection failed"
        : "--service is for the Windows Service Control Manager (error 1063 otherwise); start " +
          `the service with 'sc start ${name}', or run the agent in a console without --service`,
    );
  }
  return exitCode;
}
