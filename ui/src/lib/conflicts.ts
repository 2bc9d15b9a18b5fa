// Helpers for showing conflicts (a field edited differently on two devices): which are
// prominent (status and risk), how each value reads, and what text resolves to it. Pure.
import type { Conflict } from "./bindings/Conflict";
import type { ConflictValue } from "./bindings/ConflictValue";
import { fieldName } from "./fields";
import { formatDateTime, jsonToText, label } from "./format";

/** Status and risk conflicts go at the top of the case screen. */
export function isProminent(path: string): boolean {
  return path === "status" || path === "risk" || path.startsWith("risk.") || path.startsWith("risk_");
}

/** Prominent conflicts first, then by field name. */
export function sortConflicts(cs: Conflict[]): Conflict[] {
  return [...cs].sort(
    (a, b) => Number(isProminent(b.path)) - Number(isProminent(a.path)) || fieldName(a.path).localeCompare(fieldName(b.path)),
  );
}

export function conflictFor(cs: Conflict[] | undefined, path: string): Conflict | undefined {
  return cs?.find((c) => c.path === path);
}

/** The text that, written to the field, makes this value the one that stands. */
export function resolutionText(v: ConflictValue): string {
  return jsonToText(v.value);
}

/** How one value reads to people: "Closed", "Yes", "Not recorded", or the text itself. */
export function valueLabel(v: ConflictValue): string {
  const t = jsonToText(v.value);
  if (t === "") return "Not recorded";
  if (typeof v.value === "boolean") return v.value ? "Yes" : "No";
  if (/^[a-z_]+$/.test(t)) return label(t);
  return t;
}

/** "written by dc.smith (Police officer), 22 Nov 2026, 09:30"; an author the server has not
 * confirmed (a change that reached this device other than through it) is said to be unconfirmed. */
export function whoWhen(v: ConflictValue): string {
  const who = v.verified ? v.user : `${v.user}, not confirmed by the server`;
  return `${who} (${label(v.role)}), ${formatDateTime(v.at)}`;
}

export function conflictTitle(c: Conflict): string {
  return `${fieldName(c.path)}: ${c.values.length} different values`;
}
