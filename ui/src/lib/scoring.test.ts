import { describe, expect, test } from "vitest";
import type { FormDef } from "./bindings/FormDef";
import { compareLevels, preview, questionCount } from "./scoring";
import dash from "../../../core/data/forms/dash-v1.json";
import dara from "../../../core/data/forms/dara-v1.json";

const DASH = dash as unknown as FormDef;
const DARA = dara as unknown as FormDef;
const ids = (f: FormDef) => f.groups.flatMap((g) => g.questions.map((q) => q.id));
const yesTo = (f: FormDef, n: number) => Object.fromEntries(ids(f).map((id, i) => [id, i < n ? "yes" : "no"]));

describe("DASH scoring (yes-count)", () => {
  test("counts yes answers only", () => {
    const a = yesTo(DASH, 5);
    a[ids(DASH)[20]] = "not_known";
    const p = preview(DASH, a, null, "", null);
    expect(p.score).toBe(5);
    expect(p.answered).toBe(questionCount(DASH));
    expect(p.level).toBe("standard");
    expect(p.marac).toEqual([]);
  });
  test("10 yes is medium, 13 is still medium", () => {
    expect(preview(DASH, yesTo(DASH, 10), null, "", null).level).toBe("medium");
    expect(preview(DASH, yesTo(DASH, 13), null, "", null).marac).toEqual([]);
  });
  test("14 yes is high and meets the MARAC threshold", () => {
    const p = preview(DASH, yesTo(DASH, 14), null, "", null);
    expect(p.level).toBe("high");
    expect(p.computedLevel).toBe("high");
    expect(p.marac).toEqual(["visible_high_risk"]);
    expect(p.problem).toBe("");
  });
  test("judgement may raise the level, with a reason, and then meets MARAC", () => {
    const noReason = preview(DASH, yesTo(DASH, 3), "high", "", null);
    expect(noReason.problem).toMatch(/reason/);
    const p = preview(DASH, yesTo(DASH, 3), "high", "Threats to kill", null);
    expect(p.level).toBe("high");
    expect(p.raisedByJudgement).toBe(true);
    expect(p.marac).toEqual(["professional_judgement"]);
    expect(p.problem).toBe("");
  });
  test("judgement may not lower the level", () => {
    const p = preview(DASH, yesTo(DASH, 15), "standard", "why", null);
    expect(p.problem).toMatch(/not lower/);
    expect(p.level).toBe("high");
  });
  test("three or more incidents in 12 months is escalation", () => {
    expect(preview(DASH, {}, null, "", 2).marac).toEqual([]);
    expect(preview(DASH, {}, null, "", 3).marac).toEqual(["escalation"]);
  });
});

describe("DARA scoring (officer's judgement)", () => {
  test("needs a level; no score", () => {
    const p = preview(DARA, yesTo(DARA, 20), null, "", null);
    expect(p.score).toBeNull();
    expect(p.level).toBeNull();
    expect(p.problem).toMatch(/DARA level/);
  });
  test("a high level by judgement meets MARAC", () => {
    const p = preview(DARA, {}, "high", "", null);
    expect(p.level).toBe("high");
    expect(p.marac).toEqual(["professional_judgement"]);
    expect(preview(DARA, {}, "medium", "", null).marac).toEqual([]);
  });
});

test("levels compare with none lowest", () => {
  expect(compareLevels("high", "medium")).toBeGreaterThan(0);
  expect(compareLevels(null, "standard")).toBeLessThan(0);
});
