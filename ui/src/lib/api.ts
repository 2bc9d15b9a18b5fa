// The one door from the UI to the app: a typed wrapper per Tauri command. Argument and result
// types are generated from the Rust types (./bindings, by ts-rs; `make bindings`), so a change
// on the Rust side that the UI does not follow fails the type check. Errors arrive as
// `{code, message}` (IpcError) and are rethrown as `AppError` with the message in plain words.
import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";

import type { AppStatus } from "./bindings/AppStatus";
import type { AuditQuery } from "./bindings/AuditQuery";
import type { AuditRow } from "./bindings/AuditRow";
import type { Dashboard } from "./bindings/Dashboard";
import type { DecisionRequest } from "./bindings/DecisionRequest";
import type { DueList } from "./bindings/DueList";
import type { ReviewDecision } from "./bindings/ReviewDecision";
import type { ExportSaved } from "./bindings/ExportSaved";
import type { FetchReport } from "./bindings/FetchReport";
import type { HandoverItem } from "./bindings/HandoverItem";
import type { MaracEntry } from "./bindings/MaracEntry";
import type { TriageInput } from "./bindings/TriageInput";
import type { TriagedCase } from "./bindings/TriagedCase";
import type { Assessed } from "./bindings/Assessed";
import type { AssessmentInput } from "./bindings/AssessmentInput";
import type { AssessmentPreview } from "./bindings/AssessmentPreview";
import type { CaseFilter } from "./bindings/CaseFilter";
import type { CaseSummary } from "./bindings/CaseSummary";
import type { CaseView } from "./bindings/CaseView";
import type { Deployment } from "./bindings/Deployment";
import type { Directory } from "./bindings/Directory";
import type { Draft } from "./bindings/Draft";
import type { DraftInput } from "./bindings/DraftInput";
import type { FormDef } from "./bindings/FormDef";
import type { Handover } from "./bindings/Handover";
import type { HealthView } from "./bindings/HealthView";
import type { HistoryEntry } from "./bindings/HistoryEntry";
import type { IpcError } from "./bindings/IpcError";
import type { Shift } from "./bindings/Shift";
import type { ShiftInput } from "./bindings/ShiftInput";
import type { SyncReport } from "./bindings/SyncReport";
import type { SyncStatus } from "./bindings/SyncStatus";
import type { PeerReport } from "./bindings/PeerReport";
import type { PeerStatus } from "./bindings/PeerStatus";

/** A field path and the value typed for it, e.g. ["victim.safe_contact.call_ok", "no"]. */
export type FieldSet = [string, string];

export type ExportFormat = "csv" | "json";

/** A failed command: `code` is stable for the UI to act on, `message` is for people. */
export class AppError extends Error {
  readonly code: string;
  constructor(e: IpcError) {
    super(e.message);
    this.code = e.code;
    this.name = "AppError";
  }
}

function isIpcError(e: unknown): e is IpcError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    if (isIpcError(e)) throw new AppError(e);
    throw new AppError({ code: "internal", message: String(e) });
  }
}

