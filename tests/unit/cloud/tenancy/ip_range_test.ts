import { assert, assertEquals, assertStringIncludes } from "../../../_fixtures/assert.ts";
import {
  type BulkProtocol,
  DEFAULT_PORTS,
  expandAddresses,
  MAX_BULK_ADDRESSES,
  portsFor,
  RangeInputError,
} from "../../../../src/cloud/tenancy/ip_range.ts";

/** Runs `fn`, asserts it throws `type`, and returns the message. */
function thrown(
  fn: () => unknown,
  type: new (...args: never[]) => Error = RangeInputError,
): string {
  try {
    fn();
  } catch (e) {
    assert(e instanceof type, `expected ${type.name}, got ${e}`);
    return e.message;
  }
  throw new Error("expected a throw");
}

/** Asserts `input` is refused with a RangeInputError whose message includes each fragment. */
function refuses(input: string, ...fragments: string[]): void {
  const message = thrown(() => expandAddresses(input));
  for (const fragment of fragments) assertStringIncludes(message, fragment);
}

const FORMS_HINT = "192.0.2.0/28";

Deno.test("ip range: a single address expands to itself", () => {
  assertEquals(expandAddresses("192.0.2.10"), ["192.0.2.10"]);
  assertEquals(expandAddresses("0.0.0.0"), ["0.0.0.0"]);
  assertEquals(expandAddresses("255.255.255.255"), ["255.255.255.255"]);
});

Deno.test("ip range: leading/trailing whitespace and spaces around separators are ignored", () => {
  assertEquals(expandAddresses("  198.51.100.7\t\n"), ["198.51.100.7"]);
  assertEquals(expandAddresses(" 198.51.100.1 - 198.51.100.3 "), [
    "198.51.100.1",
    "198.51.100.2",
    "198.51.100.3",
  ]);
  assertEquals(expandAddresses("\t203.0.113.1 -3  "), [
    "203.0.113.1",
    "203.0.113.2",
    "203.0.113.3",
  ]);
  assertEquals(expandAddresses(" 203.0.113.4 / 31 "), ["203.0.113.4", "203.0.113.5"]);
});

Deno.test("ip range: a full range is inclusive and ascending", () => {
  const got = expandAddresses("192.0.2.10-192.0.2.20");
  assertEquals(got.length, 11);
  assertEquals(got[0], "192.0.2.10");
  assertEquals(got[10], "192.0.2.20");
  assertEquals(got, Array.from({ length: 11 }, (_, i) => `192.0.2.${10 + i}`));
});

Deno.test("ip range: a range whose start equals its end is one address", () => {
  assertEquals(expandAddresses("192.0.2.10-192.0.2.10"), ["192.0.2.10"]);
  assertEquals(expandAddresses("192.0.2.10-10"), ["192.0.2.10"]);
});

Deno.test("ip range: a full range may cross an octet boundary", () => {
  assertEquals(expandAddresses("198.51.100.254-198.51.101.1"), [
    "198.51.100.254",
    "198.51.100.255",
    "198.51.101.0",
    "198.51.101.1",
  ]);
  assertEquals(expandAddresses("192.0.2.255-192.0.3.0"), ["192.0.2.255", "192.0.3.0"]);
});

Deno.test("ip range: last-octet shorthand equals the full form", () => {
  assertEquals(expandAddresses("192.0.2.10-20"), expandAddresses("192.0.2.10-192.0.2.20"));
  assertEquals(expandAddresses("203.0.113.250-255"), [
    "203.0.113.250",
    "203.0.113.251",
    "203.0.113.252",
    "203.0.113.253",
    "203.0.113.254",
    "203.0.113.255",
  ]);
  assertEquals(expandAddresses("203.0.113.0-1"), ["203.0.113.0", "203.0.113.1"]);
});

Deno.test("ip range: a reversed range is refused, naming both ends", () => {
  refuses("192.0.2.20-192.0.2.10", "192.0.2.20-192.0.2.10", "before it starts", "192.0.2.10");
  refuses("192.0.2.20-10", "before it starts", "192.0.2.10", "192.0.2.20");
  refuses("198.51.101.0-198.51.100.255", "before it starts");
});

Deno.test("ip range: CIDR /32 is the one address", () => {
  assertEquals(expandAddresses("192.0.2.77/32"), ["192.0.2.77"]);
});

Deno.test("ip range: CIDR /31 keeps both addresses (point-to-point)", () => {
  assertEquals(expandAddresses("192.0.2.0/31"), ["192.0.2.0", "192.0.2.1"]);
  assertEquals(expandAddresses("192.0.2.254/31"), ["192.0.2.254", "192.0.2.255"]);
});

