// Drafts that survive the lock (issue 17, item 5): a form in progress is saved, a moment after
// each change, to the encrypted store through the backend (never to browser storage), restored
// when its screen mounts again, and discarded once saved for real. The screen the user was on is
// kept the same way (the `route` draft), so unlocking returns to it.
//
// Nothing is held here but saves waiting for their moment: a deliberate lock sends them first
// (`flushDrafts`), the idle lock drops them (the backend is already locked, and no one typed for
// minutes). The forms' own state lives in their components, which the lock unmounts.
import { onMount, untrack } from "svelte";
import { api } from "../api";
import { nav, type View } from "./nav.svelte";

/** How long after the last change a draft is saved. */
const DELAY_MS = 400;
const ROUTE = "route";

/** Draft calls run one after another, so a discard is never overtaken by an earlier save. */
let chain: Promise<unknown> = Promise.resolve();
function serial<T>(f: () => Promise<T>): Promise<T> {
  const next = chain.then(f, f);
  chain = next.catch(() => undefined);
  return next;
}

type Pending = { timer: ReturnType<typeof setTimeout>; run: () => Promise<void> };
const pending = new Map<string, Pending>();

function schedule(key: string, run: () => Promise<void>) {
  cancel(key);
  const timer = setTimeout(() => {
    pending.delete(key);
    void run();
  }, DELAY_MS);
  pending.set(key, { timer, run });
}

function cancel(key: string) {
  const p = pending.get(key);
  if (p) clearTimeout(p.timer);
  pending.delete(key);
}

/** Sends the saves waiting for their moment (before a deliberate lock). */
export async function flushDrafts(): Promise<void> {
  const runs = [...pending.values()];
  for (const p of runs) clearTimeout(p.timer);
  pending.clear();
  await Promise.allSettled(runs.map((p) => p.run()));
}

/** Forgets the saves waiting (the store locked under us). */
export function dropPendingDrafts(): void {
  for (const p of pending.values()) clearTimeout(p.timer);
  pending.clear();
}

/** The record a screen shows, if any: its drafts go when the record leaves the device. */
export function recordOf(v: View): string | null {
  if ("id" in v) return v.id;
  if (v.name === "directory") return v.caseId;
  return null;
}

/** Remembers the screen shown, in the store (best effort: a failure only loses the return). */
export function rememberRoute(v: View): void {
  schedule(ROUTE, () =>
    serial(() => api.saveDraft({ key: ROUTE, record: recordOf(v), screen: JSON.stringify(v), body: "{}" })).then(() => undefined, () => undefined),
  );
}

/** The screen this user was on when the app locked, if kept. */
export async function keptRoute(): Promise<View | null> {
  try {
    const d = await serial(() => api.getDraft(ROUTE));
    const v = d ? (JSON.parse(d.screen) as View) : null;
    return v && typeof v.name === "string" ? v : null;
  } catch {
    return null;
  }
}

export type DraftHandle = {
  /** Why the last save failed, in plain words ("" when it did not). */
  readonly problem: string;
  /** The form was saved for real or cancelled: the draft goes. */
  clear(): Promise<void>;
};

/**
 * Keeps a form's state as draft `key` while its component lives: restores it on mount through
 * `set`, saves it a moment after each change (`get` is read in an effect, so every `$state` it
 * reads is followed), and discards it when `empty`. Call while the component initialises.
 */
export function keepDraft<T>(o: {
  key: string;
  record: string | null;
  get: () => T;
  set: (v: T) => void;
  empty: (v: T) => boolean;
}): DraftHandle {
  const h = $state({ problem: "" });
  /** The screen the form is on. */
  const screen = untrack(() => JSON.stringify(nav.view));
  let ready = false;
  let kept = false;

  onMount(() => {
    let alive = true;
    serial(() => api.getDraft(o.key)).then(
      (d) => {
        if (!alive) return;
        if (d) {
          kept = true;
          try {
            o.set(JSON.parse(d.body) as T);
          } catch {
            // a body this build cannot read: the form starts empty
          }
        }
        ready = true;
      },
      () => (ready = true),
    );
    return () => {
      alive = false;
    };
  });

  $effect(() => {
    const v = o.get();
    const body = JSON.stringify(v);
    if (!ready) return;
    if (o.empty(v)) {
      if (kept) schedule(o.key, () => discard());
      else cancel(o.key);
      return;
    }
    schedule(o.key, async () => {
      try {
        await serial(() => api.saveDraft({ key: o.key, record: o.record, screen, body }));
        kept = true;
        h.problem = "";
      } catch (e) {
        h.problem = e instanceof Error ? `This draft is not kept: ${e.message}` : "This draft is not kept.";
      }
    });
  });

  async function discard() {
    kept = false;
    await serial(() => api.discardDraft(o.key)).catch(() => undefined);
  }

  return {
    get problem() {
      return h.problem;
    },
    async clear() {
      cancel(o.key);
      h.problem = "";
      await discard();
    },
  };
}
