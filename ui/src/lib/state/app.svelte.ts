// The app's phase (not enrolled, locked, unlocked, wiped), the user chosen on the lock screen,
// and locking: on lock every screen of the unlocked app is unmounted (`epoch` changes), so no
// case data, list or typed form survives in memory or on screen.
import { api, AppError, onLocked } from "../api";
import type { AppStatus } from "../bindings/AppStatus";
import type { Session } from "../bindings/Session";
import { throttle } from "../filters";
import { dropPendingDrafts, flushDrafts, keptRoute } from "./drafts.svelte";
import { nav } from "./nav.svelte";
import { sync } from "./sync.svelte";

export const app = $state({
  status: null as AppStatus | null,
  /** Set while a lock is being shown, before the backend's status arrives. */
  lockedNow: false,
  /** The user picked on the lock screen; forgotten on sign out. */
  chosenUser: null as string | null,
  /** Bumped on every unlock so the unlocked screens mount fresh. */
  epoch: 0,
  startError: "",
});

export function session(): Session | null {
  const p = app.status?.phase;
  return !app.lockedNow && p?.phase === "unlocked" ? p.session : null;
}

/** Drops every piece of in-memory state of the unlocked app. */
function forget() {
  nav.reset();
  sync.reset();
}

export async function refreshStatus(): Promise<void> {
  try {
    app.status = await api.appStatus();
    app.lockedNow = false;
    app.startError = "";
  } catch (e) {
    app.startError = e instanceof Error ? e.message : String(e);
  }
}

/** The app locked (idle, revoked, or the Lock button): hide everything at once. */
export async function lockedNow(): Promise<void> {
  app.lockedNow = true;
  dropPendingDrafts();
  forget();
  await refreshStatus();
}

/** Unlocked (`s`): opens the screen this user was on when the app locked, then the app. */
export async function unlocked(s: AppStatus): Promise<void> {
  if (s.phase.phase === "unlocked") {
    const v = await keptRoute();
    if (v) nav.view = v;
  }
  setStatus(s);
}

export function setStatus(s: AppStatus) {
  const wasUnlocked = app.status?.phase.phase === "unlocked" && !app.lockedNow;
  app.status = s;
  app.lockedNow = false;
  if (s.phase.phase === "unlocked") {
    if (!wasUnlocked) app.epoch++;
    app.chosenUser = s.phase.session.user;
  } else {
    forget();
  }
}

export async function lock(): Promise<void> {
  app.lockedNow = true;
  // the screens go at once; what was typed in the last moment is kept before the store locks
  await flushDrafts();
  forget();
  try {
    setStatus(await api.lock());
  } catch {
    await refreshStatus();
  }
}

export async function signOut(): Promise<void> {
  app.chosenUser = null;
  await lock();
}

/** Any command failing with `locked` means the store locked under us. */
export function handleError(e: unknown): string {
  if (e instanceof AppError && e.code === "locked") {
    void lockedNow();
  }
  return e instanceof Error ? e.message : "Something went wrong.";
}

const sendTouch = throttle(() => {
  api.touch().catch(() => {});
}, 10_000);
/** Activity counts only while unlocked (typing the passphrase must not use up the throttle). */
const touch = () => {
  if (session()) sendTouch();
};

/** The person's own input only: a scroll the page makes itself (a list reloading) is not use. */
const ACTIVITY = ["keydown", "pointerdown", "wheel", "touchmove"] as const;

/** Starts the app: reads the phase, listens for locks and reports activity for the idle lock. */
export async function start(): Promise<() => void> {
  const unlisten = await onLocked(() => void lockedNow());
  const opts = { capture: true, passive: true } as const;
  for (const ev of ACTIVITY) window.addEventListener(ev, touch, opts);
  await refreshStatus();
  return () => {
    unlisten();
    for (const ev of ACTIVITY) window.removeEventListener(ev, touch, opts);
  };
}
