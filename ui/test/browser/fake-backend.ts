// An in-memory stand-in for the Tauri shell, for the browser tests of the built UI: every
// command in src/lib/api.ts, the `sync-status` and `locked` events, back-off after wrong
// passphrases, and conflicts. It keeps no copy of provide-core's rules: scores, levels, MARAC
// criteria, who may set which field to what and who may add to which list are asked of
// provide-core itself (`core()`: the harness forwards `POST /core` to the `ui-core-rules`
// binary), so a rule changed in Rust is the rule these tests see. Configured from the page's query string; driven from the
// tests through `window.__fake`. Fictional people only. The safeguarding unit's commands
// (triage, handover queue and review, MARAC list, dashboard, export, audit log) work in memory
// with the role rules of the shell; with `role=safeguarding` more cases are seeded (triaged,
// handed over, closed) and the dashboard is computed from the fake's own cases. `online=0`
// makes the server-side commands (dashboard, export, audit log) fail as offline. How long
// handed-over and closed cases stay: `policy=N` as if the server had said N hours, else the
// usual 72 not yet heard (a sync makes it heard); each case's status is dated when it changes.
// Retention review (`retention_due`, `retention_decide`) works on records the server holds
// (ids and dates only, as the server sends): the unit's closed cases and an IDVA's health
// records, with the app's and the server's checks and their codes and messages; a dispose
// erases (a case with its health record); `due=N` seeds N due cases instead of three.
import { mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import type { AppStatus } from "../../src/lib/bindings/AppStatus";
import type { Case } from "../../src/lib/bindings/Case";
import type { CaseSummary } from "../../src/lib/bindings/CaseSummary";
import type { CaseView } from "../../src/lib/bindings/CaseView";
import type { DecisionRequest } from "../../src/lib/bindings/DecisionRequest";
import type { DevicePolicy } from "../../src/lib/bindings/DevicePolicy";
import type { DueItem } from "../../src/lib/bindings/DueItem";
import type { Leaving } from "../../src/lib/bindings/Leaving";
import type { Conflict } from "../../src/lib/bindings/Conflict";
import type { FormDef } from "../../src/lib/bindings/FormDef";
import type { Directory } from "../../src/lib/bindings/Directory";
import type { HealthRecord } from "../../src/lib/bindings/HealthRecord";
import type { RiskView } from "../../src/lib/bindings/RiskView";
import type { Role } from "../../src/lib/bindings/Role";
import type { Shift } from "../../src/lib/bindings/Shift";
import type { SyncStatus } from "../../src/lib/bindings/SyncStatus";
import type { PeerStatus } from "../../src/lib/bindings/PeerStatus";
import type { PeerReport } from "../../src/lib/bindings/PeerReport";
import type { RiskLevel } from "../../src/lib/bindings/RiskLevel";
import type { Answer } from "../../src/lib/bindings/Answer";
import type { AuditQuery } from "../../src/lib/bindings/AuditQuery";
import type { AuditRow } from "../../src/lib/bindings/AuditRow";
import type { Count } from "../../src/lib/bindings/Count";
import type { Dashboard } from "../../src/lib/bindings/Dashboard";
import type { HandoverItem } from "../../src/lib/bindings/HandoverItem";
import type { MaracEntry } from "../../src/lib/bindings/MaracEntry";
import type { Share } from "../../src/lib/bindings/Share";
import type { TriageInput } from "../../src/lib/bindings/TriageInput";
import type { TriagedCase } from "../../src/lib/bindings/TriagedCase";
import type { TriState } from "../../src/lib/bindings/TriState";
import type { Evaluation } from "../../src/lib/bindings/Evaluation";
import type { Assessment } from "../../src/lib/bindings/Assessment";
import dash from "../../../core/data/forms/dash-v1.json";
import dara from "../../../core/data/forms/dara-v1.json";
import directory from "../../../core/data/directory/lancashire-v1.json";

type User = { name: string; role: Role; passphrase: string };
const FORMS = [dash, dara] as unknown as FormDef[];
const q = new URLSearchParams(location.search);
const role = (q.get("role") ?? "idva") as Role;

const USERS: User[] = [
  { name: role === "officer" ? "pc.example" : role === "admin" ? "admin.example" : role === "safeguarding" ? "ds.sample" : "idva.jones", role, passphrase: "correct horse" },
];
if (q.get("users") === "2") USERS.push({ name: "pc.example", role: "officer", passphrase: "battery staple" });

let seq = 1000;
const newId = (p: string) => `${p}-${(seq++).toString(36)}`;
const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
/** A local day (YYYY-MM-DD) `n` days from today. */
const day = (n: number) => {
  const d = new Date();
  d.setDate(d.getDate() + n);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
};
const hoursAgo = (h: number) => new Date(Date.now() - h * 3600_000).toISOString().replace(/\.\d{3}Z$/, "Z");

const state = {
  phase: (q.get("phase") ?? "locked") as "not_enrolled" | "locked" | "unlocked" | "wiped",
  user: null as User | null,
  failed: 0,
  waitUntil: 0,
  backoffAfter: Number(q.get("backoff") ?? "2"),
  idle: 5,
  cases: new Map<string, Case>(),
  conflicts: new Map<string, Conflict[]>(),
  health: new Map<string, HealthRecord>(),
  shift: null as Shift | null,
  visits: [] as string[],
  touched: new Map<string, string[]>(),
  unsynced: new Set<string>(),
  touches: 0,
  calls: [] as string[],
  /** Whether the sync server can be reached (dashboard, export and audit log need it). */
  online: q.get("online") !== "0",
  audit: [] as AuditRow[],
  /** Closed cases the server holds and this device does not (the unit fetches them). */
  archive: new Map<string, Case>(),
  exports: 0,
  policy: (q.get("policy") === null
    ? { grace_hours: 72, heard_from_server: false }
    : { grace_hours: Number(q.get("policy")), heard_from_server: true }) as DevicePolicy,
  /** The notices the next sync brings (`nextNotices`). */
  nextNotices: [] as string[],
  /** Closed records on the server, for retention review (ids and dates only). */
  due: [] as DueItem[],
  /** Retention decisions recorded, as the server keeps them. */
  decisions: [] as DecisionRequest[],
  /** Since when each case stands where it does (RFC 3339). */
  statusSince: new Map<string, string>(),
  sync: {
    state: { state: "offline", message: "No connection to the sync server. Changes are kept on this device and sent when it is back." },
    waiting: 2,
    last_contact: hoursAgo(3),
    overdue: false,
    set_aside: 0,
    partner_synced_at: null,
    notices: [],
  } as SyncStatus,
};

function fail(code: string, message: string): never {
  throw { code, message };
}

/** Asks provide-core (through the harness's `ui-core-rules`) to apply one of its rules. */
async function core<T>(cmd: string, args: Record<string, unknown>): Promise<T> {
  const r = await fetch("/core", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ cmd, args }) });
  const body = (await r.json()) as { ok?: T; err?: { code: string; message: string } };
  if (body.err) fail(body.err.code, body.err.message);
  return body.ok as T;
}

/** Every assessment's evaluation by provide-core, by assessment id (filled before each command). */
const evaluations = new Map<string, Evaluation>();

async function evaluatePending() {
  for (const c of state.cases.values())
    for (const a of c.risk_assessments)
      if (!evaluations.has(a.id)) evaluations.set(a.id, await core<Evaluation>("evaluate", { assessment: a }));
}

