/**
 * libc through Deno's FFI, opened once for the process: the few calls Deno has no API for. The
 * open-file limit (getrlimit/setrlimit: `open_files.ts`) on Linux and macOS, and on Linux the
 * socket calls of the transport (`transport/socket_info.ts`: TCP_NODELAY on a TLS listener,
 * TCP_NOTSENT_LOWAT, shutting down a socket stuck in a TLS handshake), and madvise for an idle
 * agent's executable pages (`agent/page_out.ts`). Before, the limit opened
 * and closed its own handle on every call beside this one. Needs `--allow-ffi` (part of `-A` and
 * of the compiled executables); callers treat a failure as "not possible here".
 * @module
 */

/** The libc symbols the product calls. */
export type Libc = Deno.DynamicLibrary<{
  getrlimit: { parameters: ["i32", "buffer"]; result: "i32" };
  setrlimit: { parameters: ["i32", "buffer"]; result: "i32" };
  getsockname: { parameters: ["i32", "buffer", "buffer"]; result: "i32" };
  getpeername: { parameters: ["i32", "buffer", "buffer"]; result: "i32" };
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"]; result: "i32" };
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"]; result: "i32" };
  shutdown: { parameters: ["i32", "i32"]; result: "i32" };
  madvise: { parameters: ["pointer", "usize", "i32"]; result: "i32" };
}>;

/** The C library of this OS (null where the product calls none: Windows). */
export function libcPath(os: typeof Deno.build.os = Deno.build.os): string | null {
  return os === "linux" ? "libc.so.6" : os === "darwin" ? "libSystem.B.dylib" : null;
}

let libc: Libc | null = null;

/** Opens libc once (throws where FFI or the library is not available). */
export function openLibc(): Libc {
  if (libc) return libc;
  const path = libcPath();
  if (!path) throw new Error(`no C library to call on ${Deno.build.os}`);
  libc = Deno.dlopen(path, {
    getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
    setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
    getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
    getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
    setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
    getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
    shutdown: { parameters: ["i32", "i32"], result: "i32" },
    madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  });
  return libc;
}
