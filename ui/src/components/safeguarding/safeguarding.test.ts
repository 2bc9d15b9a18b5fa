// Component tests (jsdom) of the unit's small components: a MARAC agenda entry, a bar chart
// and the long-term actions, read-only and editable.
import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { afterEach, expect, test, vi } from "vitest";
import BarChart from "./BarChart.svelte";
import MaracItem from "./MaracItem.svelte";
import SafeguardingActions from "./SafeguardingActions.svelte";
import ShareFigure from "./ShareFigure.svelte";
import { bars } from "../../lib/figures";

afterEach(cleanup);

test("a MARAC entry holds what the meeting needs, in plain words", () => {
  render(MaracItem, {
    n: 1,
    onopen: () => {},
    entry: {
      case_id: "c1",
      incident_reference: "LC-1",
      incident_date: "2026-11-20",
      victim_name: "Erin Fictional",
      victim_dob: "1991-03-14",
      perpetrator_name: "Casey Madeup",
      perpetrator_in_custody: false,
      children_ages: [4, null],
      risk_level: "high",
      dash_score: 16,
      grounds: ["16 \"yes\" answers on dash (14 or more)", "referred to MARAC"],
      referred_at: null,
      referred_by: "",
      team: "Provide 1",
      consent: "not_asked",
    },
  });
  const text = document.body.textContent ?? "";
  expect(text).toContain("1. Erin Fictional");
  expect(text).toContain("14 Mar 1991");
  expect(text).toContain("Casey Madeup, not in custody");
  expect(text).toContain("2 children, aged 4, not known");
  expect(text).toContain("Not referred yet");
  expect(text).toContain("Not asked");
  expect(screen.getByTestId("marac-grounds").textContent).toBe('16 "yes" answers on dash (14 or more); referred to MARAC');
});

test("a bar chart states each number as text", () => {
  render(BarChart, { title: "By risk level", testid: "chart", bars: bars([{ key: "high", count: 3 }], ["high", "medium"]) });
  const counts = screen.getAllByTestId("bar-count").map((e) => e.textContent);
  expect(counts).toEqual(["3", "0"]);
  expect(screen.getByText("High")).toBeTruthy();
  expect(document.querySelector("svg")?.getAttribute("aria-hidden")).toBe("true");
});

test("a share shows the percentage of recorded answers and the unknowns", () => {
  render(ShareFigure, { title: "Engaged", testid: "s", share: { yes: 2, no: 1, unknown: 4 } });
  expect(screen.getByTestId("share-percent").textContent).toBe("29%");
  expect(screen.getByTestId("share-split").textContent).toBe("29% yes · 14% no · 57% not known");
  expect(screen.getByTestId("share-of").textContent).toBe("2 of 7 attendances");
});

const action = { id: "a1", kind: "alarm" as const, detail: "Police alarm fitted", done: false, at: "2026-11-22T10:00:00Z", by: "ds.sample" };

test("long-term actions are read-only for everyone but the unit", () => {
  render(SafeguardingActions, { actions: [action], editable: false, prefix: "p", onadd: vi.fn(), ontoggle: vi.fn() });
  expect(screen.getByTestId("sg-action").textContent).toContain("Police alarm: Police alarm fitted — not done yet");
  expect(screen.queryByTestId("sg-action-done")).toBeNull();
  expect(screen.queryByTestId("sg-action-add")).toBeNull();
});

test("the unit ticks an action and records one; 'other' needs a detail", async () => {
  const onadd = vi.fn(async () => true);
  const ontoggle = vi.fn(async () => true);
  render(SafeguardingActions, { actions: [action], editable: true, prefix: "p", onadd, ontoggle });
  await fireEvent.click(screen.getByTestId("sg-action-done"));
  expect(ontoggle).toHaveBeenCalledWith("a1", true);
  await fireEvent.change(screen.getByTestId("sg-action-kind"), { target: { value: "other" } });
  await fireEvent.submit(screen.getByTestId("sg-action-add").closest("form")!);
  expect(screen.getByTestId("sg-action-error").textContent).toMatch(/Say what the action is/);
  expect(onadd).not.toHaveBeenCalled();
  await fireEvent.input(screen.getByTestId("sg-action-detail"), { target: { value: "Target hardening visit" } });
  await fireEvent.submit(screen.getByTestId("sg-action-add").closest("form")!);
  expect(onadd).toHaveBeenCalledWith("other", "Target hardening visit");
});
