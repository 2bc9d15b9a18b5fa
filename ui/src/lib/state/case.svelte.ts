// One open case: its view as the backend returns it, and the edits made from the case screen.
// Each edit returns the updated CaseView, which replaces the one shown.
import { api, type FieldSet } from "../api";
import type { CaseView } from "../bindings/CaseView";
import type { Conflict } from "../bindings/Conflict";
import { conflictFor } from "../conflicts";
import { handleError } from "./app.svelte";

export class CaseStore {
  view = $state<CaseView | null>(null);
  error = $state("");
  loading = $state(false);
  /** The path last saved, for a short "Saved" confirmation. */
  saved = $state("");
  readonly id: string;

  constructor(id: string) {
    this.id = id;
  }

  async load() {
    this.loading = true;
    try {
      this.view = await api.showCase(this.id);
      this.error = "";
    } catch (e) {
      this.error = handleError(e);
    } finally {
      this.loading = false;
    }
  }

  conflict(path: string): Conflict | undefined {
    return conflictFor(this.view?.conflicts, path);
  }

  /** Sets fields; returns true when the backend took them. */
  async set(sets: FieldSet[]): Promise<boolean> {
    try {
      this.view = await api.setCaseFields(this.id, sets);
      this.error = "";
      this.saved = sets.map((s) => s[0]).join(",");
      return true;
    } catch (e) {
      this.error = handleError(e);
      return false;
    }
  }

  async add(list: string, item: Record<string, unknown>): Promise<boolean> {
    try {
      this.view = await api.addCaseItem(this.id, list, item);
      this.error = "";
      return true;
    } catch (e) {
      this.error = handleError(e);
      return false;
    }
  }
}
