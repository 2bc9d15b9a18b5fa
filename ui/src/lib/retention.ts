// How long cases stay on this device, in plain words (issue 15): the line a handed-over or
// closed case shows in the case list and on its screen, and the Settings card with the
// division's policy. When a case leaves, and the policy, come from the app (`leaves_device`,
// `device_policy`); this only words them. Pure, unit tested.
import type { DevicePolicy } from "./bindings/DevicePolicy";
import type { Leaving } from "./bindings/Leaving";
import type { Role } from "./bindings/Role";
import { formatDateTime, formatTime, label } from "./format";

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const DAY_MS = 86_400_000;

/** "72 hours", "1 hour". */
export function hours(n: number): string {
  return `${n} ${n === 1 ? "hour" : "hours"}`;
}

/** Local midnight of `d`'s day, as a day number (whole days from the epoch, local time). */
function dayNumber(d: Date): number {
  return Math.round(new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime() / DAY_MS);
}

/** "today 14:05", "tomorrow 09:00", "Thu 14:05" within the coming week, else
 * "3 Dec 2026, 14:05" (local time). */
export function whenShort(iso: string, now: Date = new Date()): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const days = dayNumber(d) - dayNumber(now);
  if (days === 0) return `today ${formatTime(iso)}`;
  if (days === 1) return `tomorrow ${formatTime(iso)}`;
  return days > 1 && days < 7 ? `${DAYS[d.getDay()]} ${formatTime(iso)}` : formatDateTime(iso);
}

/** The policy as a case row says it: "72 h policy", or "usual 72 h" before the server said. */
function policyShort(p: DevicePolicy): string {
  return p.heard_from_server ? `${p.grace_hours} h policy` : `usual ${p.grace_hours} h, not yet heard from the server`;
}

/** "Leaves this device about Thu 14:05 (handed over; 72 h policy)", or "Leaves this device at
 * the next sync (closed; 72 h policy)" once the time has passed. */
export function leavesText(l: Leaving, status: string, now: Date = new Date()): string {
  const why = `(${label(status).toLowerCase()}; ${policyShort(l.policy)})`;
  const due = l.due || new Date(l.at).getTime() <= now.getTime();
  return due ? `Leaves this device at the next sync ${why}` : `Leaves this device about ${whenShort(l.at, now)} ${why}`;
}

/** The Settings card's sentence for the signed-in user's role. */
export function policyText(p: DevicePolicy, role: Role): string {
  const h = hours(p.grace_hours);
  if (role === "safeguarding") {
    return p.grace_hours === 0
      ? "Handed-over cases stay on this device. Closed cases leave it at the next sync."
      : `Handed-over cases stay on this device. Closed cases stay ${h} after they are closed, then leave at the next sync.`;
  }
  return p.grace_hours === 0
    ? "Handed-over and closed cases leave this device at the next sync."
    : `Handed-over and closed cases stay ${h} after hand-over or closing, then leave this device at the next sync.`;
}

/** Where the policy came from. */
export function policySource(p: DevicePolicy): string {
  return p.heard_from_server
    ? "This is your division's policy, as the sync server last told this device."
    : `Not yet heard from the server: until the first sync this device goes by the usual ${hours(p.grace_hours)}.`;
}