export const api = {
  // session
  appStatus: () => call<AppStatus>("app_status"),
  enrol: (server: string, code: string, passphrase: string) =>
    call<AppStatus>("enrol", { server, code, passphrase }),
  unlock: (passphrase: string, user: string | null = null) =>
    call<AppStatus>("unlock", { passphrase, user }),
  lock: () => call<AppStatus>("lock"),
  touch: () => call<null>("touch"),
  setIdleLock: (minutes: number) => call<AppStatus>("set_idle_lock", { minutes }),

  // cases
  listCases: (filter: CaseFilter) => call<CaseSummary[]>("list_cases", { filter }),
  showCase: (id: string) => call<CaseView>("show_case", { id }),
  createCase: (deployment: Deployment, sets: FieldSet[]) =>
    call<string>("create_case", { deployment, sets }),
  setCaseFields: (id: string, sets: FieldSet[]) => call<CaseView>("set_case_fields", { id, sets }),
  addCaseItem: (id: string, list: string, item: Record<string, unknown>) =>
    call<CaseView>("add_case_item", { id, list, item }),
  assess: (id: string, form: string, input: AssessmentInput) =>
    call<Assessed>("assess", { id, form, input }),
  caseHistory: (id: string, path: string | null = null) =>
    call<HistoryEntry[]>("case_history", { id, path }),

  // health (IDVA only)
  showHealth: (caseId: string) => call<HealthView | null>("show_health", { caseId }),
  addHealthNote: (caseId: string, text: string) =>
    call<HealthView | null>("add_health_note", { caseId, text }),
  setDiscreetContact: (caseId: string, text: string) =>
    call<HealthView | null>("set_discreet_contact", { caseId, text }),

  // shift
  currentShift: () => call<Shift | null>("current_shift"),
  startShift: (input: ShiftInput) => call<Shift>("start_shift", { input }),
  planVisit: (shiftId: string, caseId: string) => call<Shift>("plan_visit", { shiftId, caseId }),
  endShift: (shiftId: string) => call<Handover>("end_shift", { shiftId }),
  handover: (shiftId: string) => call<Handover>("handover", { shiftId }),
  todaysVisits: () => call<CaseSummary[]>("todays_visits"),

  // safeguarding unit (role safeguarding; the audit log also admin)
  triageCase: (input: TriageInput) => call<string>("triage_case", { input }),
  triageQueue: () => call<TriagedCase[]>("triage_queue"),
  handoverQueue: () => call<HandoverItem[]>("handover_queue"),
  markReviewed: (caseId: string) => call<HandoverItem[]>("mark_reviewed", { caseId }),
  maracList: () => call<MaracEntry[]>("marac_list"),
  /** Closed cases leave devices; this fetches those a police reference or the victim's whole
   * name finds on the server (audited there and here). Fails when offline. */
  fetchClosedCases: (query: { reference: string } | { name: string }) =>
    call<FetchReport>("fetch_closed_cases", { reference: "reference" in query ? query.reference : null, name: "name" in query ? query.name : null }),
  /** Computed by the server; `from`/`to` are YYYY-MM-DD, inclusive. Fails when offline. */
  dashboard: (from: string, to: string) => call<Dashboard>("dashboard", { from, to }),
  /** The server's evaluator export, saved to the device's Downloads folder. Audited. */
  exportReport: (from: string, to: string, format: ExportFormat) => call<ExportSaved>("export_report", { from, to, format }),
  /** The server's audit log. */
  auditLog: (query: AuditQuery) => call<AuditRow[]>("audit_log", { query }),

  // retention review (the unit: closed cases; IDVAs: health records). From the server: fails
  // when offline.
  /** The records due for this user's review, oldest closure first. */
  retentionDue: () => call<DueList>("retention_due"),
  /** Retain until a date, or dispose: a dispose ERASES the record on the server and devices. */
  retentionDecide: (request: DecisionRequest) => call<ReviewDecision>("retention_decide", { request }),

  // reference data
  forms: () => call<FormDef[]>("forms"),
  previewAssessment: (form: string, input: AssessmentInput) => call<AssessmentPreview>("preview_assessment", { form, input }),
  directory: () => call<Directory>("directory"),

  // sync
  syncStatus: () => call<SyncStatus>("sync_status"),
  syncNow: () => call<SyncReport>("sync_now"),
  dismissSyncNotices: () => call<SyncStatus>("dismiss_sync_notices"),

  // the pair in the car: pairing with the partner's device and syncing with it, no server
  /** The shift's pairing, the code on show, the partner's address. */
  peerStatus: () => call<PeerStatus>("peer_status"),
  /** Shows this device's pairing code and waits for the partner. */
  peerShowCode: () => call<PeerStatus>("peer_show_code"),
  /** Pairs with the partner whose screen shows `address` and `code`, and syncs with it. */
  peerPair: (address: string, code: string) => call<PeerReport>("peer_pair", { address, code }),
  /** Syncs with the paired partner now (it also happens by itself while paired). */
  peerSyncNow: () => call<PeerReport>("peer_sync_now"),
  /** Ends the pairing (ending the shift does too). */
  peerEnd: () => call<PeerStatus>("peer_end"),

  // drafts kept through the lock, in the encrypted store (the signed-in user's own)
  saveDraft: (input: DraftInput) => call<Draft>("save_draft", { input }),
  listDrafts: () => call<Draft[]>("list_drafts"),
  getDraft: (key: string) => call<Draft | null>("get_draft", { key }),
  discardDraft: (key: string) => call<boolean>("discard_draft", { key }),
};

export type Api = typeof api;

/** The status line as the background sync reports it. */
export function onSyncStatus(f: (s: SyncStatus) => void): Promise<UnlistenFn> {
  return listen<SyncStatus>("sync-status", (e) => f(e.payload));
}

/** The idle lock fired (or the device was revoked): show the lock screen at once. */
export function onLocked(f: () => void): Promise<UnlistenFn> {
  return listen("locked", () => f());
}
