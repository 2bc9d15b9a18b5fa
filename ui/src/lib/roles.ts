// What each role may open in the unlocked app, and where it starts. Officers and IDVAs patrol
// (shift, cases, directory); the safeguarding unit triages, reviews handovers, prepares the
// MARAC and reads the dashboard and audit; the unit and IDVAs review what is due for retention
// review (the unit: cases; IDVAs: health records); administrators see no case content at all (audit
// and settings only). The backend enforces the same rules; this only shapes the navigation.
// Pure, unit tested.
import type { Role } from "./bindings/Role";

export type Section = "shift" | "triage" | "handover" | "marac" | "dashboard" | "cases" | "directory" | "audit" | "retention" | "settings";

const TEXT: Record<Section, string> = {
  shift: "Shift",
  triage: "Triage",
  handover: "Handover",
  marac: "MARAC",
  dashboard: "Dashboard",
  cases: "Cases",
  directory: "Directory",
  audit: "Audit",
  retention: "Retention",
  settings: "Settings",
};

const BY_ROLE: Record<Role, Section[]> = {
  officer: ["shift", "cases", "directory", "settings"],
  idva: ["shift", "cases", "directory", "retention", "settings"],
  safeguarding: ["triage", "handover", "marac", "dashboard", "cases", "directory", "audit", "retention", "settings"],
  admin: ["audit", "settings"],
};

/** The header's sections for a role, in order. */
export function sectionsFor(role: Role): { name: Section; text: string }[] {
  return BY_ROLE[role].map((name) => ({ name, text: TEXT[name] }));
}

/** The screen a role sees first after unlocking. */
export function startSection(role: Role): Section {
  return BY_ROLE[role][0];
}

/** The section a view belongs to (a case, a new case or an assessment belong to Cases). */
export function sectionOf(view: string): Section | null {
  if (view === "case" || view === "new_case" || view === "assess") return "cases";
  return view in TEXT ? (view as Section) : null;
}

/** True when the role may open the view. */
export function mayOpen(role: Role, view: string): boolean {
  const s = sectionOf(view);
  return s !== null && BY_ROLE[role].includes(s);
}
