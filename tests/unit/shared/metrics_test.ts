// The shared Prometheus registry: exposition text, labels, counters that never drop.
import { assert, assertEquals, assertStringIncludes } from "../../_fixtures/assert.ts";
import { metrics, Registry } from "../../../src/shared/metrics.ts";

Deno.test("metrics: counters and gauges with labels render in the text exposition format", () => {
  const r = new Registry();
  const c = r.counter("x_requests_total", "Requests\nby path");
  c.inc({ path: "ws" });
  c.inc({ path: "ws" }, 2);
  c.inc({ path: 'a"b\\c' });
  const g = r.gauge("x_open", "Open things");
  g.inc();
  g.inc();
  g.dec();
  r.gauge("x_computed", "Computed at scrape").collect(() => [
    { labels: { side: "in" }, value: 4 },
    { labels: { side: "out" }, value: 5 },
  ]);
  r.counter("x_never_total", "Never touched");
  assertEquals(
    r.render(),
    [
      "# HELP x_requests_total Requests\\nby path",
      "# TYPE x_requests_total counter",
      'x_requests_total{path="ws"} 3',
      'x_requests_total{path="a\\"b\\\\c"} 1',
      "# HELP x_open Open things",
      "# TYPE x_open gauge",
      "x_open 1",
      "# HELP x_computed Computed at scrape",
      "# TYPE x_computed gauge",
      'x_computed{side="in"} 4',
      'x_computed{side="out"} 5',
      "# HELP x_never_total Never touched",
      "# TYPE x_never_total counter",
      "x_never_total 0",
      "",
    ].join("\n"),
  );
  assertEquals(c.get({ path: "ws" }), 3);
});

Deno.test("metrics: a counter cannot go down, names are checked, a name keeps its kind", () => {
  const r = new Registry();
  const c = r.counter("y_total", "y");
  let threw = false;
  try {
    c.inc({}, -1);
  } catch {
    threw = true;
  }
  assert(threw, "negative increment refused");
  assertEquals(r.counter("y_total", "again"), c);
  threw = false;
  try {
    r.gauge("y_total", "y");
  } catch {
    threw = true;
  }
  assert(threw, "a counter name cannot become a gauge");
  threw = false;
  try {
    r.counter("bad-name", "x");
  } catch {
    threw = true;
  }
  assert(threw, "bad metric name refused");
});

Deno.test("metrics: the process registry reports RSS and open fds", () => {
  const text = metrics.render();
  assertStringIncludes(text, "# TYPE process_resident_memory_bytes gauge");
  const rss = Number(/^process_resident_memory_bytes (\d+)$/m.exec(text)?.[1]);
  assert(rss > 1 << 20, `rss ${rss}`);
  const fds = Number(/^process_open_fds (-?\d+)$/m.exec(text)?.[1]);
  assert(fds > 2, `fds ${fds}`);
});