function blankCase(id: string, deployment: Case["deployment"]): Case {
  return {
    schema: 1,
    id,
    deployment,
    status: "active",
    division: "Central",
    team: "Provide 1",
    created_at: now(),
    created_by: state.user?.name ?? "seed",
    incident: { reference: "", occurred_at: null, location: "" },
    victim: {
      name: "",
      dob: null,
      address: "",
      phone: "",
      safe_contact: { call_ok: null, text_ok: null, voicemail_ok: null, safe_times: "", notes: "" },
      language: "",
      interpreter_needed: null,
      disability: "",
      pregnant: null,
    },
    children: [],
    perpetrator: { name: "", relationship: "", in_custody: null, bail_conditions: "" },
    risk_assessments: [],
    support: {
      risk_assessment: false,
      safety_planning: false,
      emotional_support: false,
      information_signposting: false,
      criminal_justice_advocacy: false,
      social_welfare: false,
    },
    safety_plan: [],
    referrals: [],
    consent: { information_sharing: "not_asked", basis: "" },
    visits: [],
    outcome: {
      engaged_safeguarding: "unknown",
      engaged_investigation: "unknown",
      previously_engaged_safeguarding: "unknown",
      previously_engaged_investigation: "unknown",
      repeat_victim: "unknown",
    },
    notes: [],
    triage: { reason: null, priority: null, visit_date: null, shift: null, notes: "", triaged_at: null, triaged_by: "" },
    review: { reviewed_at: null, reviewed_by: "" },
    safeguarding_actions: [],
  };
}

function seedAssessment(c: Case, level: RiskLevel, yes: number) {
  const answers: Record<string, Answer> = {};
  dash.groups.flatMap((g) => g.questions).forEach((qq, i) => (answers[qq.id] = i < yes ? "yes" : "no"));
  c.risk_assessments.push({
    id: newId("as"),
    form: "dash",
    form_version: 1,
    answers,
    judgement_level: level === "high" && yes < 14 ? "high" : null,
    judgement_reason: level === "high" && yes < 14 ? "Escalating threats" : "",
    incidents_12_months: null,
    assessed_at: hoursAgo(20),
    assessed_by: "idva.jones",
    role: "idva",
  });
}

function seed() {
  const people: [string, string, RiskLevel | null, number, Partial<Case["victim"]["safe_contact"]>][] = [
    ["Jane Fictional", "LC-20261121-0456", "high", 15, { call_ok: false, text_ok: true, voicemail_ok: false, safe_times: "Weekdays 10:00–12:00" }],
    ["Ali Example", "LC-20261121-0789", "medium", 11, { call_ok: true, text_ok: true, voicemail_ok: null, safe_times: "After 18:00" }],
    ["Sam Sample", "LC-20261120-0102", "standard", 4, { call_ok: true, text_ok: true, voicemail_ok: true }],
    ["Priya Placeholder", "LC-20261121-0333", "high", 9, { call_ok: false, text_ok: false, voicemail_ok: false, safe_times: "Only via GP surgery" }],
    ["Morgan Test", "LC-20261119-0911", null, 0, {}],
  ];
  people.forEach(([name, ref, level, yes, sc], i) => {
    const id = `case-${i + 1}`;
    const c = blankCase(id, i === 4 ? "live" : "post_incident");
    c.status = i === 4 ? "triaged" : "active";
    c.created_at = hoursAgo(30 - i);
    c.victim.name = name;
    c.victim.phone = `07700 900${(120 + i).toString()}`;
    c.victim.address = `${i + 1} Example Street, Preston`;
    c.victim.safe_contact = { ...c.victim.safe_contact, ...sc };
    c.incident = { reference: ref, occurred_at: hoursAgo(26 + i), location: "Preston" };
    c.perpetrator = { name: "Chris Madeup", relationship: "Ex-partner", in_custody: i === 0 ? false : null, bail_conditions: i === 0 ? "Not to contact the victim" : "" };
    if (level) seedAssessment(c, level, yes);
    if (i === 0) c.children.push({ id: newId("ch"), name: "Robin Fictional", age: 6, present_at_incident: true });
    c.notes.push({ id: newId("n"), at: hoursAgo(22), author: "ds.sample", role: "safeguarding", text: "Triaged for a visit today." });
    state.cases.set(id, c);
    if (i < 4) state.visits.push(id);
  });
  state.conflicts.set("case-2", [
    {
      path: "status",
      values: [
        { value: "active", user: "idva.jones", role: "idva", at: hoursAgo(2), verified: true },
        { value: "closed", user: "ds.sample", role: "safeguarding", at: hoursAgo(1.5), verified: true },
      ],
    },
    {
      path: "victim.phone",
      values: [
        { value: "07700 900121", user: "pc.example", role: "officer", at: hoursAgo(2), verified: true },
        { value: "07700 900999", user: "idva.jones", role: "idva", at: hoursAgo(1), verified: true },
      ],
    },
  ]);
  state.health.set("case-1", { schema: 1, id: "h-1", case_id: "case-1", discreet_contact: "GP appointment, Tuesdays", notes: [] });
  // Morgan Test was triaged by the unit
  const m = state.cases.get("case-5")!;
  m.triage = { reason: "vulnerability", priority: 3, visit_date: day(0), shift: "late", notes: "Lives alone, limited English", triaged_at: hoursAgo(22), triaged_by: "ds.sample" };
  if (role === "safeguarding") {
    seedSafeguarding();
    const gone = blankCase("case-archived-1", "post_incident");
    gone.status = "closed";
    gone.victim.name = "Rosa Longclosed";
    gone.incident = { reference: "LC-20250101-0001", occurred_at: hoursAgo(24 * 200), location: "Preston" };
    gone.created_at = hoursAgo(24 * 200);
    state.archive.set(gone.id, gone);
  }
  seedAudit();
  seedDue();
  const many = Number(q.get("many") ?? "0");
  for (let i = 0; i < many; i++) {
    const id = `bulk-${i}`;
    const c = blankCase(id, i % 3 === 0 ? "live" : "post_incident");
    c.victim.name = `Test Person ${i}`;
    c.incident.reference = `LC-BULK-${i}`;
    c.created_at = hoursAgo(100 + i);
    state.cases.set(id, c);
  }
  if (q.get("shift") === "1") startShift({ pattern: "early", call_sign: "PR01", partner: "pc.example", date: null });
  // as if each status had been learned at a sync two hours ago
  for (const id of state.cases.keys()) state.statusSince.set(id, hoursAgo(2));
}

function session() {
  if (state.phase !== "unlocked" || !state.user) fail("locked", "The app is locked. Unlock it to continue.");
  return state.user;
}

function appStatus(): AppStatus {
  const u = state.user;
  const phase: AppStatus["phase"] =
    state.phase === "unlocked" && u
      ? { phase: "unlocked", session: { user: u.name, role: u.role, division: "Central", team: "Provide 1" } }
      : state.phase === "locked"
        ? { phase: "locked", users: USERS.map((x) => x.name), failed_attempts: state.failed, wait_ms: Math.max(0, state.waitUntil - Date.now()) }
        : { phase: state.phase as "not_enrolled" | "wiped" };
  const unlocked = phase.phase === "unlocked";
  return { phase, idle_lock_minutes: state.idle, key_protection: "os_keystore", device_policy: unlocked ? { ...state.policy } : null };
}

function riskViews(c: Case): RiskView[] {
  return c.risk_assessments.map((a) => {
    const e = evaluations.get(a.id) ?? fail("internal", `assessment ${a.id} was not evaluated by provide-core`);
    return { assessment_id: a.id, form: a.form, assessed_at: a.assessed_at, ...e };
  });
}

function view(id: string): CaseView {
  const c = state.cases.get(id) ?? fail("not_found", "There is no such case on this device.");
  const u = session();
  if (u.role === "admin") fail("forbidden", "An administrator may not read case records.");
  const assessments = riskViews(c);
  const risk = assessments[assessments.length - 1] ?? null;
  const occurred = c.incident.occurred_at ? Math.floor((Date.now() - Date.parse(c.incident.occurred_at)) / 86400_000) : null;
  return { id, record: structuredClone(c), risk_level: risk?.level ?? null, risk, assessments, days_since_incident: occurred, conflicts: structuredClone(state.conflicts.get(id) ?? []), leaves_device: leaving(c) };
}

/** When a case leaves this device, by the rule of the app (provide-core `leaves_device_at`):
 * patrol devices let handed-over and closed cases go after the grace period, the unit closed
 * ones only. */
function leaving(c: Case): Leaving | null {
  const r = state.user?.role;
  const goes = c.status === "closed" || (c.status === "handed_over" && r !== "safeguarding");
  const since = state.statusSince.get(c.id);
  if (!goes || !since) return null;
  const at = Date.parse(since) + state.policy.grace_hours * 3600_000;
  return { at: new Date(at).toISOString().replace(/\.\d{3}Z$/, "Z"), due: Date.now() >= at, policy: { ...state.policy } };
}