Deno.test("ip range: CIDR /30 skips the network and broadcast addresses", () => {
  assertEquals(expandAddresses("198.51.100.4/30"), ["198.51.100.5", "198.51.100.6"]);
});

Deno.test("ip range: CIDR /28 gives 14 hosts, ascending", () => {
  assertEquals(
    expandAddresses("192.0.2.0/28"),
    Array.from({ length: 14 }, (_, i) => `192.0.2.${1 + i}`),
  );
});

Deno.test("ip range: CIDR /24 gives 254 hosts from .1 to .254", () => {
  const got = expandAddresses("203.0.113.0/24");
  assertEquals(got.length, 254);
  assertEquals(got[0], "203.0.113.1");
  assertEquals(got[253], "203.0.113.254");
  assert(!got.includes("203.0.113.0"));
  assert(!got.includes("203.0.113.255"));
  assertEquals(new Set(got).size, 254);
});

Deno.test("ip range: CIDR /23 spans two /24s and stays ascending", () => {
  const got = expandAddresses("198.51.100.0/23");
  assertEquals(got.length, 510);
  assertEquals(got[0], "198.51.100.1");
  assertEquals(got[254], "198.51.100.255");
  assertEquals(got[255], "198.51.101.0");
  assertEquals(got[509], "198.51.101.254");
});

Deno.test("ip range: CIDR host bits are ignored (the block is used)", () => {
  assertEquals(expandAddresses("192.0.2.5/28"), expandAddresses("192.0.2.0/28"));
  assertEquals(expandAddresses("192.0.2.6/30"), ["192.0.2.5", "192.0.2.6"]);
  assertEquals(expandAddresses("192.0.2.77/31"), ["192.0.2.76", "192.0.2.77"]);
});

Deno.test("ip range: CIDR /22 (1022 hosts) fits under the default cap", () => {
  const got = expandAddresses("198.51.100.0/22");
  assertEquals(got.length, 1022);
  assertEquals(got[0], "198.51.100.1");
  assertEquals(got[1021], "198.51.103.254");
});

Deno.test("ip range: the cap allows exactly max addresses and refuses max+1", () => {
  assertEquals(MAX_BULK_ADDRESSES, 1024);
  // 198.51.100.0 .. 198.51.103.255 is exactly 1024 addresses.
  assertEquals(expandAddresses("198.51.100.0-198.51.103.255").length, 1024);
  refuses(
    "198.51.100.0-198.51.104.0",
    "expands to 1025 addresses",
    "at most 1024 per request — split it",
  );
});

Deno.test("ip range: a custom max is honoured at the boundary", () => {
  assertEquals(expandAddresses("192.0.2.1-192.0.2.10", 10).length, 10);
  const message = thrown(() => expandAddresses("192.0.2.1-192.0.2.11", 10));
  assertStringIncludes(message, "expands to 11 addresses; at most 10 per request — split it");
  assertEquals(expandAddresses("192.0.2.9", 1), ["192.0.2.9"]);
  assertStringIncludes(
    thrown(() => expandAddresses("192.0.2.0/30", 1)),
    "expands to 2 addresses",
  );
  assertEquals(expandAddresses("192.0.2.0/28", 14).length, 14);
  assertStringIncludes(thrown(() => expandAddresses("192.0.2.0/28", 13)), "expands to 14");
});

Deno.test("ip range: oversized CIDR blocks are refused with the count", () => {
  refuses("192.0.2.0/21", "expands to 2046 addresses", "at most 1024 per request");
  refuses("0.0.0.0/0", "expands to 4294967294 addresses", "split it");
  refuses("0.0.0.0-255.255.255.255", "expands to 4294967296 addresses");
});

Deno.test("ip range: a prefix above 32 is refused", () => {
  refuses("192.0.2.0/33", "/33", "/0 to /32");
  refuses("192.0.2.0/128", "/128", "/0 to /32");
  refuses("192.0.2.0/99999999999999999999", "/0 to /32");
});

Deno.test("ip range: a prefix with a leading zero is refused", () => {
  refuses("192.0.2.0/028", "leading zero", "/28");
});

Deno.test("ip range: octets above 255 are refused wherever they appear", () => {
  refuses("192.0.2.256", "above 255", "256");
  refuses("256.0.2.1", "above 255");
  refuses("192.0.2.1-192.0.2.300", "above 255", "300");
  refuses("192.0.2.300-192.0.2.1", "above 255");
  refuses("192.0.2.1-256", "above 255", "256");
  refuses("192.0.2.999/24", "above 255");
  refuses("192.0.2.1000", "above 255");
});

