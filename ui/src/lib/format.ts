// Formatting helpers: dates and times, byte counts, and the plain-words labels for the
// snake_case choices the app stores. Pure functions, unit tested.
import type { JsonValue } from "./bindings/serde_json/JsonValue";

const pad = (n: number) => String(n).padStart(2, "0");

/** "09:30" in local time, or "" for a missing or unreadable time. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** "22 Nov 2026" in local time. */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso.length === 10 ? `${iso}T00:00:00` : iso);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()}`;
}

/** "22 Nov 2026, 09:30" in local time. */
export function formatDateTime(iso: string | null | undefined): string {
  const day = formatDate(iso);
  return day ? `${day}, ${formatTime(iso)}` : "";
}

/** The value for an <input type="datetime-local"> from RFC 3339 ("" when none). */
export function toLocalInput(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** RFC 3339 (UTC) from an <input type="datetime-local"> value ("" stays ""). */
export function fromLocalInput(local: string): string {
  if (!local) return "";
  const d = new Date(local);
  if (Number.isNaN(d.getTime())) return "";
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** "1.5 kB", "320 B", "2.1 MB". */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1_000_000) return `${(n / 1000).toFixed(1)} kB`;
  return `${(n / 1_000_000).toFixed(1)} MB`;
}

/** "in 4 s", "in 1 min 05 s" for a countdown. */
export function formatCountdown(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s} s`;
  return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
}

/** "2 changes waiting", "1 change waiting". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

const LABELS: Record<string, string> = {
  // deployment
  live: "Live incident",
  post_incident: "Post-incident visit",
  consultation: "Consultation",
  // status
  triaged: "Triaged",
  active: "Active",
  handed_over: "Handed over",
  closed: "Closed",
  // risk
  standard: "Standard",
  medium: "Medium",
  high: "High",
  // tri-state and answers
  yes: "Yes",
  no: "No",
  unknown: "Not known",
  not_known: "Not known",
  not_asked: "Not asked",
  // referral kinds
  marac: "MARAC",
  childrens_services: "Children's services",
  refuge: "Refuge",
  housing: "Housing",
  sanctuary_scheme: "Sanctuary scheme",
  substance_misuse: "Substance misuse",
  mental_health: "Mental health",
  directory_service: "Directory service",
  other: "Other",
  // referral status
  to_make: "To make",
  made: "Made",
  accepted: "Accepted",
  declined: "Declined",
  // visit outcomes
  engaged: "Engaged",
  no_answer: "No answer",
  unsafe: "Unsafe to visit",
  // roles
  officer: "Police officer",
  idva: "Health IDVA",
  safeguarding: "Safeguarding",
  admin: "Administrator",
  // patterns
  early: "Early (07:00–15:00)",
  late: "Late (14:00–22:00)",
  // triage reasons
  high_risk: "High risk",
  vulnerability: "Extra vulnerability",
  health_need: "Health need",
  // long-term safeguarding actions (refuge, sanctuary scheme and other as above)
  alarm: "Police alarm",
  further_referral: "Further referral",
  // MARAC criteria
  visible_high_risk: "14 or more yes answers",
  professional_judgement: "Professional judgement",
  escalation: "Escalation (3 or more incidents in 12 months)",
};

/** The plain-words label of a stored choice; unknown words are shown tidied. */
export function label(value: string | null | undefined): string {
  if (value === null || value === undefined || value === "") return "Not recorded";
  return LABELS[value] ?? value.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

/** Options for a <select> from a list of stored words. */
export function options(values: readonly string[]): { value: string; label: string }[] {
  return values.map((v) => ({ value: v, label: label(v) }));
}

/** An optional boolean as the text a field takes: "yes", "no" or "" (not recorded). */
export function optBoolText(b: boolean | null | undefined): string {
  return b === true ? "yes" : b === false ? "no" : "";
}

/** An optional boolean in plain words. */
export function optBoolLabel(b: boolean | null | undefined): string {
  return b === true ? "Yes" : b === false ? "No" : "Not recorded";
}

/** A stored JSON value as the text a field takes (booleans as yes/no, null as ""). */
export function jsonToText(v: JsonValue | undefined): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "number" || typeof v === "string") return String(v);
  return JSON.stringify(v);
}
