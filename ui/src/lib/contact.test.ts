import { describe, expect, it } from "vitest";
import {
  CONFLICT_TEXT,
  callLink,
  contactInConflict,
  inConflict,
  parseSafeTimes,
  permission,
  timesState,
  timesText,
  wayText,
} from "./contact";

// Wednesday 25 November 2026, local time
const at = (hh: number, mm = 0, dayOffset = 0) => new Date(2026, 10, 25 + dayOffset, hh, mm);
const SATURDAY = 3;

describe("conflicts", () => {
  const conflicts = [{ path: "victim.phone", values: [] }, { path: "status", values: [] }];
  it("says whether a path holds two values, from a case's conflicts or a row's paths", () => {
    expect(inConflict(conflicts, "victim.phone")).toBe(true);
    expect(inConflict(conflicts, "victim.safe_contact.call_ok")).toBe(false);
    expect(inConflict(["victim.safe_contact.call_ok"], "victim.safe_contact.call_ok")).toBe(true);
    expect(inConflict(undefined, "victim.phone")).toBe(false);
  });
  it("finds a conflict on any contact rule or the phone, and only those", () => {
    expect(contactInConflict(conflicts)).toBe(true);
    expect(contactInConflict([{ path: "status", values: [] }])).toBe(false);
    expect(contactInConflict(["victim.safe_contact.safe_times"])).toBe(true);
    expect(contactInConflict(["victim.name"])).toBe(false);
  });
});

describe("permissions read one way only", () => {
  it("names each way with its own word", () => {
    expect(wayText("call", permission(false, false))).toBe("Call: NO");
    expect(wayText("text", permission(true, false))).toBe("Text: yes");
    expect(wayText("voicemail", permission(null, false))).toBe("Voicemail: not known");
    expect(wayText("call", permission(true, true))).toBe(`Call: ${CONFLICT_TEXT}`);
  });
});

