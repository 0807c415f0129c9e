import { assertEquals } from "../../../_fixtures/assert.ts";
import {
  continuousFocusOf,
  focusModeOf,
  focusMoveBody,
  focusStopBody,
  moveOptionsBody,
  scaledSpeed,
  setFocusModeBody,
} from "../../../../src/cloud/access/onvif_focus.ts";

Deno.test("continuousFocusOf: the continuous speeds a camera offers, ONVIF's -1..1 when it gives none or nonsense, null when it has no continuous focus", () => {
  const options = (inner: string) =>
    `<timg:GetMoveOptionsResponse><timg:MoveOptions>${inner}</timg:MoveOptions>` +
    `</timg:GetMoveOptionsResponse>`;
  assertEquals(
    continuousFocusOf(
      options(
        `<tt:Absolute><tt:Position><tt:Min>0</tt:Min><tt:Max>1</tt:Max></tt:Position>` +
          `</tt:Absolute><tt:Continuous><tt:Speed><tt:Min>-7</tt:Min><tt:Max>7</tt:Max>` +
          `</tt:Speed></tt:Continuous>`,
      ),
    ),
    { min: -7, max: 7 },
  );
  assertEquals(continuousFocusOf(options(`<tt:Continuous></tt:Continuous>`)), { min: -1, max: 1 });
  assertEquals(
    continuousFocusOf(
      options(
        `<tt:Continuous><tt:Speed><tt:Min>1</tt:Min><tt:Max>-1</tt:Max></tt:Speed></tt:Continuous>`,
      ),
    ),
    { min: -1, max: 1 },
    "a range the wrong way round",
  );
  assertEquals(
    continuousFocusOf(
      options(
        `<tt:Absolute><tt:Position><tt:Min>0</tt:Min><tt:Max>1</tt:Max></tt:Position></tt:Absolute>`,
      ),
    ),
    null,
  );
});

Deno.test("scaledSpeed: -1..1 onto the camera's range, clamped, rounded, no -0", () => {
  assertEquals(scaledSpeed(-0.5, -1, 1), "-0.5");
  assertEquals(scaledSpeed(0.5, -7, 7), "3.5");
  assertEquals(scaledSpeed(-3, -1, 1), "-1");
  assertEquals(scaledSpeed(1 / 3, -1, 1), "0.333");
  assertEquals(scaledSpeed(-1e-9, -1, 1), "0");
});

Deno.test("the imaging bodies: the video source escaped, the speed as given, the focus mode alone and kept", () => {
  assertEquals(
    moveOptionsBody("VideoSource_1"),
    `<timg:GetMoveOptions><timg:VideoSourceToken>VideoSource_1</timg:VideoSourceToken>` +
      `</timg:GetMoveOptions>`,
  );
  assertEquals(
    focusMoveBody(`a<&"`, "-0.5"),
    `<timg:Move><timg:VideoSourceToken>a&#60;&#38;&#34;</timg:VideoSourceToken><timg:Focus>` +
      `<tt:Continuous><tt:Speed>-0.5</tt:Speed></tt:Continuous></timg:Focus></timg:Move>`,
  );
  assertEquals(
    focusStopBody("VideoSource_1"),
    `<timg:Stop><timg:VideoSourceToken>VideoSource_1</timg:VideoSourceToken></timg:Stop>`,
  );
  assertEquals(
    setFocusModeBody("VideoSource_1", "AUTO"),
    `<timg:SetImagingSettings><timg:VideoSourceToken>VideoSource_1</timg:VideoSourceToken>` +
      `<timg:ImagingSettings><tt:Focus><tt:AutoFocusMode>AUTO</tt:AutoFocusMode></tt:Focus>` +
      `</timg:ImagingSettings><timg:ForcePersistence>true</timg:ForcePersistence>` +
      `</timg:SetImagingSettings>`,
  );
});

Deno.test("focusModeOf: the focus's AutoFocusMode, null when absent or unknown", () => {
  const settings = (focus: string) =>
    `<timg:ImagingSettings><tt:Exposure><tt:Mode>AUTO</tt:Mode></tt:Exposure>${focus}` +
    `</timg:ImagingSettings>`;
  assertEquals(
    focusModeOf(settings(`<tt:Focus><tt:AutoFocusMode>MANUAL</tt:AutoFocusMode></tt:Focus>`)),
    "MANUAL",
  );
  assertEquals(
    focusModeOf(settings(`<tt:Focus><tt:AutoFocusMode> AUTO </tt:AutoFocusMode></tt:Focus>`)),
    "AUTO",
  );
  assertEquals(focusModeOf(settings("")), null, "the exposure's mode is not the focus's");
  assertEquals(
    focusModeOf(settings(`<tt:Focus><tt:AutoFocusMode>SEMI</tt:AutoFocusMode></tt:Focus>`)),
    null,
  );
});