function summary(c: Case): CaseSummary {
  const v = riskViews(c);
  return {
    id: c.id,
    deployment: c.deployment,
    status: c.status,
    risk_level: v[v.length - 1]?.level ?? null,
    victim_name: c.victim.name,
    incident_reference: c.incident.reference,
    team: c.team,
    updated_at: c.notes[c.notes.length - 1]?.at ?? c.created_at,
    conflicts: state.conflicts.get(c.id)?.length ?? 0,
    leaves_device: leaving(c),
    ...listRow(c),
  };
}

// ---- list rows: contact rules, area, triage, today's visit (provide-core `store::rows`) ----

/** What a list row adds to a case's summary: the contact rules (never the phone), the contact
 * fields in conflict, the town (never an address), the unit's triage, and a visit today. */
function listRow(c: Case): Pick<CaseSummary, "contact" | "area" | "triage_reason" | "triage_priority" | "visited_today"> {
  const sc = c.victim.safe_contact;
  const contactConflicts = (state.conflicts.get(c.id) ?? [])
    .map((x) => x.path)
    .filter((p) => p === "victim.phone" || p.startsWith("victim.safe_contact."));
  const town = (place: string) => {
    const parts = place.split(",").map((x) => x.trim()).filter(Boolean);
    const last = parts.length > 1 ? parts[parts.length - 1] : (parts[0] ?? "");
    return /\d/.test(last) ? "" : last;
  };
  const today = day(0);
  return {
    contact: { call_ok: sc.call_ok, text_ok: sc.text_ok, voicemail_ok: sc.voicemail_ok, safe_times: sc.safe_times, conflicts: contactConflicts },
    area: town(c.victim.address) || town(c.incident.location) || c.division,
    triage_reason: c.triage.reason,
    triage_priority: c.triage.priority,
    visited_today: c.visits.some((v) => {
      const d = new Date(v.at);
      return !Number.isNaN(d.getTime()) && `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}` === today;
    }),
  };
}

/** Today's visits in provide-core's order: highest risk first, then the unit's priority. */
function visitOrder(rows: CaseSummary[]): CaseSummary[] {
  const risk = (r: CaseSummary) => ["high", "medium", "standard"].indexOf(r.risk_level ?? "") >>> 0;
  return rows.map((r, i) => [r, i] as const).sort(([a, i], [b, j]) => risk(a) - risk(b) || (a.triage_priority ?? Infinity) - (b.triage_priority ?? Infinity) || i - j).map(([r]) => r);
}

// ---- end of list rows ----

/** The unit's extra cases: handed over by patrols (one reviewed), triaged, and a closed earlier
 * case of a repeat victim. Addresses, phones and notes are set so the tests can check that the
 * MARAC agenda never shows them. */
function seedSafeguarding() {
  type Spec = {
    id: string;
    name: string;
    ref: string;
    deployment: Case["deployment"];
    status: Case["status"];
    level: RiskLevel;
    yes: number;
    hours: number;
    setup?: (c: Case) => void;
  };
  const specs: Spec[] = [
    {
      id: "sg-erin",
      name: "Erin Fictional",
      ref: "LC-20261120-0555",
      deployment: "live",
      status: "handed_over",
      level: "high",
      yes: 16,
      hours: 40,
      setup: (c) => {
        c.victim.dob = "1991-03-14";
        c.children.push({ id: newId("ch"), name: "Alex Fictional", age: 4, present_at_incident: true }, { id: newId("ch"), name: "Sky Fictional", age: null, present_at_incident: false });
        c.perpetrator = { name: "Casey Madeup", relationship: "Partner", in_custody: true, bail_conditions: "" };
        c.referrals.push(
          { id: newId("re"), kind: "marac", service_id: null, service: "MARAC", status: "made", consent: "yes", notes: "", made_at: hoursAgo(30), made_by: "idva.jones" },
          { id: newId("re"), kind: "childrens_services", service_id: null, service: "Children's services", status: "to_make", consent: "yes", notes: "", made_at: hoursAgo(30), made_by: "idva.jones" },
        );
        c.visits.push({ id: newId("vi"), at: hoursAgo(36), outcome: "engaged", notes: "Spoke in the kitchen", by: "idva.jones" });
        c.safety_plan.push({ id: newId("sp"), text: "Keep phone charged", done: true, added_at: hoursAgo(36), added_by: "idva.jones" }, { id: newId("sp"), text: "Change the locks", done: false, added_at: hoursAgo(36), added_by: "idva.jones" });
        c.support.safety_planning = true;
        c.support.emotional_support = true;
        c.consent.information_sharing = "yes";
        c.outcome = { engaged_safeguarding: "yes", engaged_investigation: "yes", previously_engaged_safeguarding: "no", previously_engaged_investigation: "unknown", repeat_victim: "no" };
        c.notes.push({ id: newId("n"), at: hoursAgo(35), author: "pc.example", role: "officer", text: "Key safe code 4711 by the back door." });
      },
    },
    {
      id: "sg-dana",
      name: "Dana Placeholder",
      ref: "LC-20261121-0612",
      deployment: "post_incident",
      status: "handed_over",
      level: "medium",
      yes: 10,
      hours: 20,
      setup: (c) => {
        c.visits.push({ id: newId("vi"), at: hoursAgo(16), outcome: "engaged", notes: "", by: "idva.jones" });
        c.referrals.push({ id: newId("re"), kind: "housing", service_id: null, service: "Housing options", status: "made", consent: "yes", notes: "", made_at: hoursAgo(15), made_by: "idva.jones" });
        c.outcome = { engaged_safeguarding: "yes", engaged_investigation: "no", previously_engaged_safeguarding: "yes", previously_engaged_investigation: "no", repeat_victim: "yes" };
        c.review = { reviewed_at: hoursAgo(4), reviewed_by: "ds.sample" };
        c.safeguarding_actions.push({ id: newId("sa"), kind: "alarm", detail: "Police alarm fitted", done: false, at: hoursAgo(4), by: "ds.sample" });
      },
    },
    {
      id: "sg-lee",
      name: "Lee Sample",
      ref: "LC-20261121-0701",
      deployment: "post_incident",
      status: "handed_over",
      level: "standard",
      yes: 3,
      hours: 12,
      setup: (c) => {
        c.visits.push({ id: newId("vi"), at: hoursAgo(9), outcome: "no_answer", notes: "", by: "pc.example" });
        c.outcome = { engaged_safeguarding: "no", engaged_investigation: "unknown", previously_engaged_safeguarding: "unknown", previously_engaged_investigation: "yes", repeat_victim: "unknown" };
      },
    },
    {
      id: "sg-jane-old",
      name: "Jane Fictional",
      ref: "LC-20261112-0042",
      deployment: "post_incident",
      status: "closed",
      level: "medium",
      yes: 8,
      hours: 240,
      setup: (c) => {
        c.visits.push({ id: newId("vi"), at: hoursAgo(236), outcome: "engaged", notes: "", by: "idva.jones" });
        c.outcome = { engaged_safeguarding: "yes", engaged_investigation: "no", previously_engaged_safeguarding: "unknown", previously_engaged_investigation: "unknown", repeat_victim: "no" };
      },
    },
  ];
  for (const sp of specs) {
    const c = blankCase(sp.id, sp.deployment);
    c.status = sp.status;
    c.created_at = hoursAgo(sp.hours - 1);
    c.created_by = "pc.example";
    c.victim.name = sp.name;
    c.victim.address = `${sp.hours} Madeup Road, Blackpool`;
    c.victim.phone = `07700 900${String(500 + sp.hours)}`;
    c.incident = { reference: sp.ref, occurred_at: hoursAgo(sp.hours), location: "Blackpool" };
    c.perpetrator = { name: "Chris Madeup", relationship: "Ex-partner", in_custody: null, bail_conditions: "" };
    seedAssessment(c, sp.level, sp.yes);
    c.risk_assessments[0].assessed_at = hoursAgo(sp.hours - 2);
    sp.setup?.(c);
    state.cases.set(c.id, c);
  }
  triage({ reference: "LC-20261122-0100", occurred_at: hoursAgo(10), location: "Fleetwood", victim_name: "Taylor Example", victim_dob: "1985-07-02", dara_level: "high", reason: "high_risk", need: "", priority: 1, team: "Provide 1", visit_date: day(0), shift: "early" }, "ds.sample");
  triage({ reference: "LC-20261122-0101", occurred_at: hoursAgo(8), location: "Lytham", victim_name: "Jo Madeup", victim_dob: null, dara_level: "medium", reason: "health_need", need: "Attends the antenatal clinic on Thursdays", priority: 2, team: "Provide 2", visit_date: day(1), shift: "late" }, "ds.sample");
}

