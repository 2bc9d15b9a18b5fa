// The contact rules as people must read them, in one place: whether a contact field holds two
// values (conflict), how call / text / voicemail read ("Call: NO"), the safe times parsed from
// free text and compared with the time now, and whether the phone's call link may be used.
// Pure and unit tested. Free-text times are parsed only where the reading is certain; anything
// else is shown as written and counts as "not known".
import type { Conflict } from "./bindings/Conflict";

/** A permission as shown: allowed, not allowed, not known, or two values in conflict. */
export type Permission = "yes" | "no" | "unknown" | "conflict";

export const PHONE_PATH = "victim.phone";
export const CONTACT_PREFIX = "victim.safe_contact.";
export const CONFLICT_TEXT = "2 values — confirm before contacting";

/** Whether `path` holds two values: `conflicts` are a case's conflicts or a row's paths. */
export function inConflict(conflicts: readonly (Conflict | string)[] | null | undefined, path: string): boolean {
  return (conflicts ?? []).some((c) => (typeof c === "string" ? c : c.path) === path);
}

/** Whether any contact rule or the phone number holds two values. */
export function contactInConflict(conflicts: readonly (Conflict | string)[] | null | undefined): boolean {
  return (conflicts ?? []).some((c) => {
    const p = typeof c === "string" ? c : c.path;
    return p === PHONE_PATH || p.startsWith(CONTACT_PREFIX);
  });
}

/** Whether a field's value must not be shown: a contact rule or the phone holding two values
 * (either value read as agreed could send someone to ring at the wrong moment). */
export function hidesValue(conflicts: readonly (Conflict | string)[] | null | undefined, path: string): boolean {
  return (path === PHONE_PATH || path.startsWith(CONTACT_PREFIX)) && inConflict(conflicts, path);
}

export function permission(value: boolean | null | undefined, conflicted: boolean): Permission {
  if (conflicted) return "conflict";
  return value === true ? "yes" : value === false ? "no" : "unknown";
}

export type Way = "call" | "text" | "voicemail";
const WAY_NAME: Record<Way, string> = { call: "Call", text: "Text", voicemail: "Voicemail" };
const PERMISSION_WORD: Record<Permission, string> = { yes: "yes", no: "NO", unknown: "not known", conflict: CONFLICT_TEXT };
const PERMISSION_ICON: Record<Permission, string> = { yes: "✓", no: "✕", unknown: "?", conflict: "⚠" };

/** "Call: NO", "Text: yes", "Voicemail: not known", "Call: 2 values — confirm before contacting". */
export function wayText(way: Way, p: Permission): string {
  return `${WAY_NAME[way]}: ${PERMISSION_WORD[p]}`;
}

export function permissionIcon(p: Permission): string {
  return PERMISSION_ICON[p];
}

// ---- safe times ----

/** One safe window: minutes after midnight `from` up to `to` (past midnight when to <= from),
 * on the given days (0 = Sunday), or every day when `days` is null. */
export type Window = { days: number[] | null; from: number; to: number };

const DAY = 24 * 60;
const DAY_NAMES: [RegExp, number][] = [
  [/^sun(day)?s?$/, 0],
  [/^mon(day)?s?$/, 1],
  [/^tue(s|sday)?s?$/, 2],
  [/^wed(s|nesday)?s?$/, 3],
  [/^thu(r|rs|rsday)?s?$/, 4],
  [/^fri(day)?s?$/, 5],
  [/^sat(urday)?s?$/, 6],
];
const FILLER = new Set(["only", "on", "from", "between", "ok", "safe", "is", "time", "times", "the"]);

function dayOf(t: string): number | null {
  for (const [re, n] of DAY_NAMES) if (re.test(t)) return n;
  return null;
}

function daySet(t: string): number[] | null {
  if (/^(weekdays?|mon-fri)$/.test(t)) return [1, 2, 3, 4, 5];
  if (/^weekends?$/.test(t)) return [0, 6];
  if (/^(every ?day|daily|any ?day)$/.test(t)) return null;
  const d = dayOf(t);
  return d === null ? null : [d];
}

/** A time token: its minutes, whether it reads one way only (am/pm, 24-hour, or noon), and
 * whether it said am or pm. */
type Clock = { minutes: number; certain: boolean; bareHour: number | null; meridiem?: "am" | "pm" };

