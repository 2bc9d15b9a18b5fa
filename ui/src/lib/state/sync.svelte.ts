// The always-visible sync status: read at start and kept current from `sync-status` events.
import { api, onSyncStatus } from "../api";
import type { SyncStatus } from "../bindings/SyncStatus";

export const sync = $state({
  status: null as SyncStatus | null,
  busy: false,
  error: "",
  reset() {
    sync.status = null;
    sync.busy = false;
    sync.error = "";
  },
});

export async function watchSync(): Promise<() => void> {
  const unlisten = await onSyncStatus((s) => {
    sync.status = s;
  });
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
    await api.syncNow();
    sync.status = await api.syncStatus();
  } catch (e) {
    sync.error = e instanceof Error ? e.message : String(e);
  } finally {
    sync.busy = false;
  }
}
