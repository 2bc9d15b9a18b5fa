import { expect, test } from "vitest";
import { auditFilterError, blankAuditFilter, newestFirst, toAuditQuery } from "./audit";

test("blank filters are sent as null, typed ones trimmed", () => {
  expect(toAuditQuery(blankAuditFilter())).toEqual({ user: null, device: null, record: null, action: null, from: null, to: null, limit: null });
  expect(toAuditQuery({ ...blankAuditFilter(), user: " ds.sample ", from: "2026-11-01" })).toMatchObject({ user: "ds.sample", from: "2026-11-01", to: null });
});

test("a period the wrong way round is refused in plain words", () => {
  expect(auditFilterError({ ...blankAuditFilter(), from: "2026-11-22", to: "2026-11-01" })).toMatch(/must not be after/);
  expect(auditFilterError({ ...blankAuditFilter(), from: "2026-11-01" })).toBe("");
});

test("rows newest first", () => {
  const row = (seq: number, at: string) => ({ seq, at, device: "d", user: "u", action: "view", record: "r", detail: "" });
  expect(newestFirst([row(1, "2026-11-20T10:00:00Z"), row(3, "2026-11-22T10:00:00Z"), row(2, "2026-11-21T10:00:00Z")]).map((r) => r.seq)).toEqual([3, 2, 1]);
});