/** The server's audit log as the fake has it: some server events, then what this fake does. */
/** Closed cases of the division (and health records of two) on the server: three due for
 * review and one not yet; `due=N` for N due cases instead of three (`due=0`: nothing). */
function seedDue() {
  const n = Number(q.get("due") ?? "3");
  const uuid = (i: number) => `${(0x3f2a9c10 + i).toString(16)}-7d1e-4b6a-9c2f-0000000000${String(i).padStart(2, "0")}`;
  const iso = (x: Date) => `${x.getFullYear()}-${String(x.getMonth() + 1).padStart(2, "0")}-${String(x.getDate()).padStart(2, "0")}`;
  const closed = (i: number, yearsAgo: number, kind: "case" | "health", months: number): DueItem => {
    const d = new Date();
    const close = new Date(d.getFullYear() - yearsAgo, d.getMonth(), d.getDate() - 3 - (i % 20));
    const review = new Date(close.getFullYear(), close.getMonth() + months, close.getDate());
    return {
      record: kind === "health" ? `${uuid(i)}.health` : uuid(i),
      kind,
      class: kind === "health" ? "nhs_health" : "police_case",
      division: "Central",
      closed_on: iso(close),
      review_date: iso(review),
      retained_until: null,
    };
  };
  for (let i = 0; i < n; i++) state.due.push(closed(i, 9 - (i % 3), "case", 72));
  if (n > 0) state.due.push(closed(0, 9, "health", 96), closed(1, 8, "health", 96));
  state.due.push(closed(90, 5, "case", 72)); // closed five years ago: not yet due
}

function seedAudit() {
  const rows: [number, string, string, string, string, string][] = [
    [200, "dev-server", "admin.example", "enrol", "dev-unit-01", "device enrolled for ds.sample"],
    [190, "dev-server", "admin.example", "enrol", "dev-patrol-01", "device enrolled for pc.example"],
    [48, "dev-patrol-01", "pc.example", "receive", "case-1", "changes accepted"],
    [47, "dev-patrol-02", "idva.jones", "receive", "case-1", "changes accepted"],
    [30, "dev-unit-01", "ds.sample", "disclose", "case-5", "triaged case sent to team Provide 1"],
    [26, "dev-patrol-01", "pc.example", "view", "case-2", "case opened"],
    [6, "dev-patrol-02", "idva.jones", "audit_upload", "", "12 entries"],
    [3, "dev-server", "admin.example", "revoke", "dev-patrol-09", "device reported lost"],
  ];
  rows.sort((a, b) => b[0] - a[0]);
  for (const [h, device, user, action, record, detail] of rows) state.audit.push({ seq: state.audit.length + 1, at: hoursAgo(h), device, user, action, record, detail });
}

function audit(action: string, record: string, detail: string) {
  const u = state.user;
  state.audit.push({
    seq: state.audit.length + 1,
    at: now(),
    device: u?.role === "safeguarding" ? "dev-unit-01" : u?.role === "admin" ? "dev-admin-01" : "dev-patrol-01",
    user: u?.name ?? "",
    action,
    record,
    detail,
  });
}

const UNIT_ONLY = "Only the safeguarding unit may do this. Officers, IDVAs and administrators do not see the unit's queues, MARAC list, dashboard or exports.";

function requireUnit(): User {
  const u = session();
  if (u.role !== "safeguarding") fail("forbidden", UNIT_ONLY);
  return u;
}

function requireServer(what: string) {
  if (!state.online) fail("offline", `The ${what} comes from the sync server, and this device cannot reach it now. Try again when it has a connection.`);
}

/** The unit and IDVAs review; the app refuses others before anything is sent. */
function reviewer(action: string): User {
  const u = session();
  if (u.role !== "safeguarding" && u.role !== "idva") fail("forbidden", `Your role (${u.role}) may not ${action}.`);
  return u;
}

/** A retention decision: the app's checks (`invalid_input`), then the server's
 * (`server_refused`, or `forbidden`); a dispose erases the record (a case with its health
 * record) from the server and this device. */
function decide(u: User, r: DecisionRequest) {
  const invalid = (m: string): never => fail("invalid_input", `Invalid input: ${m}.`);
  const refused = (m: string): never => fail("server_refused", `The sync server refused the request (400): Invalid input: ${m}.`);
  const reason = String(r.reason ?? "").trim();
  if (!reason) invalid("a reason is required");
  if ([...reason].length > 1000) invalid("the reason must be at most 1000 characters");
  if (r.decision === "retain" && !r.retain_until) invalid("a retain decision needs a retain-until date");
  if (r.decision === "dispose" && r.retain_until) invalid("a dispose decision takes no retain-until date");
  if (r.retain_until && !/^\d{4}-\d{2}-\d{2}$/.test(r.retain_until)) invalid(`\`${r.retain_until}\` is not a date written YYYY-MM-DD`);
  requireServer("retention review");
  const item = state.due.find((d) => d.record === r.record) ?? refused(`no record ${r.record} is stored for this reviewer`);
  if (item.kind === "health" && u.role !== "idva") fail("forbidden", "The sync server refused the request (403): Not allowed: health records are reviewed by the IDVA role only.");
  if (item.kind === "case" && u.role !== "safeguarding") fail("forbidden", "The sync server refused the request (403): Not allowed: cases are reviewed by the safeguarding unit or an administrator.");
  const today = day(0);
  if (r.decision === "retain") {
    if (r.retain_until! <= today) refused(`the retain-until date ${r.retain_until} is not in the future (today is ${today})`);
    item.review_date = r.retain_until!;
    item.retained_until = r.retain_until;
  } else {
    if (item.review_date > today) refused(`record ${item.record} is not due for review until ${item.review_date}: it may be retained now, and disposed of from that date`);
    const caseId = item.record.replace(/\.health$/, "");
    state.due = state.due.filter((d) => d.record !== item.record && (item.kind !== "case" || d.record !== `${caseId}.health`));
    if (item.kind === "case") state.cases.delete(caseId);
    state.health.delete(caseId);
  }
  state.decisions.push(structuredClone(r));
  audit("retention_review", item.record, r.decision === "retain" ? `retain until ${r.retain_until}; class ${item.class}` : `dispose; class ${item.class}; the record is to be erased`);
  const at = new Date();
  return {
    record: item.record,
    kind: item.kind,
    class: item.class,
    decision: r.decision,
    retain_until: r.decision === "retain" ? r.retain_until : null,
    reason,
    decided_by: u.name,
    device: u.role === "safeguarding" ? "dev-unit-01" : "dev-patrol-01",
    decided_at: at.toISOString(),
    decided_ms: at.getTime(),
  };
}

function triage(input: TriageInput, by: string): string {
  const need = (v: string, what: string) => v.trim() || fail("invalid_value", `${what}: it must not be empty`);
  need(input.reference, "reference");
  need(input.victim_name, "victim_name");
  need(input.team, "team");
  if (input.reason === "high_risk" && input.dara_level !== "high") fail("invalid_value", "reason: high risk is the reason only when the DARA level is high");
  if (input.reason !== "high_risk" && !input.need.trim()) fail("invalid_value", "need: say what the extra vulnerability or health need is");
  if (input.priority === 0) fail("invalid_value", "priority: 1 is the first visit");
  const id = newId("case");
  const c = blankCase(id, "post_incident");
  c.status = "triaged";
  c.team = input.team.trim();
  c.created_by = by;
  c.incident = { reference: input.reference.trim(), occurred_at: input.occurred_at, location: input.location.trim() };
  c.victim.name = input.victim_name.trim();
  c.victim.dob = input.victim_dob;
  c.triage = { reason: input.reason, priority: input.priority, visit_date: input.visit_date, shift: input.shift, notes: input.need.trim(), triaged_at: now(), triaged_by: by };
  c.risk_assessments.push({
    id: newId("as"),
    form: "dara",
    form_version: 1,
    answers: {},
    judgement_level: input.dara_level,
    judgement_reason: "DARA level at triage",
    incidents_12_months: null,
    assessed_at: now(),
    assessed_by: by,
    role: "safeguarding",
  });
  state.cases.set(id, c);
  state.statusSince.set(id, now());
  return id;
}

