// Which screen of the unlocked app is showing. Reset on lock; each screen opened is also kept
// as the user's `route` draft in the encrypted store (drafts.svelte.ts), so that unlocking
// returns to it. The shell opens the role's start screen when there is none it may open
// (lib/roles.ts).
import { tick } from "svelte";
import type { Role } from "../bindings/Role";
import { startSection } from "../roles";
import { rememberRoute } from "./drafts.svelte";

/** The unit's queues a case can be opened from (the case screen offers the way back). */
export type CaseOrigin = "triage" | "handover" | "marac";

export type View =
  | { name: "shift" }
  | { name: "triage" }
  | { name: "handover" }
  | { name: "marac" }
  | { name: "dashboard" }
  | { name: "audit" }
  | { name: "retention" }
  | { name: "cases" }
  | { name: "new_case"; deployment: "live" | "post_incident" | "consultation" }
  | { name: "case"; id: string; from?: CaseOrigin }
  | { name: "assess"; id: string; form: string }
  | { name: "directory"; caseId: string | null }
  | { name: "settings" };

/** The first screen a role sees. */
export function startView(role: Role): View {
  const s = startSection(role);
  return s === "directory" ? { name: "directory", caseId: null } : ({ name: s } as View);
}

export const nav = $state({
  view: { name: "shift" } as View,
  reset() {
    nav.view = { name: "shift" };
  },
  go(v: View) {
    nav.view = v;
    rememberRoute(v);
    // Screens start at the top, and focus moves to the new screen's heading.
    void tick().then(() => {
      if (typeof window !== "undefined") window.scrollTo?.(0, 0);
      const h = document.querySelector<HTMLElement>("main h1");
      h?.focus();
    });
  },
});
