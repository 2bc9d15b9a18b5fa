// The native suite for the safeguarding unit: the real app window (as a detective sergeant of
// the unit) against a real sync server, with the patrol's officer on the `provide` command line.
//
// One story, in order: enrol as the unit; triage an incident for team t1 (a refusal in plain
// words first); it reaches the officer's device; the patrol works it and hands it over; the
// unit sees it in the handover queue and on the MARAC list, reviews it, records a long-term
// action and closes it, and the officer sees that; the dashboard from the server counts it;
// the evaluator export is saved with no name in it; the audit view shows the export; the
// Retention screen opens and lists what the server says is due (nothing: the case closed today).
// Screenshots go where the patrol suite's go.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { sleep } from "./webdriver.mjs";
import * as h from "./harness.mjs";
import { STEP_TIMEOUT } from "./harness.mjs";

const PASS = "quiet harbour lamp native";
const VICTIM = "Rowan Fictional";
const work = mkdtempSync(join(tmpdir(), "provide-native-sg-"));
const serverDir = join(work, "server");
const officerDir = join(work, "officer");
const exportDir = join(work, "exports");

let server;
let app;
let s;
let caseId;

const admin = (...args) => h.admin(serverDir, ...args);
const officer = (...args) => h.cli(officerDir, PASS, ...args);
const shot = (name, css = null) => h.shot(s, name, css);
const choose = (testid, value) => h.choose(s, testid, value);
const today = () => new Date().toISOString().slice(0, 10);

before(async () => {
  mkdirSync(serverDir, { recursive: true });
  mkdirSync(exportDir, { recursive: true });
  process.env.PROVIDE_TEST_SG_CODE = admin("enrol", "--user", "ds.native.fictional", "--role", "safeguarding", "--division", "west");
  const officerCode = admin("enrol", "--user", "pc.native.fictional", "--role", "officer", "--division", "west", "--team", "t1");
  server = await h.startServer(serverDir, "127.0.0.1:0");
  officer("enrol", "--server", server.url, "--code", officerCode);
  app = await h.startApp(join(work, "app"), { PROVIDE_EXPORT_DIR: exportDir });
  s = app.s;
}, { timeout: STEP_TIMEOUT });

after(async () => {
  await h.endApp(app);
  server?.proc.kill("SIGKILL");
  await sleep(300);
  rmSync(work, { recursive: true, force: true });
});

test("enrol as the safeguarding unit: triage is the start, the patrol's shift is not there", { timeout: STEP_TIMEOUT }, async () => {
  await s.type('[data-testid="enrol-server"]', server.url);
  await s.type('[data-testid="enrol-code"]', process.env.PROVIDE_TEST_SG_CODE);
  await s.type('[data-testid="enrol-passphrase"]', PASS);
  await s.type('[data-testid="enrol-confirm"]', PASS);
  await s.click('[data-testid="enrol-submit"]');
  await s.find('[data-testid="triage-form"]', 60_000);
  await h.openMenu(s);
  assert.equal(await s.count('[data-testid="nav-shift"]'), 0);
  assert.equal(await s.count('[data-testid="nav-dashboard"]'), 1);
  await h.closeMenu(s);
});

test("triage an incident for the team; it reaches the officer's device", { timeout: STEP_TIMEOUT }, async () => {
  await s.type('[data-testid="triage-reference"]', "LC-20261122-0777");
  await s.type('[data-testid="triage-victim-name"]', VICTIM);
  await s.click('[data-testid="triage-dara-medium"]');
  await s.click('[data-testid="triage-reason-high_risk"]');
  await s.type('[data-testid="triage-team"]', "t1");
  await s.click('[data-testid="triage-submit"]');
  // high risk is the reason only with a high DARA level: said in plain words, nothing made
  await s.find('[data-testid="triage-error-reason"]');
  await s.click('[data-testid="triage-dara-high"]');
  await s.click('[data-testid="triage-submit"]');
  await s.find('[data-testid="triage-done"]');
  await s.find('[data-testid="triage-row"]');
  caseId = await s.attr('[data-testid="triage-row"]', "data-case-id");
  assert.ok(caseId);
  await shot("10-triage");
  await h.syncNowAndWait(s, "synced");

  officer("sync");
  const view = JSON.parse(officer("case", "show", caseId, "--json"));
  assert.equal(view.record.status, "triaged");
  assert.equal(view.record.team, "t1");
  assert.equal(view.record.triage.reason, "high_risk");
  assert.equal(view.record.triage.visit_date, today());
  assert.equal(view.risk_level, "high");
});

