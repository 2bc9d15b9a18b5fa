// The sync status in plain words: the compact indicator's icon and short label, and the
// headline and detail shown a tap away. The tone is amber only when sync is overdue (or records
// were set aside) and red only when it fails: being offline with changes waiting is the normal
// state of a car and stays quiet. No network jargon: the words come from provide-core. Pure.
import type { SyncStatus } from "./bindings/SyncStatus";
import { formatBytes, formatTime, plural } from "./format";

export type SyncSummary = {
  state: string;
  headline: string;
  detail: string;
  tone: "ok" | "warn" | "error" | "neutral";
  /** The indicator's few words ("3 waiting", "Synced 10:42", "Offline"). */
  short: string;
  /** A glyph beside them (decorative: the words carry the meaning). */
  icon: string;
};

// Refusals that need someone to act, named for what to do rather than "failed".
const ERROR_HEADLINES: Record<string, string> = {
  update_required: "Update the app to sync",
  server_outdated: "The sync server needs an update",
};

export function syncSummary(s: SyncStatus | null, busy = false): SyncSummary {
  const full = summary(s, busy);
  const small = compact(s, full);
  const partnerAt = s?.partner_synced_at;
  if (!s || !partnerAt) return { ...full, ...small };
  // paired in the car: both syncs in a few words, unless something needs saying
  const server = s.state.state === "synced" ? s.state.at : s.last_contact;
  const quiet = ["synced", "offline", "idle"].includes(full.state) && full.tone !== "warn";
  return {
    ...full,
    detail: [full.detail, `Synced with the partner's device at ${formatTime(partnerAt)}`].filter(Boolean).join(". "),
    short: quiet ? `with partner ${formatTime(partnerAt)} · server ${server ? formatTime(server) : "—"}` : small.short,
    icon: small.icon,
  };
}

function compact(s: SyncStatus | null, full: Omit<SyncSummary, "short" | "icon">): { short: string; icon: string } {
  const waiting = s && s.waiting > 0 ? `${s.waiting} waiting` : "";
  const lastAt = (at: string | null) => (at ? `Synced ${formatTime(at)}` : "Not synced yet");
  switch (full.state) {
    case "unknown":
      return { short: "Sync", icon: "…" };
    case "syncing":
      return { short: "Syncing…", icon: "⟳" };
    case "offline":
      return { short: waiting ? `Offline · ${waiting}` : "Offline", icon: s?.overdue ? "⚠" : "○" };
    case "untrusted":
      return { short: "Not trusted", icon: "⚠" };
    case "error":
      return { short: full.headline.startsWith("Update") ? "Update app" : "Sync failed", icon: "⚠" };
    case "synced":
      return { short: waiting || lastAt(s?.state.state === "synced" ? s.state.at : null), icon: full.tone === "ok" ? "✓" : "⚠" };
    default:
      return { short: waiting || lastAt(s?.last_contact ?? null), icon: s?.overdue ? "⚠" : waiting ? "↑" : "○" };
  }
}

function summary(s: SyncStatus | null, busy: boolean): Omit<SyncSummary, "short" | "icon"> {
  if (!s) return { state: "unknown", headline: busy ? "Syncing…" : "Sync status not known yet", detail: "", tone: "neutral" };
  const waiting = s.waiting > 0 ? `${plural(s.waiting, "change")} waiting` : "";
  const overdue = s.overdue ? "Sync overdue: connect to send your changes" : "";
  const setAside =
    s.set_aside > 0 ? `${plural(s.set_aside, "record")} from the server could not be used and ${s.set_aside === 1 ? "was" : "were"} set aside: update the app or tell your supervisor` : "";
  const join = (...parts: string[]) => parts.filter(Boolean).map((p) => p.replace(/\.$/, "")).join(". ");
  const st = s.state;
  switch (st.state) {
    case "syncing": {
      const p = st.progress;
      const bytes = p.bytes_up + p.bytes_down + p.bytes_in_flight;
      return {
        state: "syncing",
        headline: "Syncing",
        detail: join(`${plural(p.docs_left, "record")} left to send`, `${formatBytes(bytes)} transferred`),
        tone: "neutral",
      };
    }
    case "offline":
      return { state: "offline", headline: "Offline", detail: join(st.message, waiting, overdue), tone: s.overdue ? "warn" : "neutral" };
    case "error":
      // a server certificate the device does not trust: a security problem, never "offline"
      if (st.code === "untrusted_server")
        return { state: "untrusted", headline: "Security problem: server not trusted", detail: join(st.message, waiting, overdue), tone: "error" };
      return { state: "error", headline: ERROR_HEADLINES[st.code] ?? "Sync failed", detail: join(st.message, waiting, overdue), tone: "error" };
    case "synced":
      return {
        state: "synced",
        headline: `Synced at ${formatTime(st.at)}`,
        detail: join(waiting, overdue, setAside),
        tone: s.overdue || setAside ? "warn" : "ok",
      };
    default:
      return {
        state: "idle",
        headline: waiting || (s.last_contact ? `Last synced at ${formatTime(s.last_contact)}` : "Not synced yet"),
        detail: join(waiting && s.last_contact ? `last synced at ${formatTime(s.last_contact)}` : "", overdue),
        tone: s.overdue ? "warn" : "neutral",
      };
  }
}