const RISK_RANK: Record<string, number> = { high: 3, medium: 2, standard: 1 };

function triageQueue(): TriagedCase[] {
  const out = [...state.cases.values()]
    .filter((c) => c.status === "triaged")
    .map((c) => ({ case: summary(c), reason: c.triage.reason, priority: c.triage.priority, visit_date: c.triage.visit_date, shift: c.triage.shift }));
  const key = (t: TriagedCase) => [t.visit_date === null ? 1 : 0, t.visit_date ?? "", t.priority ?? Number.MAX_SAFE_INTEGER, -(RISK_RANK[t.case.risk_level ?? ""] ?? 0), t.case.id] as const;
  return out.sort((a, b) => {
    const x = key(a);
    const y = key(b);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
  });
}

/** What the patrol did, from the record (as the core's `done`). */
function doneOf(c: Case): string[] {
  const out: string[] = [];
  if (c.visits.length) out.push(`${c.visits.length} visit(s), ${c.visits.filter((v) => v.outcome === "engaged").length} engaged`);
  const r = riskViews(c).at(-1);
  if (r) out.push(r.score !== null ? `${r.form.toUpperCase()} assessment: ${r.level} risk (${r.score} "yes")` : `${r.form.toUpperCase()} assessment: ${r.level} risk`);
  const made = c.referrals.filter((x) => x.status !== "to_make").map((x) => x.kind.replace(/_/g, " "));
  if (made.length) out.push(`referrals made: ${made.join(", ")}`);
  const s = c.support;
  const support = (
    [
      [s.risk_assessment, "risk assessment"],
      [s.safety_planning, "safety planning"],
      [s.emotional_support, "emotional support"],
      [s.information_signposting, "information and signposting"],
      [s.criminal_justice_advocacy, "criminal justice advocacy"],
      [s.social_welfare, "social welfare"],
    ] as const
  )
    .filter(([on]) => on)
    .map(([, n]) => n);
  if (support.length) out.push(`IDVA support: ${support.join(", ")}`);
  if (c.safety_plan.length) out.push(`safety plan: ${c.safety_plan.length} action(s), ${c.safety_plan.filter((i) => i.done).length} done`);
  out.push(`consent to share: ${c.consent.information_sharing.replace(/_/g, " ")}`);
  return out;
}

/** What is still to do (as the core's `outstanding`). */
function outstandingOf(c: Case): string[] {
  const out: string[] = [];
  if (c.deployment !== "consultation" && c.risk_assessments.length === 0) out.push("no risk assessment recorded");
  for (const r of c.referrals) if (r.status === "to_make") out.push(`referral to make: ${r.service || r.kind.replace(/_/g, " ")}`);
  const childrenReferred = c.referrals.some((r) => r.kind === "childrens_services" && r.status !== "to_make");
  if (c.children.length && !childrenReferred) out.push(`${c.children.length} child(ren) recorded with no children's services referral made`);
  const open = c.safety_plan.filter((i) => !i.done).length;
  if (open) out.push(`${open} safety plan action(s) open`);
  return out;
}

function handoverQueue(): HandoverItem[] {
  return [...state.cases.values()]
    .filter((c) => c.status === "handed_over")
    .map((c) => ({ case: summary(c), done: doneOf(c), outstanding: outstandingOf(c), reviewed_at: c.review.reviewed_at, reviewed_by: c.review.reviewed_by, actions: structuredClone(c.safeguarding_actions) }))
    .sort((a, b) => (RISK_RANK[b.case.risk_level ?? ""] ?? 0) - (RISK_RANK[a.case.risk_level ?? ""] ?? 0) || b.case.updated_at.localeCompare(a.case.updated_at) || a.case.id.localeCompare(b.case.id));
}

/** Why a case is on the MARAC list (as the core's `marac_grounds`), or null. */
function maracGrounds(c: Case): string[] | null {
  if (c.status === "closed") return null;
  const marac = c.referrals.filter((r) => r.kind === "marac");
  if (marac.some((r) => r.status === "accepted" || r.status === "declined")) return null;
  const grounds: string[] = [];
  const r = riskViews(c).at(-1);
  for (const k of r?.marac_criteria ?? []) {
    if (k === "visible_high_risk") grounds.push(r!.score !== null ? `${r!.score} "yes" answers on ${r!.form} (14 or more)` : "high risk on the checklist");
    else if (k === "escalation") grounds.push("escalation: 3 or more incidents in 12 months");
    else if (k === "professional_judgement") grounds.push("high risk by professional judgement");
    else grounds.push(k.replace(/_/g, " "));
  }
  if (marac.length) grounds.push("referred to MARAC");
  return grounds.length ? grounds : null;
}

function maracList(): MaracEntry[] {
  const out: MaracEntry[] = [];
  const cases = [...state.cases.values()].filter((c) => c.status !== "closed").map((c) => [c, summary(c)] as const);
  cases.sort(([, a], [, b]) => (RISK_RANK[b.risk_level ?? ""] ?? 0) - (RISK_RANK[a.risk_level ?? ""] ?? 0) || a.updated_at.localeCompare(b.updated_at) || a.id.localeCompare(b.id));
  for (const [c] of cases) {
    const grounds = maracGrounds(c);
    if (!grounds) continue;
    const r = riskViews(c).at(-1);
    const ref = c.referrals.filter((x) => x.kind === "marac").sort((a, b) => a.made_at.localeCompare(b.made_at))[0];
    out.push({
      case_id: c.id,
      incident_reference: c.incident.reference,
      incident_date: c.incident.occurred_at ? c.incident.occurred_at.slice(0, 10) : null,
      victim_name: c.victim.name,
      victim_dob: c.victim.dob,
      perpetrator_name: c.perpetrator.name,
      perpetrator_in_custody: c.perpetrator.in_custody,
      children_ages: c.children.map((ch) => ch.age),
      risk_level: r?.level ?? null,
      dash_score: r && r.form === "dash" ? r.score : null,
      grounds,
      referred_at: ref?.made_at ?? null,
      referred_by: ref?.made_by ?? "",
      team: c.team,
      consent: c.consent.information_sharing,
    });
  }
  return out;
}

function counts(keys: string[]): Count[] {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return [...m.entries()].map(([key, count]) => ({ key, count })).sort((a, b) => a.key.localeCompare(b.key));
}

function share(values: TriState[]): Share {
  return { yes: values.filter((v) => v === "yes").length, no: values.filter((v) => v === "no").length, unknown: values.filter((v) => v === "unknown").length };
}

/** The dashboard for a period, from the fake's own cases: every case attended (not only
 * triaged) whose incident (or creation) falls in the period. */
