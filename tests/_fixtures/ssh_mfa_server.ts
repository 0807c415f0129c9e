/**
 * An SSH server that logs in only by keyboard-interactive in two rounds — a hidden password, then
 * a visible one-time code (or `codes` of them in that round) — as devices behind PAM with a
 * second factor do. OpenSSH needs PAM for that, so this is ssh2's own server (a real SSH
 * implementation on a loopback port, its own host key). Its shell prints `mfa-ok` and echoes what it is sent.
 * @module
 */
import ssh2 from "ssh2";

/** A running server. */
export interface MfaSshServer {
  port: number;
  stop(): Promise<void>;
}

interface Ctx {
  method: string;
  username: string;
  reject(methods?: string[]): void;
  accept(): void;
  prompt(
    prompts: { prompt: string; echo: boolean }[],
    title: string,
    instructions: string,
    cb: (answers: string[]) => void,
  ): void;
}

/** A fresh Ed25519 private key in OpenSSH's format (`ssh-keygen`), for an ssh2 server's host key. */
export async function freshHostKey(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "nc-ssh-key-" });
  try {
    const gen = await new Deno.Command("ssh-keygen", {
      args: ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/host_key`],
    }).output();
    if (!gen.success) throw new Error("ssh-keygen failed");
    return await Deno.readTextFile(`${dir}/host_key`);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Starts the server on 127.0.0.1 with a fresh host key. */
export async function startMfaSshServer(
  opts: { user: string; password: string; code: string; codes?: number },
): Promise<MfaSshServer> {
  const hostKey = await freshHostKey();
  // deno-lint-ignore no-explicit-any -- ssh2 ships no types (see src/cloud/access/terminal/ssh_client.ts)
  const { Server } = ssh2 as any;
  // deno-lint-ignore no-explicit-any
  const server = new Server({ hostKeys: [hostKey] }, (client: any) => {
    client.on("error", () => {});
    client.on("authentication", (ctx: Ctx) => {
      if (ctx.method !== "keyboard-interactive" || ctx.username !== opts.user) {
        return ctx.reject(["keyboard-interactive"]);
      }
      ctx.prompt([{ prompt: "Password: ", echo: false }], "Login", "", (a) => {
        if (a[0] !== opts.password) return ctx.reject(["keyboard-interactive"]);
        const n = opts.codes ?? 1;
        ctx.prompt(
          Array.from({ length: n }, (_, i) => ({
            prompt: n === 1 ? "Verification code: " : `Verification code ${i + 1}: `,
            echo: true,
          })),
          "Second factor",
          "Enter the code from your token",
          (b) =>
            b.length === n && b.every((x) => x === opts.code)
              ? ctx.accept()
              : ctx.reject(["keyboard-interactive"]),
        );
      });
    });
    client.on("ready", () => {
      // deno-lint-ignore no-explicit-any
      client.on("session", (accept: () => any) => {
        const session = accept();
        session.on("pty", (ok?: () => void) => ok?.());
        session.on("env", (ok?: () => void) => ok?.());
        // deno-lint-ignore no-explicit-any
        session.on("shell", (ok: () => any) => {
          const stream = ok();
          stream.write("mfa-ok\r\n");
          stream.on("data", (d: Uint8Array) => stream.write(d));
        });
      });
    });
  });
  const port = await new Promise<number>((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve(server.address().port));
  });
  return {
    port,
    async stop() {
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
