import { assertEquals } from "../../../_fixtures/assert.ts";
import {
  durationSeconds,
  relayOutputsOf,
  setRelayBody,
} from "../../../../src/cloud/access/onvif_relays.ts";

Deno.test("durationSeconds: hours, minutes and seconds of an xs:duration; anything else null", () => {
  assertEquals(durationSeconds("PT5S"), 5);
  assertEquals(durationSeconds(" PT1M30S "), 90);
  assertEquals(durationSeconds("PT0.5S"), 0.5);
  assertEquals(durationSeconds("PT1H"), 3600);
  assertEquals(durationSeconds("P0DT2S"), 2);
  assertEquals(durationSeconds("PT"), null);
  assertEquals(durationSeconds("P1D"), null);
  assertEquals(durationSeconds("5"), null);
});

Deno.test("relayOutputsOf: each output's token, mode and delay in the camera's order; a tokenless one left out, an odd mode null", () => {
  const xml = `<tds:GetRelayOutputsResponse>` +
    `<tds:RelayOutputs token="AlarmOut_0"><tt:Properties><tt:Mode>Monostable</tt:Mode>` +
    `<tt:DelayTime>PT5S</tt:DelayTime><tt:IdleState>open</tt:IdleState></tt:Properties>` +
    `</tds:RelayOutputs>` +
    `<tds:RelayOutputs><tt:Properties><tt:Mode>Bistable</tt:Mode></tt:Properties></tds:RelayOutputs>` +
    `<tds:RelayOutputs token="Out&amp;2"><tt:Properties><tt:Mode>Pulse</tt:Mode>` +
    `<tt:DelayTime>soon</tt:DelayTime></tt:Properties></tds:RelayOutputs>` +
    `<tds:RelayOutputs token="bare"/>` +
    `</tds:GetRelayOutputsResponse>`;
  assertEquals(relayOutputsOf(xml), [
    { token: "AlarmOut_0", mode: "Monostable", delaySeconds: 5 },
    { token: "Out&2", mode: null, delaySeconds: null },
    { token: "bare", mode: null, delaySeconds: null },
  ]);
  assertEquals(relayOutputsOf("<tds:GetRelayOutputsResponse/>"), []);
});

Deno.test("setRelayBody: the token escaped, the state as told", () => {
  assertEquals(
    setRelayBody("Out&2", "active"),
    `<tds:SetRelayOutputState><tds:RelayOutputToken>Out&#38;2</tds:RelayOutputToken>` +
      `<tds:LogicalState>active</tds:LogicalState></tds:SetRelayOutputState>`,
  );
});
