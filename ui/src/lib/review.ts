// The Retention screen's words and checks (issue 16): how a record due for review is named
// (its id shortened: the server sends no names, by design), what disposing of it erases, in
// plain words, and the checks of a decision before it is sent (the server checks again, by
// its own clock). Pure, unit tested.
import type { DecisionRequest } from "./bindings/DecisionRequest";
import type { DueItem } from "./bindings/DueItem";
import type { RecordKind } from "./bindings/RecordKind";
import type { Role } from "./bindings/Role";
import { isoDay } from "./figures";

/** The longest reason the server takes, in characters (provide-core's MAX_REASON_CHARS). */
export const MAX_REASON = 1000;

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** The first 8 characters of a record id ("3f2a9c1e"), enough to tell records apart here. */
export function shortId(record: string): string {
  return record.slice(0, 8);
}

/** "Case" or "Health record". */
export function kindText(kind: RecordKind): string {
  return kind === "health" ? "Health record" : kind === "case" ? "Case" : "Shift";
}

const CLASSES: Record<string, string> = { police_case: "Police case", nhs_health: "NHS health record" };

/** A retention class in words ("Police case"); a class this build does not know, as sent. */
export function classText(id: string): string {
  return CLASSES[id] ?? id;
}

/** What the reviewer in this role decides on, for the screen's introduction. */
export function introText(role: Role): string {
  return role === "idva"
    ? "Health records of closed cases in your division that are past their review date. For each, keep it until a later review, or dispose of it."
    : "Closed cases of your division that are past their review date. For each, keep it until a later review, or dispose of it.";
}

/** What disposing of the record does, in plain words. */
export function disposeWarning(kind: RecordKind): string {
  return kind === "health"
    ? "This erases the health record from the server and every device. The case stays. It cannot be undone."
    : "This erases the case and its health record from the server and every device. It cannot be undone.";
}

/** The first day a record may be retained until: tomorrow (local). */
export function firstRetainDay(today: Date = new Date()): string {
  return isoDay(new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1));
}

function reasonError(reason: string): string {
  if (!reason.trim()) return "Give the reason for the decision.";
  if ([...reason].length > MAX_REASON) return `Keep the reason to ${MAX_REASON} characters.`;
  return "";
}

/** What is wrong with a retain decision ("" when it may be sent). */
export function retainError(until: string, reason: string, today: Date = new Date()): string {
  if (!until) return "Choose the date to retain the record until.";
  if (!DAY.test(until) || Number.isNaN(new Date(`${until}T00:00:00`).getTime())) return "Enter the date as a date.";
  if (until < firstRetainDay(today)) return "The date to retain until must be in the future.";
  return reasonError(reason);
}

/** What is wrong with a dispose decision ("" when it may be sent). */
export function disposeError(reason: string, confirmed: boolean): string {
  return reasonError(reason) || (confirmed ? "" : "Tick the box to confirm that the record is erased.");
}

/** The request for the app. */
export function decision(item: DueItem, until: string | null, reason: string): DecisionRequest {
  return until === null
    ? { record: item.record, decision: "dispose", retain_until: null, reason: reason.trim() }
    : { record: item.record, decision: "retain", retain_until: until, reason: reason.trim() };
}
