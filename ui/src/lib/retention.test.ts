import { expect, test } from "vitest";
import { hours, leavesText, policySource, policyText, whenShort } from "./retention";

const heard = { grace_hours: 72, heard_from_server: true };
const unheard = { grace_hours: 72, heard_from_server: false };

test("a leaving time: today, tomorrow, a weekday within the week, further ones a date", () => {
  const now = new Date(2026, 10, 30, 9, 0); // Monday
  expect(whenShort(new Date(2026, 10, 30, 23, 59).toISOString(), now)).toBe("today 23:59");
  expect(whenShort(new Date(2026, 11, 1, 0, 30).toISOString(), now)).toBe("tomorrow 00:30");
  expect(whenShort(new Date(2026, 11, 3, 14, 5).toISOString(), now)).toBe("Thu 14:05");
  expect(whenShort(new Date(2026, 11, 6, 14, 5).toISOString(), now)).toBe("Sun 14:05");
  expect(whenShort(new Date(2026, 11, 7, 14, 5).toISOString(), now)).toBe("7 Dec 2026, 14:05");
  expect(whenShort(new Date(2026, 11, 20, 8, 0).toISOString(), now)).toBe("20 Dec 2026, 08:00");
  expect(whenShort("not a time", now)).toBe("");
});

test("the case row says when, why and by which policy", () => {
  const now = new Date(2026, 10, 30, 9, 0);
  const at = new Date(2026, 11, 3, 14, 5).toISOString();
  expect(leavesText({ at, due: false, policy: heard }, "handed_over", now)).toBe(
    "Leaves this device about Thu 14:05 (handed over; 72 h policy)",
  );
  expect(leavesText({ at, due: false, policy: unheard }, "closed", now)).toBe(
    "Leaves this device about Thu 14:05 (closed; usual 72 h, not yet heard from the server)",
  );
  // past, by the app's word or by the clock since
  expect(leavesText({ at, due: true, policy: heard }, "closed", now)).toBe(
    "Leaves this device at the next sync (closed; 72 h policy)",
  );
  expect(leavesText({ at, due: false, policy: heard }, "closed", new Date(2026, 11, 4))).toMatch(/^Leaves this device at the next sync/);
});

test("the Settings card words the policy for each role", () => {
  expect(hours(1)).toBe("1 hour");
  expect(policyText(heard, "officer")).toBe(
    "Handed-over and closed cases stay 72 hours after hand-over or closing, then leave this device at the next sync.",
  );
  expect(policyText({ grace_hours: 0, heard_from_server: true }, "idva")).toBe("Handed-over and closed cases leave this device at the next sync.");
  expect(policyText(heard, "safeguarding")).toBe(
    "Handed-over cases stay on this device. Closed cases stay 72 hours after they are closed, then leave at the next sync.",
  );
  expect(policySource(unheard)).toMatch(/^Not yet heard from the server/);
  expect(policySource(heard)).toMatch(/division's policy/);
});
