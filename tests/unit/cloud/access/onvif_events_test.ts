// Reading a camera's PullMessages answer: motion from the topics cameras use for it (the cell
// motion detector's IsMotion, the video source's MotionAlarm State), the camera's time of it,
// other topics passed with no motion, and a camera's odd values read as unknown.
import { assertEquals } from "../../../_fixtures/assert.ts";
import { isMotionTopic, readNotices } from "../../../../src/cloud/access/onvif_events.ts";

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
    },
    { topic: "tns1:VideoSource/MotionAlarm", at: null, motion: false },
    {
      topic: "tns1:VideoSource/ImageTooBlurry/ImagingService",
      at: Date.parse("2026-12-05T10:00:00Z"),
      motion: null,
    },
    // One data item of another name: its value is the state.
    {
      topic: "tns1:RuleEngine/MyRuleDetector/Motion",
      at: Date.parse("2026-12-05T10:00:00Z"),
      motion: true,
    },
    {
      topic: "tns1:RuleEngine/CellMotionDetector/Motion",
      at: Date.parse("2026-12-05T10:00:00Z"),
      motion: null,
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
