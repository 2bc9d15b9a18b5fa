import { expect, test } from "vitest";
import { blankTriage, checkTriage } from "./triage";

const today = "2026-11-22";
const now = new Date(2026, 10, 22, 12, 0);

test("an empty form says what is missing, in plain words", () => {
  const { errors, input } = checkTriage(blankTriage(today), today, now);
  expect(input).toBeNull();
  expect(Object.keys(errors)).toEqual(["reference", "victimName", "dara", "reason", "team"]);
  expect(errors.reference).toMatch(/police reference/);
  expect(errors.dara).toMatch(/DARA level/);
});

test("the need is required unless the reason is high risk", () => {
  const f = { ...blankTriage(today, "Provide 1"), reference: "LC-1", victimName: "Erin Fictional", dara: "medium" as const, reason: "health_need" as const };
  expect(checkTriage(f, today, now).errors.need).toMatch(/health need/);
  const ok = checkTriage({ ...f, need: "Pregnant, GP appointments only" }, today, now);
  expect(ok.errors).toEqual({});
  expect(ok.input).toMatchObject({ reason: "health_need", need: "Pregnant, GP appointments only", dara_level: "medium", visit_date: today, shift: null, priority: null, team: "Provide 1" });
});

test("high risk needs a high DARA level; then no need text is required", () => {
  const f = { ...blankTriage(today, "Provide 1"), reference: "LC-1", victimName: "Erin Fictional", dara: "standard" as const, reason: "high_risk" as const };
  expect(checkTriage(f, today, now).errors.reason).toMatch(/only when the DARA level is high/);
  const ok = checkTriage({ ...f, dara: "high", priority: " 2 ", shift: "late", dob: "1990-04-01", occurred: "2026-11-21T22:15" }, today, now);
  expect(ok.errors).toEqual({});
  expect(ok.input).toMatchObject({ priority: 2, shift: "late", victim_dob: "1990-04-01", need: "" });
  expect(ok.input?.occurred_at).toMatch(/^2026-11-2\dT\d\d:15:00Z$/);
});

test("dates and priority are checked", () => {
  const f = { ...blankTriage(today, "T"), reference: "R", victimName: "N", dara: "high" as const, reason: "high_risk" as const };
  expect(checkTriage({ ...f, priority: "0" }, today, now).errors.priority).toMatch(/whole number from 1/);
  expect(checkTriage({ ...f, priority: "1.5" }, today, now).errors.priority).toBeTruthy();
  expect(checkTriage({ ...f, dob: "2027-01-01" }, today, now).errors.dob).toMatch(/future/);
  expect(checkTriage({ ...f, visitDate: "2026-11-21" }, today, now).errors.visitDate).toMatch(/past/);
  expect(checkTriage({ ...f, occurred: "2026-11-23T10:00" }, today, now).errors.occurred).toMatch(/future/);
  expect(checkTriage({ ...f, visitDate: "" }, today, now).input?.visit_date).toBeNull();
});
