import { expect, test } from "vitest";
import {
  formatBytes,
  formatCountdown,
  formatDate,
  formatTime,
  fromLocalInput,
  jsonToText,
  label,
  optBoolLabel,
  optBoolText,
  plural,
  toLocalInput,
} from "./format";

test("times and dates in local time", () => {
  const d = new Date(2026, 10, 22, 9, 5);
  expect(formatTime(d.toISOString())).toBe("09:05");
  expect(formatDate(d.toISOString())).toBe("22 Nov 2026");
  expect(formatDate("2026-11-22")).toBe("22 Nov 2026");
  expect(formatTime(null)).toBe("");
  expect(formatTime("not a time")).toBe("");
});

test("datetime-local round trip", () => {
  const iso = fromLocalInput("2026-11-22T09:30");
  expect(iso).toMatch(/^2026-11-2\dT\d\d:30:00Z$/);
  expect(toLocalInput(iso)).toBe("2026-11-22T09:30");
  expect(fromLocalInput("")).toBe("");
});

test("bytes, countdowns and plurals", () => {
  expect(formatBytes(320)).toBe("320 B");
  expect(formatBytes(1500)).toBe("1.5 kB");
  expect(formatBytes(2_100_000)).toBe("2.1 MB");
  expect(formatCountdown(4200)).toBe("5 s");
  expect(formatCountdown(65_000)).toBe("1 min 05 s");
  expect(formatCountdown(-1)).toBe("0 s");
  expect(plural(1, "change")).toBe("1 change");
  expect(plural(3, "change")).toBe("3 changes");
});

test("labels in plain words", () => {
  expect(label("post_incident")).toBe("Post-incident visit");
  expect(label("marac")).toBe("MARAC");
  expect(label("something_new")).toBe("Something new");
  expect(label("")).toBe("Not recorded");
});

test("optional booleans and stored values as field text", () => {
  expect(optBoolText(true)).toBe("yes");
  expect(optBoolText(false)).toBe("no");
  expect(optBoolText(null)).toBe("");
  expect(optBoolLabel(null)).toBe("Not recorded");
  expect(jsonToText(false)).toBe("no");
  expect(jsonToText(null)).toBe("");
  expect(jsonToText(7)).toBe("7");
  expect(jsonToText("closed")).toBe("closed");
});
