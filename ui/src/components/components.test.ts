// Component tests (jsdom): the safe-contact banner, the conflict resolver, the support section
// by role, and the case row's conflict marker.
import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { afterEach, expect, test, vi } from "vitest";
import type { CaseStore } from "../lib/state/case.svelte";
import ConflictResolver from "./fields/ConflictResolver.svelte";
import SupportSection from "./case/SupportSection.svelte";
import CaseRow from "./CaseRow.svelte";
import type { CaseSummary } from "../lib/bindings/CaseSummary";

/** A row's contact rules, area and triage (none known). */
const ROW: Pick<CaseSummary, "contact" | "area" | "triage_reason" | "triage_priority" | "visited_today"> = {
  contact: { call_ok: null, text_ok: null, voicemail_ok: null, safe_times: "", conflicts: [] },
  area: "",
  triage_reason: null,
  triage_priority: null,
  visited_today: false,
};

afterEach(cleanup);

function fakeStore(): CaseStore {
  return { id: "c1", conflict: () => undefined, set: vi.fn(async () => true), add: vi.fn(async () => true) } as unknown as CaseStore;
}

test("conflict resolver shows who wrote each value and writes the chosen one", async () => {
  const store = fakeStore();
  const at = new Date(2026, 10, 22, 9, 30).toISOString();
  const ondone = vi.fn();
  render(ConflictResolver, {
    store,
    ondone,
    conflict: {
      path: "victim.safe_contact.call_ok",
      values: [
        { value: true, user: "pc.example", role: "officer", at, verified: true },
        { value: false, user: "idva.jones", role: "idva", at, verified: true },
      ],
    },
  });
  expect(screen.getByText(/pc\.example \(Police officer\), 22 Nov 2026, 09:30/)).toBeTruthy();
  expect(screen.getAllByTestId("conflict-value").map((e) => e.textContent)).toEqual(["Yes", "No"]);
  await fireEvent.click(screen.getAllByTestId("conflict-choose")[1]);
  expect(store.set).toHaveBeenCalledWith([["victim.safe_contact.call_ok", "no"]]);
  await vi.waitFor(() => expect(ondone).toHaveBeenCalled());
});

test("conflict resolver takes a newly typed value", async () => {
  const store = fakeStore();
  render(ConflictResolver, { store, conflict: { path: "victim.phone", values: [] } });
  await fireEvent.input(screen.getByTestId("conflict-new-value"), { target: { value: "07700 900777" } });
  await fireEvent.click(screen.getByTestId("conflict-save-new"));
  expect(store.set).toHaveBeenCalledWith([["victim.phone", "07700 900777"]]);
});

const support = {
  risk_assessment: true,
  safety_planning: false,
  emotional_support: true,
  information_signposting: false,
  criminal_justice_advocacy: false,
  social_welfare: false,
};

test("IDVA support is editable by the IDVA", async () => {
  const store = fakeStore();
  render(SupportSection, { store, support, editable: true });
  const box = screen.getByTestId("field-support.safety_planning") as HTMLInputElement;
  expect(box.checked).toBe(false);
  await fireEvent.click(box);
  expect(store.set).toHaveBeenCalledWith([["support.safety_planning", "yes"]]);
});

test("IDVA support is read-only for others", () => {
  render(SupportSection, { store: fakeStore(), support, editable: false });
  expect(screen.queryByTestId("field-support.safety_planning")).toBeNull();
  expect(screen.getByTestId("support-readonly").textContent).toMatch(/Risk assessment: given/);
});

test("a case row shows its conflict marker", async () => {
  const onopen = vi.fn();
  const item = {
    id: "c9",
    deployment: "post_incident",
    status: "active",
    risk_level: "high",
    victim_name: "Jane Fictional",
    incident_reference: "LC-1",
    team: "Provide 1",
    updated_at: new Date().toISOString(),
    conflicts: 2,
    leaves_device: null,
    ...ROW,
  };
  render(CaseRow, { item, onopen });
  expect(screen.getByTestId("conflict-marker").textContent).toMatch(/2 conflicts/);
  expect(screen.getByTestId("risk-badge").textContent).toBe("High risk");
  await fireEvent.click(screen.getByTestId("case-row"));
  expect(onopen).toHaveBeenCalledWith("c9");
  cleanup();
  render(CaseRow, { item: { ...item, conflicts: 0 }, onopen });
  expect(screen.queryByTestId("conflict-marker")).toBeNull();
  expect(screen.queryByTestId("case-leaves")).toBeNull();
});

test("a handed-over case row says when it leaves this device", () => {
  const at = new Date(Date.now() + 30 * 3600_000).toISOString();
  const item = {
    id: "c10",
    deployment: "post_incident",
    status: "handed_over",
    risk_level: null,
    victim_name: "Ada Fictional",
    incident_reference: "LC-2",
    team: "Provide 1",
    updated_at: new Date().toISOString(),
    conflicts: 0,
    leaves_device: { at, due: false, policy: { grace_hours: 72, heard_from_server: true } },
    ...ROW,
  };
  render(CaseRow, { item, onopen: vi.fn() });
  expect(screen.getByTestId("case-leaves").textContent).toMatch(/^Leaves this device about (today|tomorrow|\w{3}) \d\d:\d\d \(handed over; 72 h policy\)$/);
});

test("a row shows the contact strip, and a contact field in conflict as two values", () => {
  const item: CaseSummary = {
    id: "c11",
    deployment: "post_incident",
    status: "triaged",
    risk_level: "high",
    victim_name: "Bo Fictional",
    incident_reference: "LC-3",
    team: "Provide 1",
    updated_at: new Date().toISOString(),
    conflicts: 1,
    leaves_device: null,
    contact: { call_ok: false, text_ok: true, voicemail_ok: true, safe_times: "Only via GP surgery", conflicts: ["victim.safe_contact.voicemail_ok"] },
    area: "Fictionton",
    triage_reason: "health_need",
    triage_priority: 2,
    visited_today: true,
  };
  render(CaseRow, { item, onopen: vi.fn(), visit: true });
  expect(screen.getByTestId("contact-call").textContent).toMatch(/Call: NO/);
  expect(screen.getByTestId("contact-text").textContent).toMatch(/Text: yes/);
  expect(screen.getByTestId("contact-voicemail").textContent).toMatch(/Voicemail: 2 values — confirm before contacting/);
  expect(screen.getByTestId("contact-times").textContent).toMatch(/as written\): Only via GP surgery/);
  expect(screen.getByTestId("case-area").textContent).toBe("Fictionton");
  expect(screen.getByTestId("visit-priority").textContent).toBe("Priority 2");
  expect(screen.getByTestId("visit-reason").textContent).toBe("Health need");
  expect(screen.getByTestId("visit-done").textContent).toMatch(/Visited today/);
  // nothing to tap inside the row's button
  expect(screen.getByTestId("case-row").querySelectorAll("a, button, input").length).toBe(0);
});
