// The dashboard's figure maths: the reporting period, shares of attendances (yes, no and not
// known each its own share), bar lengths, and hours in plain words. Pure, unit tested.
import type { Count } from "./bindings/Count";
import type { Share } from "./bindings/Share";

const pad = (n: number) => String(n).padStart(2, "0");

/** A local day as YYYY-MM-DD. */
export function isoDay(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** The default period: the last 28 days up to and including today. */
export function defaultPeriod(today: Date = new Date()): { from: string; to: string } {
  const start = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 27);
  return { from: isoDay(start), to: isoDay(today) };
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** What is wrong with a period, in plain words ("" when it is fine). */
export function periodError(from: string, to: string): string {
  if (!from || !to) return "Choose the first and the last day of the period.";
  if (!DAY.test(from) || !DAY.test(to)) return "Enter the days as dates.";
  if (from > to) return "The first day must not be after the last day.";
  return "";
}

/** The whole-number percentage of `part` in `whole`, or null when there is nothing to divide. */
export function percent(part: number, whole: number): number | null {
  if (!(whole > 0)) return null;
  return Math.round((100 * part) / whole);
}

export type ShareFigures = {
  /** "41%": the share of attendances with a yes, or "No attendances". */
  headline: string;
  percent: number | null;
  /** Attendances: every one has an answer, yes, no or not known. */
  total: number;
  /** "41% yes · 26% no · 33% not known", each a share of the attendances. */
  splitText: string;
  /** "203 of 493 attendances". */
  ofText: string;
};

/**
 * A share of attendances, as the programme evaluates them (and as the server counts): yes, no
 * and not known each over all attendances, so unknowns are their own share and never inflate
 * the yes (yes / (yes + no) would overstate engagement).
 */
export function shareFigures(s: Share): ShareFigures {
  const total = s.yes + s.no + s.unknown;
  const p = percent(s.yes, total);
  const part = (n: number) => `${percent(n, total)}%`;
  return {
    headline: p === null ? "No attendances" : `${p}%`,
    percent: p,
    total,
    splitText: total === 0 ? "" : `${part(s.yes)} yes · ${part(s.no)} no · ${part(s.unknown)} not known`,
    ofText: `${s.yes} of ${total} ${total === 1 ? "attendance" : "attendances"}`,
  };
}

export type Bar = { key: string; count: number; /** 0–100, the longest bar is 100. */ length: number };

/**
 * Bars for counts, scaled so the largest is 100 (a non-zero count is never shorter than 2 so it
 * stays visible). `order` lists the keys to show first, in that order (missing ones as 0);
 * other keys follow, largest first.
 */
export function bars(counts: Count[], order: readonly string[] = []): Bar[] {
  const by = new Map<string, number>();
  for (const c of counts) by.set(c.key, (by.get(c.key) ?? 0) + c.count);
  const keys = [...order, ...[...by.keys()].filter((k) => !order.includes(k)).sort((a, b) => (by.get(b) ?? 0) - (by.get(a) ?? 0))];
  const max = Math.max(0, ...by.values());
  return keys.map((key) => {
    const count = by.get(key) ?? 0;
    const length = max > 0 && count > 0 ? Math.max(2, Math.round((1000 * count) / max) / 10) : 0;
    return { key, count, length };
  });
}

/** Hours in plain words: "45 min", "5.5 h", "2.1 days". */
export function formatHours(h: number | null | undefined): string {
  if (h === null || h === undefined || !Number.isFinite(h) || h < 0) return "—";
  if (h < 1) return `${Math.round(h * 60)} min`;
  if (h < 48) return `${trim(h)} h`;
  return `${trim(h / 24)} days`;
}

function trim(x: number): string {
  const r = Math.round(x * 10) / 10;
  return Number.isInteger(r) ? String(r) : r.toFixed(1);
}
