// Which screen of the unlocked app is showing. Held in memory only and reset on lock.
import { tick } from "svelte";

export type View =
  | { name: "shift" }
  | { name: "cases" }
  | { name: "new_case"; deployment: "live" | "post_incident" | "consultation" }
  | { name: "case"; id: string }
  | { name: "assess"; id: string; form: string }
  | { name: "directory"; caseId: string | null }
  | { name: "settings" };

export const nav = $state({
  view: { name: "shift" } as View,
  reset() {
    nav.view = { name: "shift" };
  },
  go(v: View) {
    nav.view = v;
    // Screens start at the top, and focus moves to the new screen's heading.
    void tick().then(() => {
      if (typeof window !== "undefined") window.scrollTo?.(0, 0);
      const h = document.querySelector<HTMLElement>("main h1");
      h?.focus();
    });
  },
});
