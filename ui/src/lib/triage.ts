// The triage form: what the unit types, checked in plain words before it goes to the shell
// (which checks again), and turned into a `TriageInput`. Also the ordering of action kinds.
// Pure, unit tested.
import type { Pattern } from "./bindings/Pattern";
import type { RiskLevel } from "./bindings/RiskLevel";
import type { SafeguardingActionKind } from "./bindings/SafeguardingActionKind";
import type { TriageInput } from "./bindings/TriageInput";
import type { TriageReason } from "./bindings/TriageReason";
import { fromLocalInput } from "./format";

export type TriageForm = {
  reference: string;
  /** An <input type="datetime-local"> value. */
  occurred: string;
  location: string;
  victimName: string;
  /** YYYY-MM-DD or "". */
  dob: string;
  dara: RiskLevel | "";
  reason: TriageReason | "";
  need: string;
  /** Typed text; "" for none. */
  priority: string;
  team: string;
  /** YYYY-MM-DD or "". */
  visitDate: string;
  /** "" for either shift. */
  shift: Pattern | "";
};

export type TriageField = keyof TriageForm;

export const REASONS: readonly TriageReason[] = ["high_risk", "vulnerability", "health_need"];
export const ACTION_KINDS: readonly SafeguardingActionKind[] = ["alarm", "sanctuary_scheme", "refuge", "further_referral", "other"];

export function blankTriage(today: string, team = ""): TriageForm {
  return { reference: "", occurred: "", location: "", victimName: "", dob: "", dara: "", reason: "", need: "", priority: "", team, visitDate: today, shift: "" };
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Checks the form. `today` is the local day (YYYY-MM-DD), `now` the current time. Returns the
 * errors by field, in the order of the form, and the input when there are none.
 */
export function checkTriage(f: TriageForm, today: string, now: Date = new Date()): { errors: Partial<Record<TriageField, string>>; input: TriageInput | null } {
  const e: Partial<Record<TriageField, string>> = {};
  if (!f.reference.trim()) e.reference = "Enter the police reference (log or crime number).";
  let occurredAt: string | null = null;
  if (f.occurred) {
    occurredAt = fromLocalInput(f.occurred) || null;
    if (!occurredAt) e.occurred = "Enter the date and time of the incident.";
    else if (Date.parse(occurredAt) > now.getTime() + 60_000) e.occurred = "The incident cannot be in the future.";
  }
  if (!f.victimName.trim()) e.victimName = "Enter the victim's name.";
  if (f.dob && !DAY.test(f.dob)) e.dob = "Enter the date of birth as a date.";
  else if (f.dob && f.dob > today) e.dob = "The date of birth cannot be in the future.";
  if (!f.dara) e.dara = "Choose the DARA level the attending officer gave.";
  if (!f.reason) e.reason = "Choose why the team should go.";
  else if (f.reason === "high_risk" && f.dara && f.dara !== "high")
    e.reason = "High risk is the reason only when the DARA level is high. Choose extra vulnerability or health need.";
  if (f.reason && f.reason !== "high_risk" && !f.need.trim()) e.need = "Say what the extra vulnerability or health need is.";
  let priority: number | null = null;
  if (f.priority.trim()) {
    const p = Number(f.priority.trim());
    if (!Number.isInteger(p) || p < 1 || p > 99) e.priority = "Priority is a whole number from 1 (visit first) to 99.";
    else priority = p;
  }
  if (!f.team.trim()) e.team = "Enter the team that will visit.";
  if (f.visitDate && !DAY.test(f.visitDate)) e.visitDate = "Enter the visit day as a date.";
  else if (f.visitDate && f.visitDate < today) e.visitDate = "The visit day cannot be in the past.";
  if (Object.keys(e).length > 0 || !f.dara || !f.reason) return { errors: e, input: null };
  return {
    errors: e,
    input: {
      reference: f.reference.trim(),
      occurred_at: occurredAt,
      location: f.location.trim(),
      victim_name: f.victimName.trim(),
      victim_dob: f.dob || null,
      dara_level: f.dara,
      reason: f.reason,
      need: f.need.trim(),
      priority,
      team: f.team.trim(),
      visit_date: f.visitDate || null,
      shift: f.shift || null,
    },
  };
}
