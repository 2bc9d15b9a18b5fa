// Live scoring of a risk checklist while it is being answered, mirroring provide-core's
// `FormDef::evaluate` from the form's own scoring data (nothing about DASH or DARA is
// hard-coded). The backend's evaluation after `assess` is authoritative; this is the preview.
import type { FormDef } from "./bindings/FormDef";
import type { RiskLevel } from "./bindings/RiskLevel";

const RANK: Record<RiskLevel, number> = { standard: 0, medium: 1, high: 2 };

export type Preview = {
  /** Yes-count, or null for judgement-only forms. */
  score: number | null;
  /** Questions answered (any answer). */
  answered: number;
  total: number;
  /** The level the answers alone give. */
  computedLevel: RiskLevel | null;
  /** The level that would stand; null when the form needs a judgement not yet given. */
  level: RiskLevel | null;
  raisedByJudgement: boolean;
  marac: string[];
  /** Why the input cannot be submitted yet, in plain words ("" when it can). */
  problem: string;
};

export function maxLevel(a: RiskLevel, b: RiskLevel): RiskLevel {
  return RANK[a] >= RANK[b] ? a : b;
}

export function compareLevels(a: RiskLevel | null, b: RiskLevel | null): number {
  return (a ? RANK[a] + 1 : 0) - (b ? RANK[b] + 1 : 0);
}

export function questionCount(form: FormDef): number {
  return form.groups.reduce((n, g) => n + g.questions.length, 0);
}

export function preview(
  form: FormDef,
  answers: Record<string, string | undefined>,
  judgement: RiskLevel | null,
  judgementReason: string,
  incidents12Months: number | null,
): Preview {
  const s = form.scoring;
  const total = questionCount(form);
  const values = Object.values(answers).filter((a): a is string => !!a);
  let score: number | null = null;
  let computed: RiskLevel | null = null;
  if (s.method === "yes_count") {
    score = values.filter((a) => a === "yes").length;
    computed = "standard";
    for (const r of s.levels) {
      if (r.min_score !== null && score >= r.min_score) computed = maxLevel(computed, r.level);
    }
  }
  let level: RiskLevel | null;
  let problem = "";
  if (s.judgement === "required") {
    level = judgement;
    if (!judgement) problem = `Choose the ${form.id.toUpperCase()} level by your professional judgement.`;
  } else if (computed) {
    if (judgement && RANK[judgement] < RANK[computed]) {
      problem = `Professional judgement may raise the level but not lower it below ${computed}.`;
    }
    level = judgement ? maxLevel(judgement, computed) : computed;
  } else {
    level = judgement ?? "standard";
  }
  const raised = !!(computed && judgement && RANK[judgement] > RANK[computed]);
  if (s.judgement === "may_raise" && judgement && !judgementReason.trim()) problem = problem || "Give the reason for your professional judgement.";
  const marac: string[] = [];
  if (score !== null && s.marac_min_score !== null && score >= s.marac_min_score) marac.push("visible_high_risk");
  if (level === "high" && (raised || s.method === "judgement")) marac.push("professional_judgement");
  if (incidents12Months !== null && incidents12Months >= s.escalation_incidents_12_months) marac.push("escalation");
  return {
    score,
    answered: values.length,
    total,
    computedLevel: computed,
    level,
    raisedByJudgement: raised,
    marac,
    problem,
  };
}
