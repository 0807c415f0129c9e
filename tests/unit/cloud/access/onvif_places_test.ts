import { assertEquals } from "../../../_fixtures/assert.ts";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { ONVIF_PLACE_TTL_MS, OnvifPlaces } from "../../../../src/cloud/access/onvif_places.ts";

Deno.test("OnvifPlaces: a camera's place is kept for a minute, forgotten on demand", () => {
  const clock = new ManualClock(1_000);
  const place = { service: "/onvif/PTZ", profile: "Profile_1", skew: -3_600_000 };
  const places = new OnvifPlaces<typeof place>(() => clock.now());
  assertEquals(places.get("d:554"), null);
  places.set("d:554", place);
  clock.advance(ONVIF_PLACE_TTL_MS - 1);
  assertEquals(places.get("d:554"), place);
  clock.advance(1);
  assertEquals(places.get("d:554"), null, "a minute later it is asked again");
  places.set("d:554", place);
  places.forget("d:554");
  assertEquals(places.get("d:554"), null);
});

Deno.test("OnvifPlaces.forgetCamera: a camera whose clock was set is forgotten by every job, its ports all, no other camera", () => {
  const now = () => 0;
  const ptz = new OnvifPlaces<string>(now);
  const focus = new OnvifPlaces<string>(now);
  ptz.set(OnvifPlaces.key("cam-1", 80), "ptz at 80");
  ptz.set(OnvifPlaces.key("cam-1", 8000), "ptz at 8000");
  focus.set(OnvifPlaces.key("cam-1", 80), "focus at 80");
  ptz.set(OnvifPlaces.key("cam-10", 80), "another camera");
  OnvifPlaces.forgetCamera("cam-1");
  assertEquals(
    [
      ptz.get(OnvifPlaces.key("cam-1", 80)),
      ptz.get(OnvifPlaces.key("cam-1", 8000)),
      focus.get(OnvifPlaces.key("cam-1", 80)),
    ],
    [null, null, null],
  );
  assertEquals(ptz.get(OnvifPlaces.key("cam-10", 80)), "another camera");
});
