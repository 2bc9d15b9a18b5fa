// What the case screen's one-screen summary says, and which of the case's sections a role may
// edit. Pure, unit tested; the components only lay it out.
import type { Case } from "./bindings/Case";
import type { CaseView } from "./bindings/CaseView";
import type { Role } from "./bindings/Role";
import type { Conflict } from "./bindings/Conflict";
import type { Status } from "./bindings/Status";
import { sortConflicts } from "./conflicts";
import { fieldName } from "./fields";
import { formatDateTime, label, plural } from "./format";

/** Custody and bail in a few words. */
export function custodyText(r: Case): string {
  const p = r.perpetrator;
  if (p.in_custody === true) return "In custody";
  const bail = p.bail_conditions.trim();
  if (p.in_custody === false) return bail ? `Not in custody — bail: ${bail}` : "Not in custody, no bail conditions recorded";
  return bail ? `Custody not known — bail: ${bail}` : "Not known";
}

/** Children: how many and their ages ("2 — ages 6, 9"; "None recorded"). */
export function childrenText(r: Case): string {
  const n = r.children.length;
  if (n === 0) return "None recorded";
  const ages = r.children.map((c) => (c.age === null ? "age not known" : String(c.age)));
  return `${n} — ${n === 1 ? "age" : "ages"} ${ages.join(", ")}`;
}

/** The last visit: outcome and when ("Not visited yet"). */
export function lastVisitText(r: Case): string {
  const v = [...r.visits].sort((a, b) => a.at.localeCompare(b.at)).at(-1);
  return v ? `${label(v.outcome)} · ${formatDateTime(v.at)}` : "Not visited yet";
}

/** Referrals still to make and open safety-plan items, in words ("Nothing open"). */
export function openActionsText(r: Case): string {
  const toMake = r.referrals.filter((x) => x.status === "to_make").length;
  const plan = r.safety_plan.filter((x) => !x.done).length;
  const parts: string[] = [];
  if (toMake) parts.push(`${plural(toMake, "referral")} to make`);
  if (plan) parts.push(`${plural(plan, "safety-plan item")} open`);
  return parts.length ? parts.join(" · ") : "Nothing open";
}

/** MARAC: referred (and where the referral stands), or whether the threshold is met. */
export function maracText(view: CaseView): string {
  const ref = view.record.referrals.find((x) => x.kind === "marac");
  const met = (view.risk?.marac_criteria.length ?? 0) > 0;
  if (ref) return ref.status === "to_make" ? "Threshold met — referral to make" : `Referred (${label(ref.status).toLowerCase()})`;
  return met ? "Threshold met — not referred" : "Threshold not met";
}

/** Which fields hold values from two devices: named when there are one or two, else counted. */
export function conflictsText(cs: Conflict[]): string {
  const sorted = sortConflicts(cs);
  const n = sorted.length;
  const head = `${plural(n, "field")} ${n === 1 ? "differs" : "differ"} between devices`;
  return n <= 2 ? `${head}: ${sorted.map((c) => fieldName(c.path)).join(", ")}` : head;
}

/** The question that confirms a status change, naming the new status. */
export function statusQuestion(to: Status): string {
  const ask: Record<Status, string> = {
    triaged: "Put this case back to triaged?",
    active: "Make this case active?",
    handed_over: "Hand this case over?",
    closed: "Close this case?",
  };
  return `${ask[to]} Status becomes: ${label(to).toLowerCase()}`;
}

/** The case's sections by test id. */
export type SectionId =
  | "section-incident"
  | "section-victim"
  | "section-children"
  | "section-perpetrator"
  | "section-risk"
  | "section-consent"
  | "section-safety-plan"
  | "section-referrals"
  | "section-support"
  | "section-visits"
  | "section-outcome"
  | "section-notes"
  | "section-health"
  | "section-triage"
  | "section-safeguarding";

/**
 * Whether a role gets an "Edit" button on a section. Triage and risk hold no editable fields
 * (an assessment is a new record on its own screen); notes are never edited, only added to;
 * IDVA support and health notes are the IDVA's; the unit's review and actions are the unit's.
 */
export function sectionEditable(section: string, role: Role): boolean {
  switch (section) {
    case "section-triage":
    case "section-risk":
    case "section-notes":
      return false;
    case "section-support":
    case "section-health":
      return role === "idva";
    case "section-safeguarding":
      return role === "safeguarding";
    default:
      return role !== "admin";
  }
}