describe("safe times", () => {
  it("reads ranges in 24-hour and am/pm forms", () => {
    expect(parseSafeTimes("10:00-12:00")).toEqual([{ days: null, from: 600, to: 720 }]);
    expect(parseSafeTimes("10:00–12:00")).toEqual([{ days: null, from: 600, to: 720 }]);
    expect(parseSafeTimes("between 2pm and 4pm")).toEqual([{ days: null, from: 840, to: 960 }]);
    expect(parseSafeTimes("8-10pm")).toEqual([{ days: null, from: 1200, to: 1320 }]);
    expect(parseSafeTimes("18:30 to 20:00")).toEqual([{ days: null, from: 1110, to: 1200 }]);
    expect(parseSafeTimes("10-2")).toEqual([{ days: null, from: 600, to: 840 }]);
    expect(parseSafeTimes("9-11")).toEqual([{ days: null, from: 540, to: 660 }]);
    expect(parseSafeTimes("08:00-10:00")).toEqual([{ days: null, from: 480, to: 600 }]);
  });
  it("reads after and before", () => {
    expect(parseSafeTimes("after 6pm")).toEqual([{ days: null, from: 1080, to: 1440 }]);
    expect(parseSafeTimes("After 18:00")).toEqual([{ days: null, from: 1080, to: 1440 }]);
    expect(parseSafeTimes("before 9 am")).toEqual([{ days: null, from: 0, to: 540 }]);
  });
  it("reads days", () => {
    expect(parseSafeTimes("weekdays 9-5")).toEqual([{ days: [1, 2, 3, 4, 5], from: 540, to: 1020 }]);
    expect(parseSafeTimes("Weekdays 10:00–12:00")).toEqual([{ days: [1, 2, 3, 4, 5], from: 600, to: 720 }]);
    expect(parseSafeTimes("Mon-Wed after 6pm")).toEqual([{ days: [1, 2, 3], from: 1080, to: 1440 }]);
    expect(parseSafeTimes("tues and thurs after 6pm")).toEqual([{ days: [2, 4], from: 1080, to: 1440 }]);
    expect(parseSafeTimes("weekends")).toEqual([{ days: [0, 6], from: 0, to: 1440 }]);
    expect(parseSafeTimes("weekdays 9-5, weekends after 2pm")).toHaveLength(2);
  });
  it("refuses what it cannot read with certainty", () => {
    for (const t of [
      "Only via GP surgery",
      "mornings",
      "after 6", // morning or evening?
      "2-4", // night or afternoon?
      "7-9", // morning or evening?
      "8-10",
      "after 6pm, weekends", // weekends all day, or after 6pm?
      "when he is at work",
      "after midnight",
      "at 3pm",
      "25:00-26:00",
      "",
    ]) {
      expect(parseSafeTimes(t), t).toBeNull();
    }
  });
  it("compares with the time now", () => {
    expect(timesState("10:00-12:00", at(10, 30))).toBe("inside");
    expect(timesState("10:00-12:00", at(12, 0))).toBe("outside");
    expect(timesState("10:00-12:00", at(9, 59))).toBe("outside");
    expect(timesState("weekdays 9-5", at(13, 0))).toBe("inside");
    expect(timesState("weekdays 9-5", at(13, 0, SATURDAY))).toBe("outside");
    expect(timesState("", at(13, 0))).toBe("none");
    expect(timesState("Only via GP surgery", at(13, 0))).toBe("unknown");
  });
  it("reads a window past midnight as belonging to the day it starts", () => {
    expect(timesState("22:00-06:00", at(23, 0))).toBe("inside");
    expect(timesState("22:00-06:00", at(5, 59))).toBe("inside");
    expect(timesState("22:00-06:00", at(6, 0))).toBe("outside");
    // Friday 22:00 to Saturday 06:00 is a weekday window; Saturday night is not
    expect(timesState("weekdays 10pm-6am", at(2, 0, SATURDAY))).toBe("inside");
    expect(timesState("weekdays 10pm-6am", at(23, 0, SATURDAY))).toBe("outside");
  });
  it("says it in words with the time now", () => {
    expect(timesText("10:00-12:00", at(13, 25))).toBe("now 13:25 — outside 10:00-12:00");
    expect(timesText("10:00-12:00", at(10, 5))).toBe("now 10:05 — inside 10:00-12:00");
    expect(timesText("Only via GP surgery", at(13, 25))).toBe("Safe times (as written): Only via GP surgery — now 13:25, not known if safe");
    expect(timesText("", at(13, 25))).toBe("Safe times: not recorded");
    expect(timesText("10:00-12:00", at(13, 25), true)).toBe(`Safe times: ${CONFLICT_TEXT}`);
  });
});

describe("the call link", () => {
  const phone = "07700 900120";
  it("calls at once only when calling is known to be safe now", () => {
    expect(callLink("yes", "inside", phone, false)).toEqual({ kind: "call" });
    expect(callLink("yes", "none", phone, false)).toEqual({ kind: "call" });
  });
  it("asks first when it is not known, outside the safe times, or the times cannot be read", () => {
    expect(callLink("unknown", "inside", phone, false).kind).toBe("confirm");
    expect(callLink("yes", "outside", phone, false).kind).toBe("confirm");
    expect(callLink("yes", "unknown", phone, false).kind).toBe("confirm");
    expect(callLink("yes", "inside", phone, false, true).kind).toBe("confirm");
  });
  it("offers no call when calling is not safe, in conflict, or the phone is in conflict", () => {
    expect(callLink("no", "inside", phone, false).kind).toBe("none");
    expect(callLink("conflict", "inside", phone, false).kind).toBe("none");
    expect(callLink("yes", "inside", phone, true)).toEqual({ kind: "none", reason: `Phone: ${CONFLICT_TEXT}` });
    expect(callLink("yes", "inside", "", false).kind).toBe("none");
  });
});
