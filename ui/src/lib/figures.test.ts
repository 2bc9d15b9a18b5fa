import { expect, test } from "vitest";
import { bars, defaultPeriod, formatHours, isoDay, percent, periodError, shareFigures } from "./figures";

test("the default period is the last 28 days up to today", () => {
  expect(defaultPeriod(new Date(2026, 10, 22, 15, 0))).toEqual({ from: "2026-10-26", to: "2026-11-22" });
  expect(defaultPeriod(new Date(2026, 2, 1))).toEqual({ from: "2026-02-02", to: "2026-03-01" });
  expect(isoDay(new Date(2026, 0, 5))).toBe("2026-01-05");
});

test("period errors in plain words", () => {
  expect(periodError("2026-11-01", "2026-11-22")).toBe("");
  expect(periodError("2026-11-22", "2026-11-22")).toBe("");
  expect(periodError("", "2026-11-22")).toMatch(/first and the last day/);
  expect(periodError("2026-11-23", "2026-11-22")).toMatch(/must not be after/);
  expect(periodError("22/11/2026", "2026-11-22")).toMatch(/as dates/);
});

test("percentages round to whole numbers and never divide by zero", () => {
  expect(percent(2, 3)).toBe(67);
  expect(percent(1, 3)).toBe(33);
  expect(percent(0, 5)).toBe(0);
  expect(percent(3, 0)).toBeNull();
});

test("a share is of attendances, with the unknowns as their own share", () => {
  // the programme's evaluation: 41% and 67% of 493 attendances, never yes / (yes + no)
  const s = shareFigures({ yes: 203, no: 128, unknown: 162 });
  expect(s.headline).toBe("41%");
  expect(s.total).toBe(493);
  expect(s.splitText).toBe("41% yes · 26% no · 33% not known");
  expect(s.ofText).toBe("203 of 493 attendances");
  expect(shareFigures({ yes: 20, no: 10, unknown: 5 }).headline).toBe("57%");
  const none = shareFigures({ yes: 0, no: 0, unknown: 0 });
  expect(none.headline).toBe("No attendances");
  expect(none.percent).toBeNull();
  expect(none.splitText).toBe("");
  expect(shareFigures({ yes: 0, no: 0, unknown: 4 })).toMatchObject({ headline: "0%", splitText: "0% yes · 0% no · 100% not known" });
  expect(shareFigures({ yes: 1, no: 0, unknown: 0 }).ofText).toBe("1 of 1 attendance");
});

test("bars scale to the largest, keep order, and show small counts", () => {
  const b = bars(
    [
      { key: "post_incident", count: 70 },
      { key: "live", count: 30 },
      { key: "extra", count: 1 },
    ],
    ["live", "post_incident", "consultation"],
  );
  expect(b).toEqual([
    { key: "live", count: 30, length: 42.9 },
    { key: "post_incident", count: 70, length: 100 },
    { key: "consultation", count: 0, length: 0 },
    { key: "extra", count: 1, length: 2 },
  ]);
  expect(bars([])).toEqual([]);
  expect(bars([{ key: "a", count: 0 }])).toEqual([{ key: "a", count: 0, length: 0 }]);
  // the same key twice adds up
  expect(bars([{ key: "a", count: 1 }, { key: "a", count: 2 }])).toEqual([{ key: "a", count: 3, length: 100 }]);
});

test("hours in plain words", () => {
  expect(formatHours(0.75)).toBe("45 min");
  expect(formatHours(5.46)).toBe("5.5 h");
  expect(formatHours(12)).toBe("12 h");
  expect(formatHours(50.4)).toBe("2.1 days");
  expect(formatHours(null)).toBe("—");
  expect(formatHours(-1)).toBe("—");
});