function dashboard(from: string, to: string): Dashboard {
  const DAY = /^\d{4}-\d{2}-\d{2}$/;
  if (!DAY.test(from) || !DAY.test(to)) fail("invalid_input", "The period must be given as two days (YYYY-MM-DD).");
  if (from > to) fail("invalid_input", "The first day of the period must not be after the last.");
  const attended = [...state.cases.values()].filter((c) => {
    const d = (c.incident.occurred_at ?? c.created_at).slice(0, 10);
    return c.status !== "triaged" && d >= from && d <= to;
  });
  const names = attended.filter((c) => c.deployment !== "consultation" && c.victim.name).map((c) => c.victim.name.trim().toLowerCase());
  const per = counts(names);
  const hours = attended
    .map((c) => {
      const first = c.visits.filter((v) => v.by.startsWith("idva")).sort((a, b) => a.at.localeCompare(b.at))[0];
      return first && c.incident.occurred_at ? (Date.parse(first.at) - Date.parse(c.incident.occurred_at)) / 3600_000 : null;
    })
    .filter((h): h is number => h !== null)
    .sort((a, b) => a - b);
  const r1 = (x: number) => Math.round(x * 10) / 10;
  const median = hours.length ? (hours.length % 2 ? hours[(hours.length - 1) / 2] : (hours[hours.length / 2 - 1] + hours[hours.length / 2]) / 2) : 0;
  const p90 = hours.length ? hours[Math.min(hours.length - 1, Math.ceil(0.9 * hours.length) - 1)] : 0;
  return {
    division: "Central",
    from,
    to,
    attendances: attended.length,
    by_deployment: counts(attended.map((c) => c.deployment)),
    by_risk: counts(attended.map((c) => summary(c).risk_level ?? "not_assessed")),
    engaged_safeguarding: share(attended.map((c) => c.outcome.engaged_safeguarding)),
    engaged_investigation: share(attended.map((c) => c.outcome.engaged_investigation)),
    previously_engaged_safeguarding: share(attended.map((c) => c.outcome.previously_engaged_safeguarding)),
    previously_engaged_investigation: share(attended.map((c) => c.outcome.previously_engaged_investigation)),
    self_reported_repeat: share(attended.map((c) => c.outcome.repeat_victim)),
    victims: per.length,
    repeat_victims: per.filter((x) => x.count > 1).length,
    first_idva_contact: hours.length ? { count: hours.length, median: r1(median), p90: r1(p90), mean: r1(hours.reduce((a, b) => a + b, 0) / hours.length) } : null,
    referrals_by_kind: counts(attended.flatMap((c) => c.referrals.map((r) => r.kind))),
  };
}

function auditLog(qq: AuditQuery): AuditRow[] {
  let rows = state.audit.slice();
  if (qq.user) rows = rows.filter((r) => r.user === qq.user);
  if (qq.device) rows = rows.filter((r) => r.device === qq.device);
  if (qq.record) rows = rows.filter((r) => r.record === qq.record);
  if (qq.action) rows = rows.filter((r) => r.action === qq.action);
  if (qq.from) rows = rows.filter((r) => r.at.slice(0, 10) >= qq.from!);
  if (qq.to) rows = rows.filter((r) => r.at.slice(0, 10) <= qq.to!);
  // oldest first, as the server lists them
  return qq.limit ? rows.slice(0, qq.limit) : rows;
}

function touch(id: string, what: string) {
  state.unsynced.add(id);
  const list = state.touched.get(id) ?? [];
  list.push(what);
  state.touched.set(id, list);
  state.sync = { ...state.sync, waiting: state.unsynced.size + 2 };
}

async function setField(c: Case, path: string, text: string, u: User) {
  // provide-core says whether this role may set it, and what the typed text becomes
  const value = await core<unknown>("check_set", { role: u.role, path, text });
  const parts = path.split(".");
  const lists = ["children", "safety_plan", "referrals", "visits", "safeguarding_actions"];
  let obj: Record<string, unknown> = c as unknown as Record<string, unknown>;
  if (lists.includes(parts[0]) && parts.length === 3) {
    const list = obj[parts[0]] as { id: string }[];
    const item = list.find((x) => x.id === parts[1]) ?? fail("unknown_path", `No such item: ${parts[0]}`);
    (item as Record<string, unknown>)[parts[2]] = value;
  } else {
    for (const p of parts.slice(0, -1)) obj = obj[p] as Record<string, unknown>;
    if (!obj || !(parts[parts.length - 1] in obj)) fail("unknown_path", `There is no field called ${path}.`);
    const before = obj[parts[parts.length - 1]];
    obj[parts[parts.length - 1]] = value;
    if (path === "status" && before !== c.status) state.statusSince.set(c.id, now());
  }
  const cs = state.conflicts.get(c.id);
  if (cs) state.conflicts.set(c.id, cs.filter((x) => x.path !== path));
}

async function addItem(c: Case, list: string, item: Record<string, unknown>, u: User) {
  await core("check_add", { role: u.role, list });
  const id = newId(list.slice(0, 2));
  const at = now();
  switch (list) {
    case "notes":
      if (!String(item.text ?? "").trim()) fail("invalid_value", "notes.text: it must not be empty");
      c.notes.push({ id, at, author: u.name, role: u.role, text: String(item.text) });
      break;
    case "visits":
      c.visits.push({ id, at: (item.at as string) || at, outcome: item.outcome as never, notes: String(item.notes ?? ""), by: u.name });
      break;
    case "referrals": {
      const svc = item.service_id ? (directory as Directory).services.find((s) => s.id === item.service_id) : null;
      if (item.service_id && !svc) fail("invalid_value", "referrals.service_id: no such service in the directory");
      c.referrals.push({
        id,
        kind: item.kind as never,
        service_id: (item.service_id as string) ?? null,
        service: String(item.service ?? svc?.name ?? ""),
        status: (item.status as never) ?? "to_make",
        consent: (item.consent as never) ?? "not_asked",
        notes: String(item.notes ?? ""),
        made_at: at,
        made_by: u.name,
      });
      break;
    }
    case "safety_plan":
      c.safety_plan.push({ id, text: String(item.text), done: !!item.done, added_at: at, added_by: u.name });
      break;
    case "safeguarding_actions": {
      const kinds = ["alarm", "sanctuary_scheme", "refuge", "further_referral", "other"];
      if (!kinds.includes(String(item.kind))) fail("invalid_value", "safeguarding_actions.kind: not a kind of action");
      c.safeguarding_actions.push({ id, kind: item.kind as never, detail: String(item.detail ?? ""), done: false, at, by: u.name });
      break;
    }
    case "children":
      c.children.push({ id, name: String(item.name ?? ""), age: (item.age as number) ?? null, present_at_incident: (item.present_at_incident as boolean) ?? null });
      break;
    default:
      fail("unknown_list", `There is no list called ${list}.`);
  }
  touch(c.id, `added to ${list.replace("_", " ")}`);
}

function startShift(input: { pattern: "early" | "late"; call_sign: string; partner: string; date: string | null }): Shift {
  const u = state.user ?? USERS[0];
  state.shift = {
    schema: 1,
    id: newId("shift"),
    date: new Date().toISOString().slice(0, 10),
    pattern: input.pattern,
    call_sign: input.call_sign,
    officer: u.role === "officer" ? u.name : input.partner,
    idva: u.role === "idva" ? u.name : input.partner,
    division: "Central",
    team: "Provide 1",
    planned_visits: state.visits.map((case_id, order) => ({ id: newId("pv"), case_id, order })),
    started_at: now(),
    ended_at: null,
  };
  return state.shift;
}

function handover(shift: Shift) {
  return {
    shift,
    cases: [...state.touched.entries()].map(([id, done]) => {
      const c = state.cases.get(id)!;
      const outstanding: string[] = [];
      if (c.deployment !== "consultation" && c.risk_assessments.length === 0) outstanding.push("no risk assessment recorded");
      for (const r of c.referrals) if (r.status === "to_make") outstanding.push(`referral to make: ${r.service || r.kind}`);
      return { case: summary(c), done, outstanding, unsynced: state.unsynced.has(id) };
    }),
    unsynced: state.unsynced.size,
  };
}

async function syncNow() {
  session();
  const left = state.unsynced.size;
  state.sync = {
    ...state.sync,
    state: { state: "syncing", progress: { round_trips: 1, docs_left: left, bytes_in_flight: 2048, bytes_up: 0, bytes_down: 0, docs_sent: 0, docs_received: 0, more_to_receive: false } },
  };
  await emit("sync-status", state.sync);
  await new Promise((r) => setTimeout(r, 300));
  state.unsynced.clear();
  state.policy = { ...state.policy, heard_from_server: true };
  state.sync = { ...state.sync, state: { state: "synced", at: now() }, waiting: 0, last_contact: now(), overdue: false, set_aside: 0, notices: [...state.sync.notices, ...state.nextNotices] };
  state.nextNotices = [];
  await emit("sync-status", state.sync);
  return { round_trips: 1, bytes_up: 2048, bytes_down: 512, docs_sent: left, docs_received: 0, docs_purged: 0, refused: [], unsynced_left: 0, audit_entries_sent: 3, audit_rejected: false, cursor: 42, revoked: false, erased: [], rectified: [] };
}

