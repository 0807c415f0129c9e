import assert from "node:assert/strict";
import { join } from "node:path";
import {
  assertPrivate,
  writePublicFile,
  writeSecretFile,
} from "../../../../src/shared/crypto/files.ts";

const posix = Deno.build.os !== "windows";

async function modeOf(path: string): Promise<number> {
  const { mode } = await Deno.stat(path);
  assert.notEqual(mode, null);
  return mode! & 0o777;
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "files_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "writeSecretFile creates parents 0700 and the file 0600 with the given text",
  ignore: !posix,
  fn: () =>
    withTempDir(async (dir) => {
      const path = join(dir, "a", "b", "agent.key");
      await writeSecretFile(path, "-----BEGIN PRIVATE KEY-----\nx\n");
      assert.equal(await Deno.readTextFile(path), "-----BEGIN PRIVATE KEY-----\nx\n");
      assert.equal(await modeOf(path), 0o600);
      assert.equal(await modeOf(join(dir, "a")), 0o700);
      assert.equal(await modeOf(join(dir, "a", "b")), 0o700);
      assert.deepEqual(await listDir(join(dir, "a", "b")), ["agent.key"]);
      await assertPrivate(path);
    }),
});

Deno.test({
  name: "writeSecretFile tightens a pre-existing 0644 file to 0600 and leaves no temp file",
  ignore: !posix,
  fn: () =>
    withTempDir(async (dir) => {
      const path = join(dir, "token");
      await Deno.writeTextFile(path, "old contents that are longer than the new ones");
      await Deno.chmod(path, 0o644);
      assert.equal(await modeOf(path), 0o644);
      await assert.rejects(assertPrivate(path), /mode 0644/);

      await writeSecretFile(path, "new");
      assert.equal(await Deno.readTextFile(path), "new");
      assert.equal(await modeOf(path), 0o600);
      assert.deepEqual(await listDir(dir), ["token"]);
      await assertPrivate(path);
    }),
});

Deno.test({
  name: "writeSecretFile writes bytes verbatim and replaces the inode atomically",
  ignore: !posix,
  fn: () =>
    withTempDir(async (dir) => {
      const path = join(dir, "blob");
      await Deno.writeTextFile(path, "before");
      const before = await Deno.stat(path);
      const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31 + 7) & 0xff);
      await writeSecretFile(path, bytes);
      assert.deepEqual(await Deno.readFile(path), bytes);
      const after = await Deno.stat(path);
      // A rename over the target installs a new inode; an in-place rewrite would keep the old one.
      assert.notEqual(after.ino, before.ino);
      assert.deepEqual(await listDir(dir), ["blob"]);
    }),
});

Deno.test({
  name: "writePublicFile yields 0644 even over a 0600 file",
  ignore: !posix,
  fn: () =>
    withTempDir(async (dir) => {
      const path = join(dir, "certs", "ca.pem");
      await writeSecretFile(path, "secret first");
      await writePublicFile(path, "-----BEGIN CERTIFICATE-----\n");
      assert.equal(await Deno.readTextFile(path), "-----BEGIN CERTIFICATE-----\n");
      assert.equal(await modeOf(path), 0o644);
      assert.equal(await modeOf(join(dir, "certs")), 0o700);
      assert.deepEqual(await listDir(join(dir, "certs")), ["ca.pem"]);
      await assert.rejects(assertPrivate(path), /group\/others/);
    }),
});

Deno.test({
  name: "a failed write (target is a directory) removes its temp file",
  ignore: !posix,
  fn: () =>
    withTempDir(async (dir) => {
      const path = join(dir, "occupied");
      await Deno.mkdir(path);
      await assert.rejects(writeSecretFile(path, "x"));
      assert.deepEqual(await listDir(dir), ["occupied"]);
    }),
});

Deno.test({
  name: "assertPrivate rejects any group/other bit and accepts 0600 and 0400",
  ignore: !posix,
  fn: () =>
    withTempDir(async (dir) => {
      const path = join(dir, "k");
      await Deno.writeTextFile(path, "k");
      for (const mode of [0o640, 0o604, 0o620, 0o601, 0o660]) {
        await Deno.chmod(path, mode);
        await assert.rejects(assertPrivate(path), Error, `mode ${mode.toString(8)}`);
      }
      for (const mode of [0o600, 0o400]) {
        await Deno.chmod(path, mode);
        await assertPrivate(path);
      }
      await assert.rejects(assertPrivate(join(dir, "missing")), Deno.errors.NotFound);
    }),
});
