// Case-list filtering helpers: the debounce used for the search box, the filter sent to
// `list_cases`, paging through long lists, and ordering by risk. Pure, unit tested.
import type { CaseFilter } from "./bindings/CaseFilter";
import type { CaseSummary } from "./bindings/CaseSummary";

export type Debounced<A extends unknown[]> = ((...args: A) => void) & { cancel: () => void; flush: () => void };

/** Calls `f` once `ms` have passed without another call; `cancel` drops a pending call. */
export function debounce<A extends unknown[]>(f: (...args: A) => void, ms: number): Debounced<A> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let last: A | null = null;
  const d = ((...args: A) => {
    last = args;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      f(...args);
    }, ms);
  }) as Debounced<A>;
  d.cancel = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  d.flush = () => {
    if (timer && last) {
      d.cancel();
      f(...last);
    }
  };
  return d;
}

/** Calls `f` at most once per `ms` (the first call goes through at once). */
export function throttle<A extends unknown[]>(f: (...args: A) => void, ms: number, now = () => Date.now()) {
  let lastAt = -Infinity;
  return (...args: A) => {
    const t = now();
    if (t - lastAt >= ms) {
      lastAt = t;
      f(...args);
    }
  };
}

export type FilterInput = { status: string; risk: string; deployment: string; search: string };

/** The filter for `list_cases`: empty choices and blank search become null. */
export function toCaseFilter(f: FilterInput, limit: number | null = null): CaseFilter {
  const blank = (s: string) => (s.trim() === "" ? null : s.trim());
  return {
    status: blank(f.status),
    risk: blank(f.risk),
    deployment: blank(f.deployment),
    search: blank(f.search),
    limit,
  };
}

/** The first `pages` pages of `items`. */
export function page<T>(items: T[], pages: number, size: number): T[] {
  return items.slice(0, Math.max(1, pages) * size);
}

const RISK_ORDER: Record<string, number> = { high: 3, medium: 2, standard: 1 };

/** Highest risk first; then the most recently updated. Does not change `items`. */
export function byRisk(items: CaseSummary[]): CaseSummary[] {
  return [...items].sort(
    (a, b) =>
      (RISK_ORDER[b.risk_level ?? ""] ?? 0) - (RISK_ORDER[a.risk_level ?? ""] ?? 0) ||
      b.updated_at.localeCompare(a.updated_at),
  );
}

/** What to try when the case list comes back empty: the search's reach, the filters set, and
 * where closed cases are (they leave patrol devices; the unit fetches them from the server). */
export function emptyHint(f: FilterInput, role: string): string[] {
  const out: string[] = [];
  const q = f.search.trim();
  if (q) {
    out.push(`No case matches "${q}". Try the police reference (log or crime number), or part of the victim's surname; the perpetrator's name, the address and the phone number are searched too.`);
  } else {
    out.push("No case matches.");
  }
  const set = [f.status && "status", f.risk && "risk", f.deployment && "deployment"].filter(Boolean);
  if (set.length) out.push(`The ${set.join(", ")} filter${set.length > 1 ? "s are" : " is"} set: choose "Any" to widen the search.`);
  out.push(
    role === "safeguarding"
      ? "Closed cases: those that have left this device can be fetched from the server below, by police reference or the victim's whole name."
      : "Closed cases: handed-over and closed cases leave this device after the grace period; ask the safeguarding unit for one.",
  );
  return out;
}
