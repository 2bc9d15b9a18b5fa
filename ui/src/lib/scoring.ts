// The live score of a risk checklist while it is being answered, asked of provide-core
// (`preview_assessment`, a local call that works offline), which scores it by the same rules as
// saving it: the UI keeps no copy of the levels, thresholds or MARAC criteria.
import { api } from "./api";
import type { AssessmentPreview } from "./bindings/AssessmentPreview";
import type { FormDef } from "./bindings/FormDef";
import type { RiskLevel } from "./bindings/RiskLevel";

export type Preview = {
  /** Yes-count, or null for judgement-only forms. */
  score: number | null;
  /** Questions answered (any answer). */
  answered: number;
  total: number;
  /** The questions not answered yet, in the form's order (they count as "no"). */
  unanswered: string[];
  /** The level the answers alone give. */
  computedLevel: RiskLevel | null;
  /** The level that would stand; null when the form needs a judgement not yet given. */
  level: RiskLevel | null;
  raisedByJudgement: boolean;
  marac: string[];
  /** Why the input cannot be submitted yet, in plain words ("" when it can). */
  problem: string;
};

function fromCore(p: AssessmentPreview): Preview {
  return {
    score: p.score,
    answered: p.answered,
    total: p.total,
    unanswered: p.unanswered,
    computedLevel: p.computed_level,
    level: p.level,
    raisedByJudgement: p.raised_by_judgement,
    marac: p.marac_criteria,
    problem: p.problem,
  };
}

/** Scores the answers so far (unanswered questions are simply left out). */
export async function preview(
  form: FormDef,
  answers: Record<string, string | undefined>,
  judgement: RiskLevel | null,
  judgementReason: string,
  incidents12Months: number | null,
): Promise<Preview> {
  const given = Object.fromEntries(Object.entries(answers).filter((e): e is [string, string] => !!e[1]));
  return fromCore(
    await api.previewAssessment(form.id, {
      answers: given,
      judgement_level: judgement,
      judgement_reason: judgementReason,
      incidents_12_months: incidents12Months,
    }),
  );
}
