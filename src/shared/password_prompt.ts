/**
 * A password from standard input: piped input is read whole (one trailing newline dropped); a
 * terminal gets a prompt on stderr and the typed characters are not echoed. Passwords never go
 * on a command line, where `ps` and shell history would keep them (other secrets: secret_input.ts).
 * @module
 */

/** Reads one password from stdin; on a terminal, prompts with `prompt` and does not echo. */
export async function promptPassword(prompt: string): Promise<string> {
  if (!Deno.stdin.isTerminal()) {
    return (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "");
  }
  const enc = new TextEncoder();
  await Deno.stderr.write(enc.encode(prompt));
  Deno.stdin.setRaw(true);
  const bytes: number[] = [];
  try {
    const buf = new Uint8Array(64);
    read: for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      for (const b of buf.subarray(0, n)) {
        if (b === 0x0d || b === 0x0a || b === 0x04) break read; // Enter, Ctrl-D
        if (b === 0x03) throw new Error("interrupted"); // Ctrl-C
        if (b === 0x7f || b === 0x08) bytes.pop(); // Backspace
        else bytes.push(b);
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(enc.encode("\n"));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}
