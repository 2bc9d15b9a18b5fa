import { expect, test } from "vitest";
import type { DueItem } from "./bindings/DueItem";
import { classText, decision, disposeError, disposeWarning, firstRetainDay, introText, kindText, retainError, shortId, MAX_REASON } from "./review";

const item: DueItem = {
  record: "3f2a9c1e-0000-4000-8000-000000000001",
  kind: "case",
  class: "police_case",
  division: "west",
  closed_on: "2019-05-02",
  review_date: "2025-05-02",
  retained_until: null,
};

test("a record is named by its shortened id and its kind", () => {
  expect(shortId(item.record)).toBe("3f2a9c1e");
  expect(shortId("3f2a9c1e-0000-4000-8000-000000000001.health")).toBe("3f2a9c1e");
  expect(kindText("case")).toBe("Case");
  expect(kindText("health")).toBe("Health record");
  expect(classText("police_case")).toBe("Police case");
  expect(classText("nhs_health")).toBe("NHS health record");
  expect(classText("force_local_class")).toBe("force_local_class");
  expect(introText("idva")).toMatch(/^Health records/);
  expect(introText("safeguarding")).toMatch(/^Closed cases/);
});

test("disposing says in plain words what is erased", () => {
  expect(disposeWarning("case")).toBe("This erases the case and its health record from the server and every device. It cannot be undone.");
  expect(disposeWarning("health")).toMatch(/erases the health record .* The case stays\. It cannot be undone\./);
});

test("retain needs a future date and a reason", () => {
  const today = new Date(2026, 10, 30, 15, 0);
  expect(firstRetainDay(today)).toBe("2026-12-01");
  expect(firstRetainDay(new Date(2026, 11, 31))).toBe("2027-01-01");
  expect(retainError("", "kept for court", today)).toMatch(/Choose the date/);
  expect(retainError("next year", "kept for court", today)).toMatch(/as a date/);
  expect(retainError("2026-11-30", "kept for court", today)).toMatch(/in the future/);
  expect(retainError("2020-01-01", "kept for court", today)).toMatch(/in the future/);
  expect(retainError("2026-12-01", "   ", today)).toMatch(/reason/);
  expect(retainError("2026-12-01", "x".repeat(MAX_REASON + 1), today)).toMatch(/1000 characters/);
  expect(retainError("2026-12-01", "kept for court", today)).toBe("");
});

test("dispose needs a reason and the confirmation", () => {
  expect(disposeError("", true)).toMatch(/reason/);
  expect(disposeError("no longer needed", false)).toMatch(/Tick the box/);
  expect(disposeError("no longer needed", true)).toBe("");
});

test("the request carries the date for retain only, the reason trimmed", () => {
  expect(decision(item, "2028-01-01", " court ")).toEqual({ record: item.record, decision: "retain", retain_until: "2028-01-01", reason: "court" });
  expect(decision(item, null, "done")).toEqual({ record: item.record, decision: "dispose", retain_until: null, reason: "done" });
});