function clockOf(t: string): Clock | null {
  if (t === "noon" || t === "midday") return { minutes: 12 * 60, certain: true, bareHour: null };
  if (t === "midnight") return { minutes: 0, certain: true, bareHour: null };
  const m = /^(\d{1,2})(?:[:.](\d{2}))?(am|pm)?$/.exec(t);
  if (!m) return null;
  let h = Number(m[1]);
  const min = m[2] ? Number(m[2]) : 0;
  if (min > 59) return null;
  if (m[3]) {
    if (h < 1 || h > 12) return null;
    if (m[3] === "am" && h === 12) h = 0;
    if (m[3] === "pm" && h !== 12) h += 12;
    return { minutes: h * 60 + min, certain: true, bareHour: null, meridiem: m[3] as "am" | "pm" };
  }
  if (h > 24 || (h === 24 && min > 0)) return null;
  // "18:00", "08:00", "0:30" and "24:00" read one way; "6" or "6:30" might be morning or evening
  const certain = h >= 13 || h === 0 || h === 24 || m[1].length === 2 && m[1].startsWith("0");
  return { minutes: h * 60 + min, certain, bareHour: certain ? null : h };
}

/** A range of two times. A bare start takes the end's am or pm when that puts it before the end
 * ("8-10pm" is 20:00 to 22:00). Otherwise bare hours read as the working day only where no
 * evening reading is likely: a range across noon with a bare start from 7 to 11 ("9-5" is 09:00
 * to 17:00, "10-2" 10:00 to 14:00), or a range from a bare 9 to 12 that ends later the same
 * morning or afternoon ("10-12"). "7-9" or "8-10" might be evenings: not read. */
function rangeOf(a: Clock, b: Clock): [number, number] | null {
  const from = a.minutes;
  let to = b.minutes;
  if (!a.certain && a.bareHour !== null && b.meridiem) {
    const same = ((a.bareHour % 12) + (b.meridiem === "pm" ? 12 : 0)) * 60 + (a.minutes % 60);
    if (same < to) return [same, to];
  }
  const wraps = !b.certain && b.bareHour !== null && to <= from && to + 12 * 60 > from;
  if (!a.certain) {
    if (a.bareHour === null) return null;
    const ok = wraps ? a.bareHour >= 7 && a.bareHour <= 11 : a.bareHour >= 9 && a.bareHour <= 12;
    if (!ok) return null;
  }
  if (!b.certain) {
    if (b.bareHour === null) return null;
    if (wraps) to += 12 * 60;
    else if (to <= from) return null;
  }
  if (to === from) return null;
  return [from, to % DAY === 0 && to !== 0 ? DAY : to];
}

function normalise(text: string): string {
  return text
    .toLowerCase()
    .replace(/[\u2012-\u2015\u2212]/g, "-")
    .replace(/(\d)\s+(am|pm)\b/g, "$1$2")
    .replace(/(\d)\s*(a\.m\.|p\.m\.)/g, (_, d, ap) => d + ap.replace(/\./g, ""))
    .replace(/\bmon\s*-\s*fri\b/g, "mon-fri")
    .replace(/\bany\s+time\b/g, "anytime")
    .replace(/\bbetween\s+(\S+)\s+and\s+(\S+)/g, "$1-$2")
    .replace(/\s*-\s*/g, " - ");
}

type Segment = { days: number[] | null; sawDays: boolean; spans: [number, number][] };

/** Parses one segment ("weekdays 9-5", "after 6pm", "sat 10:00-12:00"); null when any word is
 * not understood. */
function segment(seg: string): Segment | null {
  const t = seg.split(/\s+/).filter(Boolean);
  let days: number[] | null = null;
  let sawDays = false;
  const spans: [number, number][] = [];
  for (let i = 0; i < t.length; i++) {
    const w = t[i];
    if (FILLER.has(w)) continue;
    if (w === "anytime") {
      spans.push([0, DAY]);
      continue;
    }
    const d1 = dayOf(w);
    if (d1 !== null && t[i + 1] === "-" && dayOf(t[i + 2] ?? "") !== null) {
      const d2 = dayOf(t[i + 2])!;
      const range: number[] = [];
      for (let d = d1; ; d = (d + 1) % 7) {
        range.push(d);
        if (d === d2) break;
      }
      days = [...(days ?? []), ...range];
      sawDays = true;
      i += 2;
      continue;
    }
    if (/^(weekdays?|weekends?|mon-fri|everyday|daily)$/.test(w) || d1 !== null) {
      const set = daySet(w);
      if (set !== null) days = [...(days ?? []), ...set];
      sawDays = true;
      continue;
    }
    if (w === "after" || w === "before" || w === "until" || w === "till") {
      const c = clockOf(t[i + 1] ?? "");
      // "after midnight" would read as all day
      if (!c || !c.certain || (w === "after" && c.minutes === 0)) return null;
      spans.push(w === "after" ? [c.minutes, DAY] : [0, c.minutes === 0 ? DAY : c.minutes]);
      i += 1;
      continue;
    }
    const a = clockOf(w);
    if (a && (t[i + 1] === "-" || t[i + 1] === "to" || t[i + 1] === "until" || t[i + 1] === "till")) {
      const b = clockOf(t[i + 2] ?? "");
      if (!b) return null;
      const r = rangeOf(a, b);
      if (!r) return null;
      spans.push(r);
      i += 2;
      continue;
    }
    return null;
  }
  if (!spans.length && !sawDays) return null;
  return { days, sawDays, spans };
}

