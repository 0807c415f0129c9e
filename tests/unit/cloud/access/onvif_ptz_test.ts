import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import {
  continuousMoveBody,
  gotoPresetBody,
  presetsOf,
  ptzProfile,
  removePresetBody,
  setPresetBody,
  stopBody,
} from "../../../../src/cloud/access/onvif_ptz.ts";

Deno.test("continuousMoveBody and stopBody: ONVIF's velocity clamped to -1..1, a timeout in whole seconds, the token escaped", () => {
  assertEquals(
    continuousMoveBody("Profile_1", { pan: 0.5, tilt: -2, zoom: -0 }, 2),
    `<tptz:ContinuousMove><tptz:ProfileToken>Profile_1</tptz:ProfileToken><tptz:Velocity>` +
      `<tt:PanTilt x="0.5" y="-1"/><tt:Zoom x="0"/></tptz:Velocity><tptz:Timeout>PT2S` +
      `</tptz:Timeout></tptz:ContinuousMove>`,
  );
  assert(
    continuousMoveBody("a", { pan: 1e-9, tilt: 0.33333, zoom: 0 }, 0.2).includes(
      `<tt:PanTilt x="0" y="0.333"/>`,
    ),
  );
  assert(continuousMoveBody("a", { pan: 0, tilt: 0, zoom: 0 }, 0.2).includes("PT1S"));
  assertEquals(
    stopBody(`<x>&"`),
    `<tptz:Stop><tptz:ProfileToken>&#60;x&#62;&#38;&#34;</tptz:ProfileToken>` +
      `<tptz:PanTilt>true</tptz:PanTilt><tptz:Zoom>true</tptz:Zoom></tptz:Stop>`,
  );
});

Deno.test("ptzProfile: the first profile whose body has a PTZ configuration, else null", () => {
  const profiles = `<trt:GetProfilesResponse>` +
    `<trt:Profiles token="main"><tt:Name>main</tt:Name></trt:Profiles>` +
    `<trt:Profiles fixed="true" token="ptz"><tt:Name>p</tt:Name>` +
    `<tt:PTZConfiguration token="c"><tt:Name>x</tt:Name></tt:PTZConfiguration></trt:Profiles>` +
    `<trt:Profiles token="other"><tt:PTZConfiguration token="d"/></trt:Profiles>` +
    `</trt:GetProfilesResponse>`;
  assertEquals(ptzProfile(profiles), "ptz");
  assertEquals(ptzProfile(`<trt:Profiles token="a"><tt:Name>a</tt:Name></trt:Profiles>`), null);
  assertEquals(
    ptzProfile(`<trt:Profiles token="a"><tt:PTZConfigurationOptions/></trt:Profiles>`),
    null,
    "another element's name that starts alike",
  );
});

Deno.test("presetsOf: each preset's token and name in the camera's order; a nameless one by its token, a tokenless one left out", () => {
  const xml = `<tptz:GetPresetsResponse>` +
    `<tptz:Preset token="1"><tt:Name>Gate</tt:Name><tt:PTZPosition><tt:PanTilt x="0.1" y="0"/>` +
    `</tt:PTZPosition></tptz:Preset>` +
    `<tptz:Preset token="2"/>` +
    `<tptz:Preset><tt:Name>No token</tt:Name></tptz:Preset>` +
    `<tptz:Preset token="car&amp;park"><tt:Name> Car &amp; park </tt:Name></tptz:Preset>` +
    `</tptz:GetPresetsResponse>`;
  assertEquals(presetsOf(xml), [
    { token: "1", name: "Gate" },
    { token: "2", name: "2" },
    { token: "car&park", name: "Car & park" },
  ]);
  assertEquals(presetsOf("<tptz:GetPresetsResponse/>"), []);
  assertEquals(
    gotoPresetBody("Profile_1", "car&park"),
    `<tptz:GotoPreset><tptz:ProfileToken>Profile_1</tptz:ProfileToken>` +
      `<tptz:PresetToken>car&#38;park</tptz:PresetToken></tptz:GotoPreset>`,
  );
});

Deno.test("setPresetBody and removePresetBody: the name and tokens escaped; a token only to overwrite", () => {
  assertEquals(
    setPresetBody("Profile_1", "Gate <north> & yard"),
    `<tptz:SetPreset><tptz:ProfileToken>Profile_1</tptz:ProfileToken>` +
      `<tptz:PresetName>Gate &#60;north&#62; &#38; yard</tptz:PresetName></tptz:SetPreset>`,
  );
  assertEquals(
    setPresetBody("Profile_1", "Gate", "1"),
    `<tptz:SetPreset><tptz:ProfileToken>Profile_1</tptz:ProfileToken>` +
      `<tptz:PresetName>Gate</tptz:PresetName><tptz:PresetToken>1</tptz:PresetToken>` +
      `</tptz:SetPreset>`,
  );
  assertEquals(
    removePresetBody("Profile_1", "car&park"),
    `<tptz:RemovePreset><tptz:ProfileToken>Profile_1</tptz:ProfileToken>` +
      `<tptz:PresetToken>car&#38;park</tptz:PresetToken></tptz:RemovePreset>`,
  );
});
