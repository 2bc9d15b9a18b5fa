// What a session with the partner's device did, in plain words. Pure.
import type { PeerReport } from "./bindings/PeerReport";
import { label, plural } from "./format";

export function pairResult(r: PeerReport): string {
  const who = `${r.partner_user} (${label(r.partner_role)})`;
  const moved = `${plural(r.records_sent, "record")} sent, ${plural(r.records_received, "record")} received`;
  const refused = r.refused.length + r.refused_by_partner.length;
  const head = r.paired_now ? `Paired with ${who}` : `Synced with ${who}`;
  return `${head}: ${moved}${refused ? `; ${plural(refused, "record")} not taken (see the audit log)` : ""}.`;
}
