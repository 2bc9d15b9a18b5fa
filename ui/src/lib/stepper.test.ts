import { expect, test } from "vitest";
import type { FormDef } from "./bindings/FormDef";
import { confirmText, progressText, steps, unansweredByStep, unansweredResult } from "./stepper";

const form = {
  id: "dash",
  version: 1,
  title: "Fictional checklist",
  description: "",
  answers: ["yes", "no", "not_known"],
  groups: [
    { id: "a", title: "First theme", questions: [{ id: "q1", text: "One?", help: "" }, { id: "q2", text: "Two?", help: "" }] },
    { id: "b", title: "Second theme", questions: [{ id: "q3", text: "Three?", help: "" }] },
  ],
  scoring: { method: "yes_count", judgement: "may_raise", levels: [], marac_min_score: 14, escalation_incidents_12_months: 3 },
} as unknown as FormDef;

test("one step per theme, then judgement, then the summary", () => {
  expect(steps(form).map((s) => s.kind)).toEqual(["group", "group", "judgement", "summary"]);
  expect(steps(form)[1]).toEqual({ kind: "group", group: 1, title: "Second theme" });
});

test("the summary lists only the unanswered questions, by step", () => {
  const u = unansweredByStep(form, { q1: "yes", q2: undefined });
  expect(u).toEqual([
    { step: 0, title: "First theme", questions: [{ id: "q2", text: "Two?", help: "" }] },
    { step: 1, title: "Second theme", questions: [{ id: "q3", text: "Three?", help: "" }] },
  ]);
  expect(unansweredByStep(form, { q1: "no", q2: "not_known", q3: "yes" })).toEqual([]);
});

test("progress, confirmation and result say the counts in words", () => {
  expect(progressText(2, 11, 14, 27)).toBe("Step 3 of 11 · 14 of 27 answered");
  expect(confirmText(13)).toBe("Save with 13 unanswered questions? Unanswered questions count as “no” toward the MARAC threshold.");
  expect(confirmText(1)).toMatch(/^Save with 1 unanswered question\?/);
  expect(unansweredResult(0, 27)).toBe("");
  expect(unansweredResult(13, 27)).toBe("13 of 27 questions were unanswered and counted as “no”.");
});