type Args = Record<string, unknown>;

async function handle(cmd: string, a: Args): Promise<unknown> {
  state.calls.push(cmd);
  if (cmd in DRAFT_COMMANDS) return DRAFT_COMMANDS[cmd](a);
  if (cmd in PEER_COMMANDS) return PEER_COMMANDS[cmd](a);
  await evaluatePending();
  switch (cmd) {
    case "app_status":
      return appStatus();
    case "enrol": {
      if (state.phase !== "not_enrolled" && state.phase !== "wiped") fail("store_exists", "This device is already enrolled.");
      if (!String(a.server).startsWith("https://")) fail("invalid_input", "The server address must start with https://.");
      if (a.code !== "ENROL-1234") fail("server_refused", "The server did not accept that enrolment code. Check it, or ask for a new one.");
      if (String(a.passphrase).length < 8) fail("weak_passphrase", "The passphrase is too short.");
      USERS[0].passphrase = String(a.passphrase);
      state.user = USERS[0];
      state.phase = "unlocked";
      return appStatus();
    }
    case "unlock": {
      if (state.phase !== "locked") fail("invalid_input", "The app is not locked.");
      const wait = state.waitUntil - Date.now();
      if (wait > 0) fail("backing_off", `Too many wrong passphrases: wait ${Math.ceil(wait / 1000)} seconds.`);
      const u = a.user ? USERS.find((x) => x.name === a.user) : USERS[0];
      if (!u || u.passphrase !== a.passphrase) {
        state.failed++;
        if (state.failed >= state.backoffAfter) state.waitUntil = Date.now() + 2000;
        fail("wrong_passphrase", "The passphrase is not right.");
      }
      state.failed = 0;
      state.user = u;
      state.phase = "unlocked";
      return appStatus();
    }
    case "lock":
      if (state.phase === "unlocked") state.phase = "locked";
      return appStatus();
    case "touch":
      state.touches++;
      return null;
    case "set_idle_lock": {
      const m = Number(a.minutes);
      if (!(m >= 1 && m <= 15)) fail("invalid_setting", "The idle lock must be between 1 and 15 minutes.");
      state.idle = m;
      return appStatus();
    }
    case "list_cases": {
      const u = session();
      if (u.role === "admin") fail("forbidden", "An administrator may not read case records.");
      const f = a.filter as { status: string | null; risk: string | null; deployment: string | null; search: string | null; limit: number | null };
      let out = [...state.cases.values()].map(summary);
      if (f.status) out = out.filter((s) => s.status === f.status);
      if (f.risk) out = out.filter((s) => s.risk_level === f.risk);
      if (f.deployment) out = out.filter((s) => s.deployment === f.deployment);
      if (f.search) {
        const t = f.search.toLowerCase();
        out = out.filter((s) => s.victim_name.toLowerCase().includes(t) || s.incident_reference.toLowerCase().includes(t));
      }
      out.sort((x, y) => y.updated_at.localeCompare(x.updated_at));
      return f.limit ? out.slice(0, f.limit) : out;
    }
    case "show_case":
      return view(String(a.id));
    case "create_case": {
      const u = session();
      const id = newId("case");
      const c = blankCase(id, a.deployment as Case["deployment"]);
      c.status = "active";
      state.cases.set(id, c);
      state.statusSince.set(id, now());
      for (const [p, v] of a.sets as [string, string][]) await setField(c, p, v, u);
      touch(id, "created the case");
      return id;
    }
    case "set_case_fields": {
      const u = session();
      const c = state.cases.get(String(a.id)) ?? fail("not_found", "There is no such case on this device.");
      for (const [p, v] of a.sets as [string, string][]) await setField(c, p, v, u);
      touch(c.id, `changed ${(a.sets as [string, string][]).map((s) => s[0]).join(", ")}`);
      return view(c.id);
    }
    case "add_case_item": {
      const u = session();
      const c = state.cases.get(String(a.id)) ?? fail("not_found", "There is no such case on this device.");
      await addItem(c, String(a.list), a.item as Record<string, unknown>, u);
      return view(c.id);
    }
    case "assess": {
      const u = session();
      const c = state.cases.get(String(a.id)) ?? fail("not_found", "There is no such case on this device.");
      // provide-core builds and scores it, or refuses it, as saving does
      const r = await core<{ assessment: Assessment; evaluation: Evaluation }>("assess", { form: a.form, input: a.input, user: u.name, role: u.role, now: now() });
      c.risk_assessments.push(r.assessment);
      evaluations.set(r.assessment.id, r.evaluation);
      touch(c.id, `recorded a ${r.assessment.form.toUpperCase()} assessment`);
      return { assessment_id: r.assessment.id, evaluation: r.evaluation };
    }
    case "case_history":
      session();
      return [];
    case "show_health":
    case "add_health_note":
    case "set_discreet_contact": {
      const u = session();
      if (u.role !== "idva") fail("forbidden", "Only the IDVA may see health notes.");
      const caseId = String(a.caseId);
      const h = state.health.get(caseId) ?? { schema: 1, id: newId("h"), case_id: caseId, discreet_contact: "", notes: [] };
      if (cmd === "add_health_note") h.notes.push({ id: newId("hn"), at: now(), author: u.name, role: "idva", text: String(a.text) });
      if (cmd === "set_discreet_contact") h.discreet_contact = String(a.text);
      if (cmd !== "show_health") state.health.set(caseId, h);
      return state.health.has(caseId) ? { record: structuredClone(h), conflicts: [] } : null;
    }
    case "current_shift":
      session();
      return state.shift;
    case "start_shift":
      session();
      return startShift(a.input as never);
    case "plan_visit":
      session();
      return state.shift;
    case "end_shift":
    case "handover": {
      session();
      const s = state.shift ?? fail("not_found", "No shift is running.");
      if (cmd === "end_shift") {
        s.ended_at = now();
        state.shift = null;
        endPairing();
      }
      return handover(s);
    }
    case "todays_visits":
      session();
      return visitOrder(state.visits.map((id) => summary(state.cases.get(id)!)));
    case "preview_assessment":
      return core("preview_assessment", { form: a.form, input: a.input });
    case "forms":
      return structuredClone(FORMS);
    case "directory":
      return structuredClone(directory);
    case "sync_status":
      session();
      return state.sync;
    case "triage_case": {
      const u = requireUnit();
      const id = triage(a.input as TriageInput, u.name);
      audit("create", id, `triaged for team ${(a.input as TriageInput).team}`);
      touch(id, "triaged the case");
      return id;
    }
    case "triage_queue": {
      requireUnit();
      const out = triageQueue();
      audit("view", "*", `triage queue viewed (${out.length} rows)`);
      return out;
    }
    case "handover_queue": {
      requireUnit();
      const out = handoverQueue();
      audit("view", "*", `handover queue viewed (${out.length} rows)`);
      return out;
    }
    case "mark_reviewed": {
      const u = requireUnit();
      const c = state.cases.get(String(a.caseId)) ?? fail("not_found", "There is no such case on this device.");
      c.review = { reviewed_at: now(), reviewed_by: u.name };
      audit("alter", c.id, "handover reviewed");
      touch(c.id, "reviewed the handover");
      return handoverQueue();
    }
    case "marac_list": {
      requireUnit();
      const out = maracList();
      audit("view", "*", `MARAC list viewed (${out.length} cases)`);
      return out;
    }
    case "dashboard":
      requireUnit();
      requireServer("dashboard");
      return dashboard(String(a.from), String(a.to));
    case "export_report": {
      requireUnit();
      requireServer("export");
      const fmt = String(a.format);
      if (fmt !== "csv" && fmt !== "json") fail("invalid_input", "The export is CSV or JSON.");
      const d = dashboard(String(a.from), String(a.to));
      state.exports++;
      audit("export", "*", `evaluator export (${fmt}) ${d.from} to ${d.to}`);
      return { path: `/home/provide/Downloads/provide-${d.division.toLowerCase()}-${d.from}-to-${d.to}.${fmt}`, bytes: JSON.stringify(d).length * (fmt === "csv" ? 2 : 3), format: fmt };
    }
    case "audit_log": {
      const u = session();
      if (u.role !== "admin" && u.role !== "safeguarding") fail("forbidden", "Only administrators and the safeguarding unit may read the audit log.");
      requireServer("audit log");
      return auditLog(a.query as AuditQuery);
    }
    case "fetch_closed_cases": {
      requireUnit();
      requireServer("search of closed cases");
      const reference = a.reference == null ? "" : String(a.reference).replace(/\s+/g, "").toUpperCase();
      const name = a.name == null ? "" : String(a.name).trim().split(/\s+/).join(" ").toLowerCase();
      if (!reference === !name) fail("invalid_input", "Give a police reference or the victim's name, not both.");
      const found = [...state.archive.values()].filter((c) =>
        reference ? c.incident.reference.replace(/\s+/g, "").toUpperCase() === reference : c.victim.name.toLowerCase() === name,
      );
      for (const c of found) {
        state.archive.delete(c.id);
        state.cases.set(c.id, c);
        audit("view", c.id, "closed case fetched from the server on request");
      }
      return { fetched: found.map((c) => c.id) };
    }
    case "retention_due": {
      const u = reviewer("see what is due for retention review");
      requireServer("retention review");
      const today = day(0);
      const items = state.due
        .filter((d) => d.kind === (u.role === "idva" ? "health" : "case") && d.review_date <= today)
        .sort((x, y) => (x.closed_on < y.closed_on ? -1 : x.closed_on > y.closed_on ? 1 : 0));
      return { as_of: today, items: structuredClone(items), truncated: false };
    }
    case "retention_decide":
      return decide(reviewer("make a retention review decision"), a.request as DecisionRequest);
    case "sync_now":
      return syncNow();
    case "dismiss_sync_notices":
      session();
      state.sync = { ...state.sync, notices: [] };
      return state.sync;
    default:
      fail("internal", `The fake backend has no command ${cmd}.`);
  }
}