/** The safe windows of free-text safe times, or null when they cannot be read with certainty.
 * Days listed alone apply to the times that follow ("tues and thurs after 6pm"); days alone
 * after times are not certain ("after 6pm, weekends") and fail; days alone throughout mean
 * all day on those days. */
export function parseSafeTimes(text: string): Window[] | null {
  const norm = normalise(text.trim());
  if (!norm) return null;
  const parts = norm.split(/[,;&/+]|\band\b|\bor\b/).map((s) => s.trim()).filter(Boolean);
  if (!parts.length) return null;
  const out: Window[] = [];
  let pending: number[] | null = null;
  let pendingAll = false; // "every day" listed alone
  let timed = false;
  for (const part of parts) {
    const seg = segment(part);
    if (!seg) return null;
    if (!seg.spans.length) {
      if (seg.days === null) pendingAll = true;
      else pending = [...(pending ?? []), ...seg.days];
      continue;
    }
    let days = seg.days;
    if (pending || pendingAll) days = pendingAll ? null : [...pending!, ...(days ?? [])];
    if (seg.sawDays && seg.days === null) days = null;
    pending = null;
    pendingAll = false;
    timed = true;
    const list = days ? [...new Set(days)].sort() : null;
    for (const [from, to] of seg.spans) out.push({ days: list, from, to });
  }
  if (pending || pendingAll) {
    if (timed) return null;
    out.push({ days: pendingAll ? null : [...new Set(pending)].sort(), from: 0, to: DAY });
  }
  return out;
}

const on = (w: Window, day: number) => w.days === null || w.days.includes(day);

/** Whether `now` falls in a window (a window past midnight belongs to the day it starts). */
export function insideWindows(ws: Window[], now: Date): boolean {
  const m = now.getHours() * 60 + now.getMinutes();
  const today = now.getDay();
  const yesterday = (today + 6) % 7;
  return ws.some((w) =>
    w.from < w.to ? on(w, today) && m >= w.from && m < w.to : (on(w, today) && m >= w.from) || (on(w, yesterday) && m < w.to),
  );
}

/** The safe times against the time now: none recorded, inside, outside, or not understood. */
export type TimesState = "none" | "inside" | "outside" | "unknown";

const pad = (n: number) => String(n).padStart(2, "0");
export const clockText = (d: Date) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;

export function timesState(text: string, now: Date): TimesState {
  if (!text.trim()) return "none";
  const ws = parseSafeTimes(text);
  if (!ws) return "unknown";
  return insideWindows(ws, now) ? "inside" : "outside";
}

/** "now 13:25 — outside 10:00-12:00"; for times not understood, the text as written. */
export function timesText(text: string, now: Date, conflicted = false): string {
  if (conflicted) return `Safe times: ${CONFLICT_TEXT}`;
  const s = timesState(text, now);
  const t = text.trim();
  switch (s) {
    case "none":
      return "Safe times: not recorded";
    case "inside":
      return `now ${clockText(now)} — inside ${t}`;
    case "outside":
      return `now ${clockText(now)} — outside ${t}`;
    default:
      return `Safe times (as written): ${t} — now ${clockText(now)}, not known if safe`;
  }
}

// ---- the call link ----

/** What the phone's call link may do: call at once, only after a confirmation, or nothing. */
export type CallLink = { kind: "call" } | { kind: "confirm"; reason: string } | { kind: "none"; reason: string };

export function callLink(call: Permission, times: TimesState, phone: string, phoneConflicted: boolean, timesConflicted = false): CallLink {
  if (phoneConflicted) return { kind: "none", reason: `Phone: ${CONFLICT_TEXT}` };
  if (!phone.trim()) return { kind: "none", reason: "No phone number recorded" };
  if (call === "no") return { kind: "none", reason: "Do not call: calling is NOT safe" };
  if (call === "conflict") return { kind: "none", reason: `Call: ${CONFLICT_TEXT}` };
  if (call === "unknown") return { kind: "confirm", reason: "It is not known whether calling is safe" };
  if (timesConflicted) return { kind: "confirm", reason: `Safe times: ${CONFLICT_TEXT}` };
  if (times === "outside") return { kind: "confirm", reason: "It is outside the safe times now" };
  if (times === "unknown") return { kind: "confirm", reason: "The safe times could not be read: check them before calling" };
  return { kind: "call" };
}
