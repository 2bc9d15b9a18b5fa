import { afterEach, beforeEach, expect, test, vi } from "vitest";
import type { CaseSummary } from "./bindings/CaseSummary";
import { byRisk, debounce, emptyHint, page, throttle, toCaseFilter } from "./filters";

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

test("debounce calls once, with the last arguments, after the pause", () => {
  const f = vi.fn();
  const d = debounce(f, 250);
  d("J");
  d("Ja");
  vi.advanceTimersByTime(200);
  d("Jan");
  vi.advanceTimersByTime(249);
  expect(f).not.toHaveBeenCalled();
  vi.advanceTimersByTime(1);
  expect(f).toHaveBeenCalledTimes(1);
  expect(f).toHaveBeenCalledWith("Jan");
});

test("debounce cancel and flush", () => {
  const f = vi.fn();
  const d = debounce(f, 250);
  d(1);
  d.cancel();
  vi.advanceTimersByTime(500);
  expect(f).not.toHaveBeenCalled();
  d(2);
  d.flush();
  expect(f).toHaveBeenCalledWith(2);
  vi.advanceTimersByTime(500);
  expect(f).toHaveBeenCalledTimes(1);
});

test("throttle lets one call through per period", () => {
  let t = 0;
  const f = vi.fn();
  const th = throttle(f, 10_000, () => t);
  th();
  th();
  t = 9_999;
  th();
  expect(f).toHaveBeenCalledTimes(1);
  t = 10_000;
  th();
  expect(f).toHaveBeenCalledTimes(2);
});

test("the case filter sends null for empty parts", () => {
  expect(toCaseFilter({ status: "", risk: "high", deployment: "", search: "  " })).toEqual({
    status: null,
    risk: "high",
    deployment: null,
    search: null,
    limit: null,
  });
  expect(toCaseFilter({ status: "active", risk: "", deployment: "live", search: " Jane " }, 10).search).toBe("Jane");
});

test("paging", () => {
  const items = Array.from({ length: 120 }, (_, i) => i);
  expect(page(items, 1, 50)).toHaveLength(50);
  expect(page(items, 3, 50)).toHaveLength(120);
  expect(page(items, 0, 50)).toHaveLength(50);
});

test("highest risk first, then most recently updated", () => {
  const c = (id: string, risk: string | null, at: string): CaseSummary => ({
    id,
    deployment: "post_incident",
    status: "active",
    risk_level: risk,
    victim_name: "",
    incident_reference: "",
    team: "",
    updated_at: at,
    conflicts: 0,
    leaves_device: null,
    contact: { call_ok: null, text_ok: null, voicemail_ok: null, safe_times: "", conflicts: [] },
    area: "",
    triage_reason: null,
    triage_priority: null,
    visited_today: false,
  });
  const out = byRisk([c("a", "standard", "2026-01-02"), c("b", null, "2026-01-05"), c("c", "high", "2026-01-01"), c("d", "high", "2026-01-03"), c("e", "medium", "2026-01-01")]);
  expect(out.map((x) => x.id)).toEqual(["d", "c", "e", "a", "b"]);
});

test("an empty list says what to try", () => {
  const f = { status: "", risk: "", deployment: "", search: "xyz" };
  const officer = emptyHint(f, "officer");
  expect(officer[0]).toBe(`No case matches "xyz". Try the police reference (log or crime number), or part of the victim's surname; the perpetrator's name, the address and the phone number are searched too.`);
  expect(officer[officer.length - 1]).toMatch(/^Closed cases: .*ask the safeguarding unit/);
  expect(emptyHint(f, "safeguarding").at(-1)).toMatch(/fetched from the server below/);
  const filtered = emptyHint({ ...f, status: "closed", risk: "high" }, "idva");
  expect(filtered[1]).toBe('The status, risk filters are set: choose "Any" to widen the search.');
  expect(emptyHint({ ...f, search: " " }, "idva")[0]).toBe("No case matches.");
});
