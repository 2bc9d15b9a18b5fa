// The steps of a guided risk checklist (issue 17, item 4): one theme (question group) per step,
// then the professional judgement, then a summary of what is unanswered before saving. Pure
// functions of the form and the answers; the live score is not here (lib/scoring.ts).
import type { FormDef } from "./bindings/FormDef";
import type { Question } from "./bindings/Question";

export type Step =
  | { kind: "group"; group: number; title: string }
  | { kind: "judgement"; title: string }
  | { kind: "summary"; title: string };

export function steps(form: FormDef): Step[] {
  return [
    ...form.groups.map((g, i): Step => ({ kind: "group", group: i, title: g.title })),
    { kind: "judgement", title: form.scoring.judgement === "required" ? "Your level" : "Professional judgement" },
    { kind: "summary", title: "Check and save" },
  ];
}

/** The unanswered questions of each theme that has any, with the step that shows it. */
export function unansweredByStep(form: FormDef, answers: Record<string, string | undefined>): { step: number; title: string; questions: Question[] }[] {
  return form.groups
    .map((g, i) => ({ step: i, title: g.title, questions: g.questions.filter((q) => !answers[q.id]) }))
    .filter((g) => g.questions.length > 0);
}

/** "Step 3 of 11 · 14 of 27 answered". */
export function progressText(step: number, stepCount: number, answered: number, total: number): string {
  return `Step ${step + 1} of ${stepCount} · ${answered} of ${total} answered`;
}

/** What saving with questions unanswered means, asked before it is done. */
export function confirmText(unanswered: number): string {
  const q = unanswered === 1 ? "1 unanswered question" : `${unanswered} unanswered questions`;
  return `Save with ${q}? Unanswered questions count as “no” toward the MARAC threshold.`;
}

/** The result's line on what was left unanswered ("" when nothing was). */
export function unansweredResult(unanswered: number, total: number): string {
  if (unanswered === 0) return "";
  return `${unanswered} of ${total} questions were unanswered and counted as “no”.`;
}
