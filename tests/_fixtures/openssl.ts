/**
 * openssl as the independent verifier of what the product's PKI code makes: one runner for every
 * test that asks it (certificates, keys, chains), so each test states only what it checks.
 * @module
 */

/** What one openssl run gave. */
export interface OpensslRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `openssl args…`, with `stdin` piped in when given. */
export async function openssl(args: string[], stdin?: string): Promise<OpensslRun> {
  const child = new Deno.Command("openssl", {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs openssl and returns its output; throws with openssl's error text when it fails. */
export async function opensslOk(args: string[], stdin?: string): Promise<string> {
  const r = await openssl(args, stdin);
  if (r.code !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
  return r.stdout;
}
