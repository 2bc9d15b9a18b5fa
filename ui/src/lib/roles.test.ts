import { expect, test } from "vitest";
import { mayOpen, sectionOf, sectionsFor, startSection } from "./roles";

const names = (r: Parameters<typeof sectionsFor>[0]) => sectionsFor(r).map((s) => s.name);

test("safeguarding sees the unit's sections, no shift, and starts at triage", () => {
  expect(names("safeguarding")).toEqual(["triage", "handover", "marac", "dashboard", "cases", "directory", "audit", "retention", "settings"]);
  expect(startSection("safeguarding")).toBe("triage");
  expect(mayOpen("safeguarding", "shift")).toBe(false);
  expect(mayOpen("safeguarding", "case")).toBe(true);
});

test("officers and IDVAs keep the patrol sections and none of the unit's; IDVAs review retention", () => {
  expect(names("officer")).toEqual(["shift", "cases", "directory", "settings"]);
  expect(names("idva")).toEqual(["shift", "cases", "directory", "retention", "settings"]);
  expect(mayOpen("officer", "retention")).toBe(false);
  expect(mayOpen("idva", "retention")).toBe(true);
  expect(mayOpen("safeguarding", "retention")).toBe(true);
  expect(mayOpen("admin", "retention")).toBe(false);
  for (const r of ["officer", "idva"] as const) {
    expect(startSection(r)).toBe("shift");
    for (const v of ["triage", "handover", "marac", "dashboard", "audit"]) expect(mayOpen(r, v)).toBe(false);
    expect(mayOpen(r, "assess")).toBe(true);
  }
});

test("admin sees audit and settings only", () => {
  expect(names("admin")).toEqual(["audit", "settings"]);
  expect(startSection("admin")).toBe("audit");
  for (const v of ["cases", "case", "new_case", "assess", "directory", "shift", "dashboard"]) expect(mayOpen("admin", v)).toBe(false);
});

test("views map to their section", () => {
  expect(sectionOf("new_case")).toBe("cases");
  expect(sectionOf("marac")).toBe("marac");
  expect(sectionOf("nothing")).toBeNull();
});
