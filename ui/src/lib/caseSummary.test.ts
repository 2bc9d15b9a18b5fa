import { expect, test } from "vitest";
import type { Case } from "./bindings/Case";
import type { CaseView } from "./bindings/CaseView";
import { childrenText, conflictsText, custodyText, lastVisitText, maracText, openActionsText, sectionEditable, statusQuestion } from "./caseSummary";

// Only the parts of a case the summary reads; fictional people only.
function rec(over: Partial<Case> = {}): Case {
  return {
    perpetrator: { name: "Chris Madeup", relationship: "Ex-partner", in_custody: null, bail_conditions: "" },
    children: [],
    visits: [],
    referrals: [],
    safety_plan: [],
    ...over,
  } as unknown as Case;
}

function view(r: Case, criteria: string[] = []): CaseView {
  return { record: r, risk: criteria.length ? { marac_criteria: criteria } : null } as unknown as CaseView;
}

test("custody and bail in a few words", () => {
  const p = (in_custody: boolean | null, bail_conditions: string) => rec({ perpetrator: { name: "", relationship: "", in_custody, bail_conditions } });
  expect(custodyText(p(true, ""))).toBe("In custody");
  expect(custodyText(p(false, "Not to contact the victim"))).toBe("Not in custody — bail: Not to contact the victim");
  expect(custodyText(p(false, " "))).toBe("Not in custody, no bail conditions recorded");
  expect(custodyText(p(null, ""))).toBe("Not known");
  expect(custodyText(p(null, "Curfew"))).toBe("Custody not known — bail: Curfew");
});

test("children: how many and their ages", () => {
  expect(childrenText(rec())).toBe("None recorded");
  const child = (age: number | null) => ({ id: "c", name: "Robin Fictional", age, present_at_incident: null });
  expect(childrenText(rec({ children: [child(6)] }))).toBe("1 — age 6");
  expect(childrenText(rec({ children: [child(4), child(null)] }))).toBe("2 — ages 4, age not known");
});

test("the last visit is the latest by time, not by order", () => {
  expect(lastVisitText(rec())).toBe("Not visited yet");
  const v = (at: string, outcome: "engaged" | "no_answer") => ({ id: at, at, outcome, notes: "", by: "pc.example" });
  const r = rec({ visits: [v("2026-11-22T10:00:00Z", "no_answer"), v("2026-11-21T10:00:00Z", "engaged")] });
  expect(lastVisitText(r)).toMatch(/^No answer · 22 Nov 2026, /);
});

test("open actions: referrals to make and safety-plan items not done", () => {
  expect(openActionsText(rec())).toBe("Nothing open");
  const ref = (status: string) => ({ id: status, kind: "housing", status }) as unknown as Case["referrals"][number];
  const item = (done: boolean) => ({ id: String(done), text: "Keep phone charged", done, added_at: "", added_by: "" });
  expect(openActionsText(rec({ referrals: [ref("to_make"), ref("made")], safety_plan: [item(false), item(false), item(true)] }))).toBe(
    "1 referral to make · 2 safety-plan items open",
  );
  expect(openActionsText(rec({ safety_plan: [item(true)] }))).toBe("Nothing open");
});

test("MARAC: referred and where it stands, or whether the threshold is met", () => {
  expect(maracText(view(rec()))).toBe("Threshold not met");
  expect(maracText(view(rec(), ["dash_yes_14"]))).toBe("Threshold met — not referred");
  const marac = (status: string) => rec({ referrals: [{ id: "r", kind: "marac", status } as unknown as Case["referrals"][number]] });
  expect(maracText(view(marac("to_make"), ["dash_yes_14"]))).toBe("Threshold met — referral to make");
  expect(maracText(view(marac("accepted")))).toBe("Referred (accepted)");
});

test("the status question names the new status", () => {
  expect(statusQuestion("closed")).toBe("Close this case? Status becomes: closed");
  expect(statusQuestion("handed_over")).toBe("Hand this case over? Status becomes: handed over");
  expect(statusQuestion("active")).toBe("Make this case active? Status becomes: active");
});

test("which sections a role may edit", () => {
  for (const s of ["section-triage", "section-risk", "section-notes"]) expect(sectionEditable(s, "idva")).toBe(false);
  expect(sectionEditable("section-support", "idva")).toBe(true);
  expect(sectionEditable("section-support", "officer")).toBe(false);
  expect(sectionEditable("section-health", "idva")).toBe(true);
  expect(sectionEditable("section-safeguarding", "safeguarding")).toBe(true);
  expect(sectionEditable("section-safeguarding", "idva")).toBe(false);
  expect(sectionEditable("section-safeguarding", "officer")).toBe(false);
  expect(sectionEditable("section-victim", "officer")).toBe(true);
  expect(sectionEditable("section-victim", "admin")).toBe(false);
});

test("conflicts: the fields named when one or two, the status first", () => {
  const c = (path: string) => ({ path, values: [] });
  expect(conflictsText([c("victim.phone"), c("status")])).toBe("2 fields differ between devices: Case status, Phone");
  expect(conflictsText([c("victim.phone")])).toBe("1 field differs between devices: Phone");
  expect(conflictsText([c("victim.phone"), c("status"), c("victim.address")])).toBe("3 fields differ between devices");
});
