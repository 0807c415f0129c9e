// The key per-address budgets count under: IPv4 as it is, IPv6 per /64 network. Checked by hand
// on the spellings a socket or X-Forwarded-For gives, and against node:net's own BlockList on
// generated addresses (the /64 a key names holds its address and no address of the next /64).
import { BlockList } from "node:net";
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { addressKey } from "../../../../src/cloud/tenancy/address_key.ts";

Deno.test("address key: IPv4 is one client, IPv6 one /64 network", () => {
  const cases: [string, string][] = [
    ["203.0.113.7", "203.0.113.7"],
    ["::ffff:203.0.113.7", "203.0.113.7"],
    ["::FFFF:203.0.113.7", "203.0.113.7"],
    ["2001:db8:1:2::a", "2001:db8:1:2::/64"],
    ["2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"],
    ["2001:0DB8:0001:0002:0000:0000:0000:0001", "2001:db8:1:2::/64"],
    ["2001:db8::", "2001:db8:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["::", "0:0:0:0::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["64:ff9b::192.0.2.33", "64:ff9b:0:0::/64"],
    ["2001:db8:a:b:c:d:192.0.2.33", "2001:db8:a:b::/64"],
    ["", ""],
    ["unknown", "unknown"],
  ];
  for (const [ip, key] of cases) assertEquals(addressKey(ip), key, ip);
  assertEquals(addressKey("2001:db8:1:2::a"), addressKey("2001:db8:1:2:dead:beef:0:1"));
  assert(addressKey("2001:db8:1:2::a") !== addressKey("2001:db8:1:3::a"));
});

Deno.test("address key: the /64 it names holds the address, per node:net's BlockList", () => {
  const group = () => Math.floor(Math.random() * 0x10000).toString(16);
  for (let i = 0; i < 2_000; i++) {
    const groups = Array.from({ length: 8 }, group);
    // Some addresses with a run of zeros, spelled with "::" the way a socket spells them.
    const zeroRun = i % 3 === 0 ? 1 + (i % 6) : 0;
    const start = i % 8;
    for (let z = 0; z < zeroRun && start + z < 8; z++) groups[start + z] = "0";
    const full = groups.join(":");
    const short = full.replace(/(^|:)0(:0)+(:|$)/, "::");
    const key = addressKey(short);
    assert(key.endsWith("::/64"), key);
    const net = new BlockList();
    net.addSubnet(key.slice(0, -3), 64, "ipv6");
    assert(net.check(full, "ipv6"), `${short} is in ${key}`);
    const next = [...groups];
    next[3] = ((parseInt(next[3], 16) + 1) & 0xffff).toString(16);
    assert(!net.check(next.join(":"), "ipv6"), `${next.join(":")} is not in ${key}`);
  }
});