Deno.test("ip range: octets with leading zeros are refused", () => {
  refuses("192.0.2.010", "leading zero", "010");
  refuses("192.0.02.10", "leading zero", "02");
  refuses("192.0.2.00", "leading zero");
  refuses("192.0.2.1-010", "leading zero", "010");
  refuses("192.0.2.1-192.0.2.010", "leading zero");
  refuses("192.0.2.016/28", "leading zero");
  // A lone zero octet is fine.
  assertEquals(expandAddresses("192.0.2.0"), ["192.0.2.0"]);
});

Deno.test("ip range: malformed input is refused and the accepted forms are named", () => {
  for (
    const input of [
      "",
      "   ",
      "192.0.2",
      "192.0.2.1.5",
      "192.0.2.",
      ".192.0.2.1",
      "192.0.2.x",
      "camera.example",
      "192.0.2.1-",
      "-192.0.2.1",
      "192.0.2.1-2.20",
      "192.0.2.1--5",
      "192.0.2.1-5-9",
      "192.0.2.0/",
      "192.0.2.0/-1",
      "192.0.2.0/24/24",
      "192.0.2.1-192.0.2.5/28",
      "192.0.2.1, 192.0.2.2",
      "192.0.2.1 192.0.2.2",
      "192.0. 2.1",
      "+192.0.2.1",
      "192.0.2.1e0",
      "１９２.0.2.1",
    ]
  ) {
    const message = thrown(() => expandAddresses(input));
    assertStringIncludes(message, FORMS_HINT, `for ${JSON.stringify(input)}`);
    assertStringIncludes(message, "192.0.2.10-20", `for ${JSON.stringify(input)}`);
  }
});

Deno.test("ip range: an address with a port is refused with a hint", () => {
  refuses("192.0.2.10:554", "port", FORMS_HINT);
});

Deno.test("ip range: IPv6 is refused with a clear message", () => {
  for (
    const input of [
      "2001:db8::1",
      "2001:db8::/120",
      "2001:db8::1-2001:db8::9",
      " 2001:DB8::10 ",
      "::1",
      "::ffff:192.0.2.1",
      "fe80::1%eth0",
    ]
  ) {
    const message = thrown(() => expandAddresses(input));
    assertEquals(
      message,
      "IPv6 ranges are not supported; add IPv6 devices one at a time.",
      `for ${JSON.stringify(input)}`,
    );
  }
});

Deno.test("ip range: errors are RangeInputError, also an Error, with its own name", () => {
  try {
    expandAddresses("nope");
    throw new Error("expected a throw");
  } catch (e) {
    assert(e instanceof RangeInputError);
    assert(e instanceof Error);
    assertEquals(e.name, "RangeInputError");
  }
});

Deno.test("ip range: a max that is not a positive integer is a programming error", () => {
  for (const max of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    thrown(() => expandAddresses("192.0.2.1", max), RangeError);
  }
});

Deno.test("ip range: results are fresh arrays", () => {
  const a = expandAddresses("192.0.2.1-2");
  a.push("mutated");
  assertEquals(expandAddresses("192.0.2.1-2"), ["192.0.2.1", "192.0.2.2"]);
});

Deno.test("ports: default ports per protocol", () => {
  assertEquals(DEFAULT_PORTS, { http: [80], https: [443], rtsp: [554], ssh: [22] });
});

Deno.test("ports: portsFor is a sorted, deduplicated union", () => {
  assertEquals(portsFor(["http"]), [80]);
  assertEquals(portsFor(["ssh"]), [22]);
  assertEquals(portsFor(["rtsp", "http"]), [80, 554]);
  assertEquals(portsFor(["rtsp", "https", "http", "ssh"]), [22, 80, 443, 554]);
  assertEquals(portsFor(["http", "http", "https", "http"]), [80, 443]);
});

Deno.test("ports: no protocols gives a camera's usual mix", () => {
  assertEquals(portsFor([]), [80, 443, 554]);
});

Deno.test("ports: portsFor returns fresh arrays and leaves DEFAULT_PORTS alone", () => {
  const empty = portsFor([]);
  empty.push(1);
  assertEquals(portsFor([]), [80, 443, 554]);
  const http = portsFor(["http"]);
  http.push(8080);
  assertEquals(DEFAULT_PORTS.http, [80]);
  assertEquals(portsFor(["http"]), [80]);
});

Deno.test("ports: an unknown protocol (unchecked input) is refused", () => {
  for (const bad of ["telnet", "toString", "__proto__"]) {
    const message = thrown(() => portsFor([bad as BulkProtocol]));
    assertStringIncludes(message, `"${bad}"`);
    assertStringIncludes(message, "http, https, rtsp, ssh");
  }
});
