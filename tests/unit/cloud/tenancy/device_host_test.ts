// Device hosts: unspecified addresses always refused; link-local and metadata unless allowed.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { addressOf, deviceHostRefusal } from "../../../../src/cloud/tenancy/device_host.ts";

Deno.test("device hosts: unspecified refused in every spelling, link-local unless allowed", () => {
  for (const h of ["0.0.0.0", "0", "0.0.0.5", "0x0", "::", "[::]", "0:0:0:0:0:0:0:0"]) {
    assert(deviceHostRefusal(h, false), h);
    assert(deviceHostRefusal(h, true), `${h} even when link-local is allowed`);
  }
  const linkLocal = [
    "169.254.169.254",
    "2852039166",
    "0xa9.0xfe.0xa9.0xfe",
    "169.254.1.1",
    "fe80::1",
    "FE80::abcd",
    "fd00:ec2::254",
    "::ffff:169.254.169.254",
    "metadata.google.internal",
    "Metadata.Google.Internal.",
  ];
  for (const h of linkLocal) {
    assert(deviceHostRefusal(h, false)?.includes("--allow-link-local-devices"), h);
    assertEquals(deviceHostRefusal(h, true), null, h);
  }
  for (
    const h of ["192.0.2.10", "10.0.0.1", "127.0.0.1", "camera.local", "fd00::1", "2001:db8::1"]
  ) {
    assertEquals(deviceHostRefusal(h, false), null, h);
  }
  assertEquals(addressOf("2852039166"), { address: "169.254.169.254", family: "ipv4" });
});
