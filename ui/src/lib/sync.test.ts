import { expect, test } from "vitest";
import { syncSummary } from "./sync";
import { formatTime } from "./format";
import { searchServices, telHref } from "./directory";
import type { Service } from "./bindings/Service";

const base = { waiting: 0, last_contact: null, overdue: false, set_aside: 0, partner_synced_at: null, notices: [] };

test("sync status in plain words", () => {
  expect(syncSummary(null).headline).toMatch(/not known/);
  const off = syncSummary({ ...base, waiting: 2, state: { state: "offline", message: "No connection to the sync server." } });
  expect(off.headline).toBe("Offline");
  expect(off.detail).toBe("No connection to the sync server. 2 changes waiting");
  // offline with changes waiting is a car's normal state: quiet, never amber or red
  expect(off.tone).toBe("neutral");
  expect(off.short).toBe("Offline · 2 waiting");
  expect(syncSummary({ ...base, waiting: 2, overdue: true, state: { state: "offline", message: "x" } }).tone).toBe("warn");
  expect(syncSummary({ ...base, waiting: 4, state: { state: "idle" } })).toMatchObject({ short: "4 waiting", tone: "neutral" });
  const syncing = syncSummary({ ...base, state: { state: "syncing", progress: { round_trips: 1, docs_left: 3, bytes_in_flight: 1500, bytes_up: 0, bytes_down: 0, docs_sent: 0, docs_received: 0, more_to_receive: false } } });
  expect(syncing.detail).toBe("3 records left to send. 1.5 kB transferred");
  const at = new Date(2026, 10, 22, 14, 7).toISOString();
  expect(syncSummary({ ...base, state: { state: "synced", at } })).toMatchObject({ headline: "Synced at 14:07", short: "Synced 14:07", tone: "ok" });
  const err = syncSummary({ ...base, overdue: true, state: { state: "error", code: "server_refused", message: "Refused." } });
  expect(err.tone).toBe("error");
  expect(err.detail).toMatch(/overdue/);
  expect(err.short).toBe("Sync failed");
  expect(syncSummary({ ...base, waiting: 1, state: { state: "idle" } }).headline).toBe("1 change waiting");
  const untrusted = syncSummary({ ...base, waiting: 1, state: { state: "error", code: "untrusted_server", message: "Security problem: the sync server's certificate is not one this device trusts." } });
  expect(untrusted.headline).toBe("Security problem: server not trusted");
  expect(untrusted.tone).toBe("error");
  expect(untrusted.headline).not.toMatch(/offline/i);
});

test("records set aside by a sync are said, and the line is not all clear", () => {
  const at = new Date(2026, 10, 22, 14, 7).toISOString();
  const one = syncSummary({ ...base, set_aside: 1, state: { state: "synced", at } });
  expect(one.detail).toBe("1 record from the server could not be used and was set aside: update the app or tell your supervisor");
  expect(one.tone).toBe("warn");
  expect(syncSummary({ ...base, set_aside: 2, state: { state: "synced", at } }).detail).toMatch(/^2 records .* were set aside/);
});

test("directory search and tel links", () => {
  const s = (id: string, name: string, serves: string): Service => ({ id, name, area: "Preston", phone: "07700 900123", hours: "24 hours", serves, kinds: [], source: "", notes: "" });
  const all = [s("a", "Refuge North", "women and children"), s("b", "Housing Advice", "anyone")];
  expect(searchServices(all, "refuge").map((x) => x.id)).toEqual(["a"]);
  expect(searchServices(all, "preston anyone").map((x) => x.id)).toEqual(["b"]);
  expect(searchServices(all, " ")).toHaveLength(2);
  expect(telHref("07700 900123")).toBe("tel:07700900123");
  expect(telHref("+44 7700 900123")).toBe("tel:+447700900123");
  expect(telHref(null)).toBeNull();
});

test("a refused protocol version says who must update, never that the device is offline", () => {
  const app = syncSummary({ ...base, waiting: 3, state: { state: "error", code: "update_required", message: "This app must be updated to sync." } });
  expect(app.headline).toBe("Update the app to sync");
  expect(app.detail).toBe("This app must be updated to sync. 3 changes waiting");
  expect(app.tone).toBe("error");
  const server = syncSummary({ ...base, state: { state: "error", code: "server_outdated", message: "The sync server is older than this app." } });
  expect(server.headline).toBe("The sync server needs an update");
});

test("paired in the car, the indicator says when each sync was, in a few words", () => {
  const partner = "2026-12-01T10:42:00Z";
  const server = "2026-12-01T08:15:00Z";
  const s = syncSummary({ ...base, partner_synced_at: partner, last_contact: server, state: { state: "offline", message: "No connection to the sync server." } });
  expect(s.short).toBe(`with partner ${formatTime(partner)} · server ${formatTime(server)}`);
  expect(s.tone).toBe("neutral");
  expect(s.detail).toContain(`Synced with the partner's device at ${formatTime(partner)}`);
  // something that needs saying still takes the indicator
  const failed = syncSummary({ ...base, partner_synced_at: partner, state: { state: "error", code: "revoked", message: "This device has been revoked." } });
  expect(failed.short).toBe("Sync failed");
  expect(failed.detail).toContain("partner's device");
});
