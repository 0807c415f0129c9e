// Reading a camera's PullMessages answer: motion from the topics cameras use for it (the cell
// motion detector's IsMotion, the video source's MotionAlarm State), the camera's time of it,
// other topics passed with no motion, and a camera's odd values read as unknown; tampering from
// ONVIF's global scene change and the vendors' tamper detectors, the same way.
import { assertEquals } from "../../../_fixtures/assert.ts";
import {
  isInputTopic,
  isMotionTopic,
  isTamperTopic,
  readNotices,
} from "../../../../src/cloud/access/onvif_events.ts";

const notice = (topic: string, data: string, utc = "2026-12-05T10:00:00Z") =>
  `<wsnt:NotificationMessage><wsnt:Topic Dialect="x">${topic}</wsnt:Topic><wsnt:Message>` +
  `<tt:Message UtcTime="${utc}" PropertyOperation="Changed"><tt:Source><tt:SimpleItem ` +
  `Name="VideoSourceConfigurationToken" Value="VideoSource_1"/></tt:Source><tt:Data>${data}` +
  `</tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>`;
const item = (name: string, value: string) => `<tt:SimpleItem Name="${name}" Value="${value}"/>`;

Deno.test("ONVIF events: motion topics and their state, the camera's time, other topics", () => {
  const xml = `<tev:PullMessagesResponse>${
    notice("tns1:RuleEngine/CellMotionDetector/Motion", item("IsMotion", "true"))
  }${notice("tns1:VideoSource/MotionAlarm", item("State", "false"), "not a time")}${
    notice("tns1:VideoSource/ImageTooBlurry/ImagingService", item("State", "true"))
  }${notice("tns1:RuleEngine/MyRuleDetector/Motion", item("Other", "1"))}${
    notice("tns1:RuleEngine/CellMotionDetector/Motion", item("IsMotion", "maybe"))
  }</tev:PullMessagesResponse>`;
  assertEquals(readNotices(xml), [
    {
      topic: "tns1:RuleEngine/CellMotionDetector/Motion",
      at: Date.parse("2026-12-05T10:00:00Z"),
      motion: true,
      tamper: null,
      input: null,
    },
    { topic: "tns1:VideoSource/MotionAlarm", at: null, motion: false, tamper: null, input: null },
    {
      topic: "tns1:VideoSource/ImageTooBlurry/ImagingService",
      at: Date.parse("2026-12-05T10:00:00Z"),
      motion: null,
      tamper: null,
      input: null,
    },
    // One data item of another name: its value is the state.
    {
      topic: "tns1:RuleEngine/MyRuleDetector/Motion",
      at: Date.parse("2026-12-05T10:00:00Z"),
      motion: true,
      tamper: null,
      input: null,
    },
    {
      topic: "tns1:RuleEngine/CellMotionDetector/Motion",
      at: Date.parse("2026-12-05T10:00:00Z"),
      motion: null,
      tamper: null,
      input: null,
    },
  ]);
  assertEquals(readNotices("<tev:PullMessagesResponse/>"), []);
});

Deno.test("ONVIF events: which topics are motion", () => {
  for (
    const t of [
      "tns1:VideoSource/MotionAlarm",
      "tns1:RuleEngine/CellMotionDetector/Motion",
      "tns1:RuleEngine/MotionRegionDetector/Motion",
    ]
  ) assertEquals(isMotionTopic(t), true, t);
  for (
    const t of [
      "tns1:VideoSource/ImageTooBlurry/ImagingService",
      "tns1:Device/Trigger/DigitalInput",
      "tns1:RuleEngine/TamperDetector/Tamper",
      "tns1:MotionlessThing",
    ]
  ) assertEquals(isMotionTopic(t), false, t);
});

Deno.test("ONVIF events: tampering topics and their state", () => {
  const xml =
    `<tev:PullMessagesResponse>${
      notice("tns1:VideoSource/GlobalSceneChange/ImagingService", item("State", "true"))
    }${notice("tns1:RuleEngine/TamperDetector/Tamper", item("IsTamper", "false"))}${
      notice("tnsaxis:VideoSource/Tampering", item("Active", "1"))
    }${notice("tns1:VideoSource/GlobalSceneChange/ImagingService", item("State", "sometimes"))}` +
    `</tev:PullMessagesResponse>`;
  assertEquals(readNotices(xml).map((n) => [n.topic, n.motion, n.tamper]), [
    ["tns1:VideoSource/GlobalSceneChange/ImagingService", null, true],
    ["tns1:RuleEngine/TamperDetector/Tamper", null, false],
    ["tnsaxis:VideoSource/Tampering", null, true],
    ["tns1:VideoSource/GlobalSceneChange/ImagingService", null, null],
  ]);
  for (
    const t of [
      "tns1:VideoSource/GlobalSceneChange/ImagingService",
      "tns1:VideoSource/GlobalSceneChange/AnalyticsService",
      "tns1:RuleEngine/TamperDetector/Tamper",
      "tnsaxis:VideoSource/Tampering",
    ]
  ) assertEquals(isTamperTopic(t), true, t);
  for (
    const t of [
      "tns1:VideoSource/MotionAlarm",
      "tns1:VideoSource/ImageTooDark/ImagingService",
      "tns1:Device/Trigger/DigitalInput",
      "tns1:TamperproofThing",
    ]
  ) assertEquals(isTamperTopic(t), false, t);
});

Deno.test("ONVIF events: alarm inputs, their state and which input", () => {
  const axis = (port: string, state: string) =>
    `<wsnt:NotificationMessage><wsnt:Topic Dialect="x">tns1:Device/tnsaxis:IO/Port</wsnt:Topic>` +
    `<wsnt:Message><tt:Message UtcTime="2026-12-05T10:00:00Z"><tt:Source><tt:SimpleItem ` +
    `Name="port" Value="${port}"/></tt:Source><tt:Data><tt:SimpleItem Name="state" ` +
    `Value="${state}"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>`;
  const onvif = (token: string, state: string) =>
    notice("tns1:Device/Trigger/DigitalInput", item("LogicalState", state)).replace(
      `Name="VideoSourceConfigurationToken" Value="VideoSource_1"`,
      `Name="InputToken" Value="${token}"`,
    );
  const xml =
    `<tev:PullMessagesResponse>${onvif("DI_1", "true")}${onvif("DI_2", "false")}${axis("1", "1")}${
      notice("tns1:Device/Trigger/DigitalInput", item("LogicalState", "true"))
    }` +
    `</tev:PullMessagesResponse>`;
  assertEquals(
    readNotices(xml).map((n) => [n.input, n.inputName ?? null, n.motion, n.tamper]),
    [[true, "DI_1", null, null], [false, "DI_2", null, null], [true, "1", null, null], [
      true,
      null,
      null,
      null,
    ]],
  );
  for (const t of ["tns1:Device/Trigger/DigitalInput", "tns1:Device/tnsaxis:IO/Port"]) {
    assertEquals(isInputTopic(t), true, t);
  }
  for (const t of ["tns1:Device/Trigger/Relay", "tns1:VideoSource/MotionAlarm", "tns1:Port"]) {
    assertEquals(isInputTopic(t), false, t);
  }
});
