// The audit view's filter and ordering: the query sent to `audit_log` from the typed filter
// (blank means any), and rows newest first. Pure, unit tested.
import type { AuditQuery } from "./bindings/AuditQuery";
import type { AuditRow } from "./bindings/AuditRow";

export type AuditFilter = { user: string; device: string; record: string; action: string; from: string; to: string };

export function blankAuditFilter(): AuditFilter {
  return { user: "", device: "", record: "", action: "", from: "", to: "" };
}

/** The query for the filter: trimmed, blanks as null (no limit: the view pages). */
export function toAuditQuery(f: AuditFilter): AuditQuery {
  const v = (s: string) => (s.trim() ? s.trim() : null);
  return { user: v(f.user), device: v(f.device), record: v(f.record), action: v(f.action), from: v(f.from), to: v(f.to), limit: null };
}

/** What is wrong with the filter's days, in plain words ("" when fine). */
export function auditFilterError(f: AuditFilter): string {
  if (f.from && f.to && f.from > f.to) return "The first day must not be after the last day.";
  return "";
}

/** Rows newest first (by sequence number, then time). */
export function newestFirst(rows: AuditRow[]): AuditRow[] {
  return [...rows].sort((a, b) => b.seq - a.seq || b.at.localeCompare(a.at));
}

/** Actions written by the devices and the server, offered as suggestions. */
export const AUDIT_ACTIONS = [
  "view",
  "create",
  "alter",
  "export",
  "import",
  "sync",
  "erase",
  "enrol",
  "revoke",
  "receive",
  "refuse",
  "disclose",
  "purge",
  "audit_upload",
] as const;
