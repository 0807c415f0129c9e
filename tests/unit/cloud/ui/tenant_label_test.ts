/** The superadmin's tenant picker tells tenants of the same name apart. */
import { assertEquals } from "../../../_fixtures/assert.ts";
import { tenantLabel } from "../../../../src/cloud/ui/layout.tsx";

Deno.test("tenantLabel: the name alone, or with the end of the id when the name repeats", () => {
  const all = [
    { id: "t-aaaaaaaaaa111111", name: "Demo" },
    { id: "t-bbbbbbbbbb222222", name: "Demo" },
    { id: "t-cccccccccc333333", name: "Acme" },
  ];
  assertEquals(tenantLabel(all[0], all), "Demo (…111111)");
  assertEquals(tenantLabel(all[1], all), "Demo (…222222)");
  assertEquals(tenantLabel(all[2], all), "Acme");
});