// ---- drafts (issue 17, item 5) --------------------------------------------------------------
// Kept per user like the store's table, refused while locked and over 64 KiB. The store's own
// tests hold the rules (core/src/app/drafts.rs, src-tauri/tests/commands.rs).
type FakeDraft = { key: string; record: string | null; screen: string; body: string; updated_at: string };
const drafts = new Map<string, FakeDraft>();
const draftId = (key: string) => `${session().name}\n${key}`;
const DRAFT_COMMANDS: Record<string, (a: Args) => unknown> = {
  save_draft: (a) => {
    const input = a.input as Omit<FakeDraft, "updated_at">;
    if (input.body.length + input.screen.length > 64 * 1024) fail("draft_too_large", "The draft is too large to keep (over 64 KiB); save it or shorten it.");
    if (input.record !== null && !state.cases.has(input.record)) fail("not_found", `No record with id ${input.record} is in this store.`);
    const d = { ...input, updated_at: new Date().toISOString() };
    drafts.set(draftId(input.key), d);
    return structuredClone(d);
  },
  list_drafts: () => {
    const mine = `${session().name}\n`;
    return [...drafts.entries()].filter(([k]) => k.startsWith(mine)).map(([, d]) => structuredClone(d));
  },
  get_draft: (a) => structuredClone(drafts.get(draftId(a.key as string)) ?? null),
  discard_draft: (a) => drafts.delete(draftId(a.key as string)),
};
/** The drafts kept, whoever they belong to (tests look at what the store holds). */
const draftsKept = () => [...drafts.values()].map((d) => structuredClone(d));
// ---- end of drafts ----------------------------------------------------------------------------

// ---- the pair in the car (issue 18) -----------------------------------------------------------
// The partner's device is played here: it shows PARTNER_CODE at PARTNER_ADDRESS, and pairs with
// this one when shown its code. The rules (certificates, proofs, scope, checks) are provide-core's
// and tested there (tests/tests/peer.rs, cli.rs); this only answers as the commands do.
const PARTNER_ADDRESS = "192.168.43.17:47001";
const PARTNER_CODE = "K7M2Q-9XDRT";
const OWN_CODE = "H3TVB-QW8PN";
const peer: PeerStatus = { pairing: null, offer: null, partner_address: null, certificate_valid: q.get("cert") !== "0", last_error: null };
const partnerOf = () => (session().role === "idva" ? { user: "pc.example", role: "officer" } : { user: "idva.jones", role: "idva" });
function endPairing() {
  Object.assign(peer, { pairing: null, offer: null, partner_address: null, last_error: null });
  state.sync = { ...state.sync, partner_synced_at: null };
  void emit("sync-status", state.sync);
}
async function peerSession(pairedNow: boolean): Promise<PeerReport> {
  const at = now();
  const p = partnerOf();
  peer.pairing = { partner_device: "dev-partner-0001", partner_user: p.user, partner_role: p.role, partner_key: "a1".repeat(32), paired_at: peer.pairing?.paired_at ?? at, last_sync_at: at };
  state.sync = { ...state.sync, partner_synced_at: at };
  await emit("sync-status", state.sync);
  return { partner_device: "dev-partner-0001", partner_user: p.user, partner_role: p.role, paired_now: pairedNow, records_sent: 2, records_received: 1, refused: [], refused_by_partner: [], bytes_up: 5120, bytes_down: 3072, round_trips: 2 };
}
const PEER_COMMANDS: Record<string, (a: Args) => unknown> = {
  peer_status: () => (session(), structuredClone(peer)),
  peer_show_code: () => {
    session();
    if (!peer.certificate_valid) fail("no_peer_certificate", "This device has no certificate for syncing with a partner yet: sync with the server once (it issues one for the shift).");
    const qr_text = `provide-pair:192.168.43.22:47002:${OWN_CODE}`;
    // a fixed fictional pattern: the real rows come from provide-core's QR encoder
    const qr_rows = Array.from({ length: 25 }, (_, y) => Array.from({ length: 25 }, (_, x) => ((x * 7 + y * 3 + x * y) % 5 < 2 ? "#" : " ")).join(""));
    peer.offer = { address: "192.168.43.22:47002", code: OWN_CODE, qr_text, qr_rows };
    return structuredClone(peer);
  },
  peer_pair: async (a) => {
    session();
    const address = String(a.address).trim();
    const code = String(a.code).trim().toUpperCase().replace(/[\s-]/g, "");
    if (address !== PARTNER_ADDRESS) fail("peer_unreachable", "The partner's device cannot be reached: connection refused. Check both devices are on the car's network.");
    if (code !== PARTNER_CODE.replace("-", "")) fail("peer_refused", "The partner's device was refused: the partner said: The partner's device was refused: the pairing code was wrong..");
    peer.partner_address = address;
    peer.offer = null;
    return peerSession(true);
  },
  peer_sync_now: () => {
    session();
    if (!peer.partner_address) fail("invalid_input", "Invalid input: this device is not paired with a partner's device.");
    return peerSession(false);
  },
  peer_end: () => {
    session();
    endPairing();
    return structuredClone(peer);
  },
};
// ---- end of the pair in the car -----------------------------------------------------------------

export function installFakeBackend() {
  seed();
  mockIPC((cmd, args) => handle(cmd, (args ?? {}) as Args), { shouldMockEvents: true });
  const fake = {
    state,
    draftsKept,
    emit: (event: string, payload?: unknown) => emit(event, payload),
    /** The idle lock fires: the backend locks and tells the window. */
    idleLock: async () => {
      state.phase = "locked";
      await emit("locked");
    },
    addConflict: (caseId: string, c: Conflict) => state.conflicts.set(caseId, [...(state.conflicts.get(caseId) ?? []), c]),
    dashboard: (from: string, to: string) => dashboard(from, to),
    /** What the next sync will say it did on purpose (an erasure, a correction). */
    nextNotices: (texts: string[]) => {
      state.nextNotices = texts;
    },
    setSync: async (s: SyncStatus) => {
      state.sync = s;
      await emit("sync-status", s);
    },
  };
  (window as unknown as { __fake: typeof fake }).__fake = fake;
}