test("the patrol hands it over; the unit reviews it, acts, and closes it", { timeout: STEP_TIMEOUT }, async () => {
  officer("case", "set", caseId, "status=active");
  officer("case", "add", caseId, "visits", JSON.stringify({ outcome: "engaged" }));
  officer("case", "add", caseId, "children", JSON.stringify({ name: "Ash Fictional", age: 5 }));
  officer("case", "set", caseId, "status=handed_over");
  officer("sync");

  await h.syncNowAndWait(s, "synced");
  await h.openSection(s, "marac");
  await s.find(`[data-testid="marac-entry"][data-case-id="${caseId}"]`);
  await shot("12-marac");

  await h.openSection(s, "handover");
  const item = `[data-testid="handover-item"][data-case-id="${caseId}"]`;
  await s.find(item);
  assert.match(await s.text(`${item} [data-testid="handover-outstanding"]`), /children's services/);
  await s.click(`${item} [data-testid="mark-reviewed"]`);
  await s.find(`${item}[data-reviewed="yes"]`);
  await choose("sg-action-kind", "alarm");
  await s.type('[data-testid="sg-action-detail"]', "TecSOS alarm requested");
  await s.click('[data-testid="sg-action-add"]');
  await s.find('[data-testid="sg-action"][data-kind="alarm"]');
  await shot("11-handover");
  await s.click(`${item} [data-testid="close-case"]`);
  await s.click('[data-testid="close-confirm"]');
  await s.gone(item);
  await h.syncNowAndWait(s, "synced");

  officer("sync");
  const view = JSON.parse(officer("case", "show", caseId, "--json"));
  assert.equal(view.record.status, "closed");
  assert.equal(view.record.review.reviewed_by, "ds.native.fictional");
  assert.equal(view.record.safeguarding_actions[0].kind, "alarm");
});

test("the dashboard from the server, the evaluator export, and the audit view", { timeout: STEP_TIMEOUT }, async () => {
  await h.openSection(s, "dashboard");
  await s.click('[data-testid="dash-show"]');
  await s.find('[data-testid="dash-figures"]', 60_000);
  assert.match(await s.text('[data-testid="dash-attendances"]'), /\b1\b/);
  await shot("14-dashboard");

  await s.click('[data-testid="export-csv"]');
  await s.find('[data-testid="export-saved"]', 60_000);
  const files = readdirSync(exportDir);
  assert.equal(files.length, 1, files.join(", "));
  const csv = readFileSync(join(exportDir, files[0]), "utf8");
  assert.equal(csv.trim().split("\n").length, 2, "a header and one attendance");
  assert.ok(csv.startsWith("attendance_id,victim_pseudonym"), csv.slice(0, 80));
  assert.ok(!csv.includes("Rowan") && !csv.includes("Ash Fictional") && !csv.includes(caseId));

  await h.openSection(s, "audit");
  await s.find('[data-testid="audit-row"]', 60_000);
  await s.until("the export in the server's audit log", async () => {
    const text = await s.text('[data-testid="audit-table"]');
    return /export/.test(text);
  });
  await shot("15-audit");
});

test("the Retention screen opens from the header and lists what the server says is due", { timeout: STEP_TIMEOUT }, async () => {
  await h.openSection(s, "retention");
  await s.find('[data-testid="retention-count"]', 60_000);
  // the case closed today is years from its review: the server lists nothing, said plainly
  assert.match(await s.text('[data-testid="retention-count"]'), /^0 records due for review on /);
  await s.find('[data-testid="retention-empty"]');
  assert.equal(await s.count('[data-testid="due-item"]'), 0);
  assert.equal(await s.count('[data-testid="form-error"]'), 0);
  await shot("16-retention");
});
