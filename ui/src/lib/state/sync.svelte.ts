// The always-visible sync status: read at start and kept current from `sync-status` events.
import { api, onSyncStatus } from "../api";
import type { SyncStatus } from "../bindings/SyncStatus";

export const sync = $state({
  status: null as SyncStatus | null,
  busy: false,
  error: "",
  /** Goes up each time a finished sync brought records in: open screens reload on it. */
  received: 0,
  reset() {
    sync.status = null;
    sync.busy = false;
    sync.error = "";
  },
});

/** Records received by the sync in progress, from its progress events. */
let receivedInFlight = 0;

function follow(s: SyncStatus) {
  if (s.state.state === "syncing") {
    receivedInFlight = s.state.progress.docs_received;
  } else if (s.state.state === "synced" && receivedInFlight > 0) {
    receivedInFlight = 0;
    sync.received += 1;
  }
  sync.status = s;
}

/** Runs `load` again whenever a finished sync brought records in, so an open screen shows
 *  them without being asked. Call while a component is being set up. */
export function reloadOnSync(load: () => unknown) {
  let seen = sync.received;
  $effect(() => {
    if (sync.received !== seen) {
      seen = sync.received;
      void load();
    }
  });
}

export async function watchSync(): Promise<() => void> {
  const unlisten = await onSyncStatus(follow);
  try {
    sync.status = await api.syncStatus();
  } catch (e) {
    sync.error = e instanceof Error ? e.message : String(e);
  }
  return unlisten;
}

export async function syncNow(): Promise<void> {
  sync.busy = true;
  sync.error = "";
  try {
    const report = await api.syncNow();
    if (report.docs_received > 0 || report.docs_purged > 0) sync.received += 1;
    sync.status = await api.syncStatus();
  } catch (e) {
    sync.error = e instanceof Error ? e.message : String(e);
  } finally {
    sync.busy = false;
  }
}

/** The user has read what the last syncs did on purpose (erasures, corrections). */
export async function dismissNotices(): Promise<void> {
  try {
    sync.status = await api.dismissSyncNotices();
  } catch (e) {
    sync.error = e instanceof Error ? e.message : String(e);
  }
}
