import { expect, test } from "vitest";
import type { Conflict } from "./bindings/Conflict";
import { conflictFor, conflictTitle, isProminent, resolutionText, sortConflicts, valueLabel, whoWhen } from "./conflicts";
import { fieldName } from "./fields";

const at = new Date(2026, 10, 22, 9, 30).toISOString();

test("status and risk conflicts are prominent", () => {
  expect(isProminent("status")).toBe(true);
  expect(isProminent("risk_assessments.x.judgement_level")).toBe(true);
  expect(isProminent("victim.phone")).toBe(false);
});

test("prominent conflicts sort first", () => {
  const cs: Conflict[] = [
    { path: "victim.phone", values: [] },
    { path: "status", values: [] },
    { path: "incident.location", values: [] },
  ];
  expect(sortConflicts(cs).map((c) => c.path)).toEqual(["status", "victim.phone", "incident.location"]); // Phone < Where
  expect(conflictFor(cs, "status")?.path).toBe("status");
  expect(conflictFor(undefined, "status")).toBeUndefined();
});

test("values read in plain words and resolve to field text", () => {
  const b = { value: false, user: "pc.example", role: "officer", at, verified: true };
  expect(valueLabel(b)).toBe("No");
  expect(resolutionText(b)).toBe("no");
  const s = { value: "handed_over", user: "ds.sample", role: "safeguarding", at, verified: true };
  expect(valueLabel(s)).toBe("Handed over");
  expect(resolutionText(s)).toBe("handed_over");
  expect(valueLabel({ value: null, user: "x", role: "idva", at, verified: true })).toBe("Not recorded");
  expect(valueLabel({ value: "07700 900123", user: "x", role: "idva", at, verified: true })).toBe("07700 900123");
  expect(whoWhen(b)).toBe("pc.example (Police officer), 22 Nov 2026, 09:30");
  expect(whoWhen({ ...b, verified: false })).toBe("pc.example, not confirmed by the server (Police officer), 22 Nov 2026, 09:30");
});

test("titles and field names", () => {
  expect(conflictTitle({ path: "victim.safe_contact.call_ok", values: [b1(), b1()] })).toBe("Safe to call: 2 different values");
  expect(fieldName("referrals.abc.status")).toBe("Referral status");
  expect(fieldName("made.up")).toBe("made.up");
});

function b1() {
  return { value: true, user: "u", role: "idva", at, verified: true };
}
