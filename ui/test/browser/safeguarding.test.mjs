// Browser tests of the safeguarding unit's screens (triage, handover queue, MARAC list and its
// printed agenda, dashboard and export, audit, retention review) and of navigation by role, against the fake
// backend in Debian's Chromium. Each new screen is checked with axe-core and saved as a PNG.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { browserEnv, open, unlock, axe, shot, scrollsSideways, openSection, fromMenu } from "./harness.mjs";

const env = browserEnv();

async function checkScreen(page, name) {
  await shot(page, name);
  const v = await axe(page);
  assert.deepEqual(v, [], `${name}: accessibility violations ${JSON.stringify(v, null, 1)}`);
  assert.equal(await page.title(), "Provide");
  assert.deepEqual(page.problems, [], `${name}: console errors`);
}

async function unit(viewport) {
  const page = await open(env, "phase=locked&role=safeguarding", viewport);
  await unlock(page);
  return page;
}

async function unlockAdmin(page) {
  await page.getByTestId("unlock-passphrase").fill("correct horse");
  await page.getByTestId("unlock-submit").click();
  await page.getByTestId("admin-notice").waitFor();
}

const texts = (loc) => loc.evaluateAll((els) => els.map((e) => e.textContent.trim()));
const UNIT_NAV = ["triage", "handover", "marac", "dashboard", "audit", "retention"];

describe("navigation by role", () => {
  test("the unit sees its sections and starts at Triage, without Shift", async () => {
    const page = await unit();
    await page.getByTestId("triage-form").waitFor();
    for (const n of [...UNIT_NAV, "cases", "directory", "settings"]) assert.equal(await page.getByTestId(`nav-${n}`).count(), 1, `nav-${n}`);
    assert.equal(await page.getByTestId("nav-shift").count(), 0);
    assert.equal(await page.getByTestId("nav-triage").getAttribute("aria-current"), "page");
    assert.ok(!(await page.evaluate(() => window.__fake.state.calls.includes("current_shift"))), "no shift asked for");
    await page.close();
  });

  test("an officer sees none of the unit's navigation, and the commands refuse", async () => {
    const page = await open(env, "phase=locked&role=officer");
    await unlock(page);
    await page.getByTestId("shift-form").waitFor();
    for (const n of ["shift", "cases", "directory", "settings"]) assert.equal(await page.getByTestId(`nav-${n}`).count(), 1, `nav-${n}`);
    for (const n of UNIT_NAV) assert.equal(await page.getByTestId(`nav-${n}`).count(), 0, `no nav-${n}`);
    const codes = await page.evaluate(async () => {
      const inv = window.__TAURI_INTERNALS__.invoke;
      const args = {
        triage_queue: {},
        handover_queue: {},
        marac_list: {},
        mark_reviewed: { caseId: "case-1" },
        dashboard: { from: "2026-01-01", to: "2026-01-31" },
        export_report: { from: "2026-01-01", to: "2026-01-31", format: "csv" },
        audit_log: { query: { user: null, device: null, record: null, action: null, from: null, to: null, limit: null } },
      };
      const out = {};
      for (const [cmd, a] of Object.entries(args)) out[cmd] = await inv(cmd, a).then(() => "ok", (e) => e.code);
      return out;
    });
    for (const [cmd, code] of Object.entries(codes)) assert.equal(code, "forbidden", cmd);
    await page.close();
  });

  test("admin: the audit view with a filter, settings, and no case content", async () => {
    const page = await open(env, "phase=locked&role=admin");
    await unlockAdmin(page);
    assert.deepEqual(
      await page.locator('[data-testid^="nav-"]').evaluateAll((els) => els.map((e) => e.dataset.testid)),
      ["nav-audit", "nav-settings"],
    );
    await page.getByTestId("audit-row").first().waitFor();
    const seqs = await page.getByTestId("audit-row").evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
    assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), "newest first");
    await page.getByTestId("audit-user").fill("pc.example");
    await page.getByTestId("audit-search").click();
    await page.getByTestId("audit-count").filter({ hasText: /^2 entries/ }).waitFor();
    assert.deepEqual(await texts(page.getByTestId("audit-cell-user")), ["pc.example", "pc.example"]);
    await checkScreen(page, "15-audit-admin");
    await page.setViewportSize({ width: 360, height: 740 });
    assert.ok(!(await scrollsSideways(page)), "audit scrolls sideways at 360px");
    await shot(page, "layout-360x740-audit-admin");
    await openSection(page, "settings");
    await page.getByTestId("settings-idle").waitFor();
    const calls = await page.evaluate(() => window.__fake.state.calls);
    for (const c of ["list_cases", "show_case", "triage_queue", "handover_queue", "marac_list", "dashboard"]) assert.ok(!calls.includes(c), `admin never calls ${c}`);
    // the fake refuses admins every unit command but the audit log
    const code = await page.evaluate(() => window.__TAURI_INTERNALS__.invoke("marac_list", {}).then(() => "ok", (e) => e.code));
    assert.equal(code, "forbidden");
    await page.close();
  });
});

describe("how long cases stay on the unit's devices", () => {
  test("handed-over cases stay, closed ones say when they leave; Settings says the unit's policy", async () => {
    const page = await unit();
    await openSection(page, "cases");
    await page.getByTestId("case-list").waitFor();
    const handedOver = page.locator('[data-case-id="sg-erin"]');
    await handedOver.waitFor();
    assert.equal(await handedOver.getByTestId("case-leaves").count(), 0, "a handed-over case stays with the unit");
    const closed = page.locator('[data-case-id="sg-jane-old"]');
    assert.match(await closed.getByTestId("case-leaves").innerText(), /^Leaves this device about .+ \(closed; usual 72 h, not yet heard from the server\)$/);
    await openSection(page, "settings");
    assert.equal(
      await page.getByTestId("settings-policy").innerText(),
      "Handed-over cases stay on this device. Closed cases stay 72 hours after they are closed, then leave at the next sync.",
    );
    await checkScreen(page, "sg-settings-policy");
    await page.close();
  });

  test("an administrator's Settings has no such card: no case is ever on their device", async () => {
    const page = await open(env, "phase=locked&role=admin");
    await unlockAdmin(page);
    await openSection(page, "settings");
    await page.getByTestId("settings-idle").waitFor();
    assert.equal(await page.getByTestId("settings-device").count(), 0);
    await page.close();
  });
});

describe("triage", () => {
  test("a validation error first, then the case joins the queue", async () => {
    const page = await unit();
    await page.getByTestId("triage-row").first().waitFor();
    await checkScreen(page, "10-triage");
    assert.deepEqual(await texts(page.getByTestId("triage-row").locator(".row-name")), ["Taylor Example", "Morgan Test", "Jo Madeup"]);
    assert.equal(await page.getByTestId("triage-visit-date").inputValue(), await page.evaluate(() => {
      const d = new Date();
      return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
    }));
    // nothing typed: what is missing, in plain words
    await page.getByTestId("triage-submit").click();
    await page.getByTestId("form-error").filter({ hasText: "things to put right" }).waitFor();
    assert.match(await page.getByTestId("triage-error-reference").innerText(), /police reference/);
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), "triage-reference", "focus on the first problem");
    await page.getByTestId("triage-reference").fill("LC-20261122-0200");
    await page.getByTestId("triage-occurred").fill("2026-01-10T21:40");
    await page.getByTestId("triage-location").fill("Preston");
    await page.getByTestId("triage-victim-name").fill("Kit Fictional");
    await page.getByTestId("triage-dob").fill("1993-05-20");
    await page.getByTestId("triage-dara-medium").check();
    // high risk with a medium DARA level is refused
    await page.getByTestId("triage-reason-high_risk").check();
    await page.getByTestId("triage-submit").click();
    await page.getByTestId("triage-error-reason").filter({ hasText: "only when the DARA level is high" }).waitFor();
    // a health need must be described
    await page.getByTestId("triage-reason-health_need").check();
    await page.getByTestId("triage-submit").click();
    await page.getByTestId("triage-error-need").filter({ hasText: "health need" }).waitFor();
    assert.match(await page.getByTestId("form-error").innerText(), /One thing to put right/);
    await shot(page, "10-triage-error");
    assert.ok(!(await page.evaluate(() => window.__fake.state.calls.includes("triage_case"))), "nothing sent while the form is wrong");
    await page.getByTestId("triage-need").fill("Pregnant; attends the antenatal clinic");
    await page.getByTestId("triage-priority").fill("1");
    await page.getByTestId("triage-shift-early").check();
    await page.getByTestId("triage-submit").click();
    await page.getByTestId("triage-done").filter({ hasText: "LC-20261122-0200" }).waitFor();
    assert.equal(await page.getByTestId("triage-error-need").count(), 0);
    assert.equal(await page.getByTestId("triage-reference").inputValue(), "", "the form is cleared");
    await page.getByTestId("triage-row").filter({ hasText: "Kit Fictional" }).waitFor();
    // by visit day, priority, then risk: Taylor (today, 1, high), Kit (today, 1, medium), Morgan (today, 3), Jo (tomorrow)
    assert.deepEqual(await texts(page.getByTestId("triage-row").locator(".row-name")), ["Taylor Example", "Kit Fictional", "Morgan Test", "Jo Madeup"]);
    const row = page.getByTestId("triage-row").filter({ hasText: "Kit Fictional" });
    assert.equal(await row.getByTestId("triage-reason").innerText(), "Health need");
    assert.equal(await row.getByTestId("risk-badge").getAttribute("data-level"), "medium");
    const sent = await page.evaluate(() => [...window.__fake.state.cases.values()].find((c) => c.victim.name === "Kit Fictional"));
    assert.equal(sent.status, "triaged");
    assert.equal(sent.victim.dob, "1993-05-20");
    assert.equal(sent.triage.shift, "early");
    // opening the row opens the case, with the triage read-only
    await row.click();
    await page.getByTestId("case-screen").waitFor();
    assert.equal(await page.getByTestId("triage-section-reason").innerText(), "Health need");
    assert.match(await page.getByTestId("triage-section-need").innerText(), /antenatal clinic/);
    assert.equal(await page.getByTestId("section-triage").locator("input, select, textarea").count(), 0, "triage is read-only");
    await checkScreen(page, "16-case-triaged");
    await page.getByTestId("back-to-origin").click();
    await page.getByTestId("triage-form").waitFor();
    await page.close();
  });
});

describe("handover queue", () => {
  test("review, record and tick a long-term action, close: the case leaves the queue", async () => {
    const page = await unit();
    await openSection(page, "handover");
    await page.getByTestId("handover-item").first().waitFor();
    const ids = await page.getByTestId("handover-item").evaluateAll((els) => els.map((e) => e.dataset.caseId));
    assert.deepEqual(ids, ["sg-erin", "sg-dana", "sg-lee"], "highest risk first");
    await checkScreen(page, "11-handover");
    const erin = page.locator('[data-testid="handover-item"][data-case-id="sg-erin"]');
    assert.equal(await erin.getAttribute("data-reviewed"), "no");
    assert.match(await erin.getByTestId("handover-done").innerText(), /1 visit\(s\), 1 engaged/);
    assert.match(await erin.getByTestId("handover-outstanding").innerText(), /referral to make: Children's services/);
    assert.match(await page.getByTestId("handover-count").innerText(), /3 cases handed over, 2 not reviewed/);
    await erin.getByTestId("mark-reviewed").click();
    await page.locator('[data-testid="handover-item"][data-case-id="sg-erin"][data-reviewed="yes"]').waitFor();
    assert.match(await erin.getByTestId("handover-reviewed").innerText(), /Reviewed by ds\.sample/);
    assert.equal(await erin.getByTestId("mark-reviewed").count(), 0);
    // a long-term action
    await erin.getByTestId("sg-action-kind").selectOption("refuge");
    await erin.getByTestId("sg-action-detail").fill("Refuge space offered in another county");
    await erin.getByTestId("sg-action-add").click();
    const action = erin.locator('[data-testid="sg-action"][data-kind="refuge"]');
    await action.waitFor();
    assert.equal(await erin.getByTestId("sg-action-detail").inputValue(), "");
    await action.getByTestId("sg-action-done").check();
    await erin.locator('[data-testid="sg-action"][data-kind="refuge"][data-done="yes"]').waitFor();
    const stored = await page.evaluate(() => window.__fake.state.cases.get("sg-erin").safeguarding_actions);
    assert.deepEqual(stored.map((a) => [a.kind, a.detail, a.done, a.by]), [["refuge", "Refuge space offered in another county", true, "ds.sample"]]);
    // "other" needs a detail
    await erin.getByTestId("sg-action-kind").selectOption("other");
    await erin.getByTestId("sg-action-add").click();
    await erin.getByTestId("sg-action-error").filter({ hasText: "Say what the action is" }).waitFor();
    // close, with a confirm step
    await erin.getByTestId("close-case").click();
    assert.match(await erin.locator(".alert.warn").innerText(), /Close this case\?.*outstanding/s);
    await shot(page, "11-handover-close");
    await erin.getByTestId("close-cancel").click();
    assert.equal(await page.evaluate(() => window.__fake.state.cases.get("sg-erin").status), "handed_over");
    await erin.getByTestId("close-case").click();
    await erin.getByTestId("close-confirm").click();
    await page.getByTestId("handover-closed").waitFor();
    await erin.waitFor({ state: "detached" });
    assert.equal(await page.getByTestId("handover-item").count(), 2);
    assert.equal(await page.evaluate(() => window.__fake.state.cases.get("sg-erin").status), "closed");
    // open a case from the queue: the case screen shows the review and the action
    await page.locator('[data-testid="handover-item"][data-case-id="sg-dana"]').getByTestId("handover-open").click();
    await page.getByTestId("case-screen").waitFor();
    assert.match(await page.getByTestId("case-reviewed").innerText(), /reviewed by ds\.sample/);
    assert.equal(await page.getByTestId("section-safeguarding").getByTestId("sg-action").count(), 1);
    assert.equal(await page.getByTestId("section-safeguarding").getByTestId("sg-action-done").count(), 0, "ticked only in edit mode");
    await page.getByTestId("section-safeguarding-edit").click();
    await page.getByTestId("section-safeguarding").getByTestId("sg-action-done").check();
    await page.waitForFunction(() => window.__fake.state.cases.get("sg-dana").safeguarding_actions[0].done === true);
    await checkScreen(page, "16-case-safeguarding");
    assert.equal(await page.getByTestId("nav-handover").getAttribute("aria-current"), "page");
    await page.getByTestId("back-to-origin").click();
    await page.getByTestId("handover-queue").waitFor();
    await page.close();
  });

  test("an officer sees the unit's actions on a case read-only", async () => {
    const page = await open(env, "phase=locked&role=officer");
    await page.evaluate(() => {
      const c = window.__fake.state.cases.get("case-5");
      c.safeguarding_actions.push({ id: "sa-x", kind: "alarm", detail: "Police alarm fitted", done: true, at: new Date().toISOString(), by: "ds.sample" });
    });
    await unlock(page);
    await openSection(page, "cases");
    await page.getByTestId("case-row").filter({ hasText: "Morgan Test" }).click();
    await page.getByTestId("section-triage").waitFor();
    assert.match(await page.getByTestId("triage-section-need").innerText(), /Lives alone/);
    const sg = page.getByTestId("section-safeguarding");
    await page.getByTestId("section-safeguarding-toggle").click();
    assert.equal(await page.getByTestId("section-safeguarding-edit").count(), 0, "the unit's section: no Edit for an officer");
    assert.match(await sg.getByTestId("sg-action").innerText(), /Police alarm: Police alarm fitted — done/);
    assert.equal(await sg.getByTestId("sg-action-add").count(), 0);
    assert.equal(await sg.getByTestId("sg-action-done").count(), 0);
    await page.close();
  });
});

describe("MARAC", () => {
  test("the day's list and a printed agenda with only what the meeting needs", async () => {
    const page = await unit();
    await openSection(page, "marac");
    await page.getByTestId("marac-entry").first().waitFor();
    const erin = page.locator('[data-testid="marac-entry"][data-case-id="sg-erin"]');
    assert.match(await erin.getByTestId("marac-grounds").innerText(), /16 "yes" answers on dash \(14 or more\); referred to MARAC/);
    assert.equal(await erin.getByTestId("marac-dash").innerText(), "16");
    assert.match(await erin.getByTestId("marac-referred-at").innerText(), /by idva\.jones/);
    assert.match(await erin.innerText(), /Casey Madeup, in custody/);
    assert.match(await erin.innerText(), /2 children, aged 4, not known/);
    assert.equal(await page.locator('[data-testid="marac-entry"][data-case-id="sg-jane-old"]').count(), 0, "closed cases are not listed");
    const levels = await page.getByTestId("marac-entry").getByTestId("risk-badge").evaluateAll((els) => els.map((e) => e.dataset.level));
    assert.equal(levels[0], "high");
    await checkScreen(page, "12-marac");
    // Print agenda calls the browser's print
    await page.evaluate(() => {
      window.__printed = 0;
      window.print = () => window.__printed++;
    });
    await page.getByTestId("marac-print").click();
    assert.equal(await page.evaluate(() => window.__printed), 1);
    // printed: only the agenda
    await page.emulateMedia({ media: "print" });
    for (const id of ["session-user", "nav-marac", "sync-status", "marac-print", "lock-button"]) assert.ok(!(await page.getByTestId(id).isVisible()), `${id} is not printed`);
    assert.ok(!(await page.locator("header").isVisible()), "the header is not printed");
    assert.ok(!(await page.locator("nav").isVisible()), "the navigation is not printed");
    assert.ok(!(await page.getByTestId("marac-open").first().isVisible()), "no buttons printed");
    assert.ok(await page.getByTestId("marac-agenda").isVisible());
    const printed = await page.evaluate(() => document.body.innerText);
    assert.match(printed, /MARAC agenda/);
    for (const must of ["Erin Fictional", "LC-20261120-0555", "14 Mar 1991", "Casey Madeup", "Jane Fictional"]) assert.ok(printed.includes(must), `agenda holds ${must}`);
    const fixtures = await page.evaluate(() =>
      [...window.__fake.state.cases.values()].flatMap((c) => [c.victim.address, c.victim.phone, c.victim.safe_contact.safe_times, c.victim.safe_contact.notes, ...c.notes.map((n) => n.text), ...c.visits.map((v) => v.notes), c.triage.notes, c.perpetrator.bail_conditions].filter(Boolean)),
    );
    assert.ok(fixtures.length > 10);
    for (const f of fixtures) assert.ok(!printed.includes(f), `the agenda must not hold "${f}"`);
    for (const word of ["Madeup Road", "Example Street", "07700", "Key safe", "GP appointment", "Triage", "Sync"]) assert.ok(!printed.includes(word), `no "${word}" in print`);
    await shot(page, "13-marac-print");
    const v = await axe(page);
    assert.deepEqual(v, [], `print: ${JSON.stringify(v)}`);
    await page.emulateMedia({ media: "screen" });
    assert.ok(await page.getByTestId("marac-print").isVisible());
    // open a case from the list; back returns to the list
    await erin.getByTestId("marac-open").click();
    await page.getByTestId("case-screen").waitFor();
    await page.getByTestId("back-to-origin").click();
    await page.getByTestId("marac-list").waitFor();
    assert.deepEqual(page.problems, []);
    await page.close();
  });
});

describe("dashboard", () => {
  test("the figures shown match the fake's data; export says where it was saved", async () => {
    const page = await unit();
    await openSection(page, "dashboard");
    await page.getByTestId("dash-figures").waitFor();
    const from = await page.getByTestId("dash-from").inputValue();
    const to = await page.getByTestId("dash-to").inputValue();
    assert.equal((Date.parse(to) - Date.parse(from)) / 86400_000, 27, "the last 28 days by default");
    const d = await page.evaluate(([f, t]) => window.__fake.dashboard(f, t), [from, to]);
    // sanity of the fake: 8 attended cases (triaged ones are not attendances), Jane twice
    assert.equal(d.attendances, 8);
    assert.equal(d.repeat_victims, 1);
    assert.equal(await page.getByTestId("dash-attendances").innerText(), String(d.attendances));
    assert.equal(await page.getByTestId("dash-victims").innerText(), String(d.victims));
    assert.equal(await page.getByTestId("dash-repeat").innerText(), String(d.repeat_victims));
    for (const [chart, list] of [
      ["chart-deployment", d.by_deployment],
      ["chart-risk", d.by_risk],
      ["chart-referrals", d.referrals_by_kind],
    ]) {
      for (const c of list) {
        const count = await page.getByTestId(chart).locator(`[data-testid="bar"][data-key="${c.key}"]`).getByTestId("bar-count").innerText();
        assert.equal(count, String(c.count), `${chart} ${c.key}`);
      }
    }
    // the longest bar is full length
    const widths = await page.getByTestId("chart-risk").locator("rect").evaluateAll((els) => els.map((e) => Number(e.getAttribute("width"))));
    assert.equal(Math.max(...widths), 100);
    for (const [id, s] of [
      ["share-engaged-safeguarding", d.engaged_safeguarding],
      ["share-previous-safeguarding", d.previously_engaged_safeguarding],
      ["share-engaged-investigation", d.engaged_investigation],
      ["share-previous-investigation", d.previously_engaged_investigation],
      ["share-self-repeat", d.self_reported_repeat],
    ]) {
      // shares of attendances, as the programme evaluates them: unknowns are their own share
      const all = s.yes + s.no + s.unknown;
      const pc = (n) => `${Math.round((100 * n) / all)}%`;
      assert.equal(await page.getByTestId(id).getByTestId("share-percent").innerText(), all ? pc(s.yes) : "No attendances", id);
      if (all) assert.equal(await page.getByTestId(id).getByTestId("share-split").innerText(), `${pc(s.yes)} yes · ${pc(s.no)} no · ${pc(s.unknown)} not known`, id);
      assert.equal(await page.getByTestId(id).getByTestId("share-of").innerText(), `${s.yes} of ${all} attendance${all === 1 ? "" : "s"}`, id);
    }
    assert.ok(d.first_idva_contact);
    assert.equal(await page.getByTestId("hours-count").innerText(), String(d.first_idva_contact.count));
    assert.match(await page.getByTestId("hours-median").innerText(), /^\d+(\.\d)? (h|min|days)$/);
    await checkScreen(page, "14-dashboard");
    await fromMenu(page, "theme-toggle");
    await checkScreen(page, "14-dashboard-dark");
    await fromMenu(page, "theme-toggle");
    // a period the wrong way round
    await page.getByTestId("dash-from").fill("2026-12-01");
    await page.getByTestId("dash-to").fill("2026-11-01");
    await page.getByTestId("dash-show").click();
    await page.getByTestId("form-error").filter({ hasText: "must not be after" }).waitFor();
    await page.getByTestId("dash-from").fill(from);
    await page.getByTestId("dash-to").fill(to);
    await page.getByTestId("dash-show").click();
    await page.getByTestId("form-error").waitFor({ state: "detached" });
    // export
    assert.match(await page.getByTestId("export-note").innerText(), /no names, addresses, phone numbers, dates of birth or free text/);
    assert.match(await page.getByTestId("export-note").innerText(), /audit/);
    await page.getByTestId("export-csv").click();
    await page.getByTestId("export-saved").waitFor();
    const saved = await page.getByTestId("export-saved").innerText();
    assert.match(saved, /Saved CSV \(\d+(\.\d)? kB\) to \/home\/provide\/Downloads\/provide-central-.*\.csv/);
    await page.getByTestId("export-json").click();
    await page.getByTestId("export-saved").filter({ hasText: ".json" }).waitFor();
    assert.equal(await page.evaluate(() => window.__fake.state.exports), 2);
    // every export is audited: the unit's audit view shows them
    await openSection(page, "audit");
    await page.getByTestId("audit-action").fill("export");
    await page.getByTestId("audit-search").click();
    await page.getByTestId("audit-count").filter({ hasText: /^2 entries/ }).waitFor();
    assert.match(await page.getByTestId("audit-row").first().innerText(), /evaluator export \(json\)/);
    await checkScreen(page, "15-audit");
    // offline: the server's figures cannot be had, said plainly
    await page.evaluate(() => (window.__fake.state.online = false));
    await openSection(page, "dashboard");
    await page.getByTestId("form-error").filter({ hasText: "cannot reach it now" }).waitFor();
    assert.equal(await page.getByTestId("dash-figures").count(), 0);
    await page.getByTestId("export-csv").click();
    await page.getByTestId("export-error").filter({ hasText: "cannot reach" }).waitFor();
    await page.close();
  });
});

describe("closed cases fetched from the server", () => {
  test("the unit finds a closed case by reference or whole name, and the search is recorded", async () => {
    const page = await unit();
    await openSection(page, "cases");
    await page.getByTestId("case-list").waitFor();
    await page.getByTestId("case-search").fill("Longclosed");
    await page.getByTestId("case-count").filter({ hasText: "0 cases" }).waitFor();
    // part of a name finds nothing on the server either
    await page.getByTestId("fetch-by-name").check();
    await page.getByTestId("fetch-text").fill("Rosa");
    await page.getByTestId("fetch-submit").click();
    await page.getByTestId("fetch-result").filter({ hasText: "No closed case found" }).waitFor();
    // by the police reference, spacing and case as typed
    await page.getByTestId("fetch-by-reference").check();
    await page.getByTestId("fetch-text").fill(" lc-20250101-0001 ");
    await page.getByTestId("fetch-submit").click();
    await page.getByTestId("fetch-result").filter({ hasText: "1 closed case fetched" }).waitFor();
    await page.getByTestId("case-list").getByText("Rosa Longclosed").waitFor();
    const audited = await page.evaluate(() => window.__fake.state.audit.some((r) => r.record === "case-archived-1" && r.action === "view"));
    assert.ok(audited, "the fetch is audited");
    await checkScreen(page, "cases-fetch-closed");
    // offline: said plainly
    await page.evaluate(() => (window.__fake.state.online = false));
    await page.getByTestId("fetch-submit").click();
    await page.getByTestId("fetch-error").filter({ hasText: "cannot reach" }).waitFor();
    await page.close();
  });

  test("patrol devices are not offered the server search", async () => {
    const page = await open(env, "phase=locked&role=officer");
    await unlock(page);
    await openSection(page, "cases");
    await page.getByTestId("case-list").waitFor();
    assert.equal(await page.getByTestId("fetch-closed").count(), 0);
    await page.close();
  });
});

describe("retention review", () => {
  const called = (page, cmd) => page.evaluate((c) => window.__fake.state.calls.filter((x) => x === c).length, cmd);
  const localDay = (n) => {
    const d = new Date();
    d.setDate(d.getDate() + n);
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  };

  test("the unit sees its closed cases due, without names, and retains one until a future date only", async () => {
    const page = await unit();
    await openSection(page, "retention");
    await page.getByTestId("retention-count").filter({ hasText: "3 records due" }).waitFor();
    const items = page.getByTestId("due-item");
    assert.equal(await items.count(), 3);
    const records = await items.evaluateAll((els) => els.map((e) => e.dataset.record));
    assert.ok(records.every((r) => !r.endsWith(".health")), "cases only for the unit");
    const first = items.first();
    assert.match(await first.locator("h2").textContent(), new RegExp(`${records[0].slice(0, 8)}\\s+Case`));
    assert.equal(await first.getByTestId("due-class").textContent(), "Police case");
    assert.ok(!(await page.textContent("main")).includes(records[0].slice(9)), "the id is shortened");
    await checkScreen(page, "retention-unit");

    // retain: the form opens with the focus in the date; a past date is refused here
    await first.getByTestId("retain-open").click();
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), "retain-until");
    await first.getByTestId("retain-until").fill(localDay(-1));
    await first.getByTestId("retain-reason").fill("Linked prosecution still open at court (fictional)");
    await first.getByTestId("retain-submit").click();
    await first.getByTestId("decide-error").filter({ hasText: "must be in the future" }).waitFor();
    // today is not in the future either, and no reason is no decision
    await first.getByTestId("retain-until").fill(localDay(0));
    await first.getByTestId("retain-submit").click();
    await first.getByTestId("decide-error").filter({ hasText: "must be in the future" }).waitFor();
    await first.getByTestId("retain-until").fill(localDay(400));
    await first.getByTestId("retain-reason").fill("  ");
    await first.getByTestId("retain-submit").click();
    await first.getByTestId("decide-error").filter({ hasText: "reason" }).waitFor();
    assert.equal(await called(page, "retention_decide"), 0, "nothing was sent");
    await checkScreen(page, "retention-retain-form");
    await first.getByTestId("retain-reason").fill("Linked prosecution still open at court (fictional)");
    await first.getByTestId("retain-submit").click();
    await page.getByTestId("retention-done").filter({ hasText: `${records[0].slice(0, 8)} is retained until` }).waitFor();
    await page.getByTestId("retention-count").filter({ hasText: "2 records due" }).waitFor();
    const decisions = await page.evaluate(() => window.__fake.state.decisions);
    assert.deepEqual(decisions, [{ record: records[0], decision: "retain", retain_until: localDay(400), reason: "Linked prosecution still open at court (fictional)" }]);
    assert.equal(await page.evaluate(() => document.activeElement?.tagName), "H1", "the focus returns to the heading");
    await page.close();
  });

  test("dispose says what is erased and needs the explicit confirmation", async () => {
    const page = await unit({ width: 360, height: 740 });
    await openSection(page, "retention");
    const first = page.getByTestId("due-item").first();
    await first.waitFor();
    const record = await first.getAttribute("data-record");
    await first.getByTestId("dispose-open").click();
    assert.equal(
      await first.getByTestId("dispose-warning").textContent(),
      "This erases the case and its health record from the server and every device. It cannot be undone.",
    );
    await first.getByTestId("dispose-reason").fill("Review period passed; no further police interest (fictional)");
    await first.getByTestId("dispose-submit").click();
    await first.getByTestId("decide-error").filter({ hasText: "Tick the box" }).waitFor();
    assert.equal(await called(page, "retention_decide"), 0, "nothing was sent without the confirmation");
    assert.ok(!(await scrollsSideways(page)), "dispose form scrolls sideways at 360px");
    await checkScreen(page, "retention-dispose-confirm-360");
    // cancel closes the form and returns the focus to its button; nothing is decided
    await first.getByTestId("decide-cancel").click();
    assert.equal(await first.getByTestId("dispose-form").count(), 0);
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), "dispose-open");
    // by keyboard: open, reason, tick, erase
    await page.keyboard.press("Enter");
    await page.keyboard.type("Review period passed; no further police interest (fictional)");
    await first.getByTestId("dispose-confirm").focus();
    await page.keyboard.press("Space");
    await first.getByTestId("dispose-submit").focus();
    await page.keyboard.press("Enter");
    await page.getByTestId("retention-done").filter({ hasText: `${record.slice(0, 8)} is erased with its health record` }).waitFor();
    await page.getByTestId("retention-count").filter({ hasText: "2 records due" }).waitFor();
    assert.equal(await page.locator(`[data-record="${record}"]`).count(), 0);
    const audited = await page.evaluate((r) => window.__fake.state.audit.filter((a) => a.action === "retention_review" && a.record === r).map((a) => a.detail), record);
    assert.equal(audited.length, 1);
    assert.match(audited[0], /^dispose; class police_case/);
    await page.close();
  });

  test("an IDVA reviews health records; officers have no Retention screen and are refused", async () => {
    const page = await open(env, "phase=locked&role=idva");
    await unlock(page);
    await openSection(page, "retention");
    await page.getByTestId("retention-count").filter({ hasText: "2 records due" }).waitFor();
    const kinds = await page.getByTestId("due-item").evaluateAll((els) => els.map((e) => e.dataset.record.endsWith(".health")));
    assert.deepEqual(kinds, [true, true]);
    const first = page.getByTestId("due-item").first();
    await first.getByTestId("dispose-open").click();
    assert.match(await first.getByTestId("dispose-warning").textContent(), /erases the health record .* The case stays\. It cannot be undone\./);
    await checkScreen(page, "retention-idva");
    // offline: said plainly
    await page.evaluate(() => (window.__fake.state.online = false));
    await first.getByTestId("dispose-reason").fill("No longer needed (fictional)");
    await first.getByTestId("dispose-confirm").check();
    await first.getByTestId("dispose-submit").click();
    await first.getByTestId("decide-error").filter({ hasText: "cannot reach" }).waitFor();
    await page.close();

    const officer = await open(env, "phase=locked&role=officer");
    await unlock(officer);
    await officer.getByTestId("shift-form").waitFor();
    assert.equal(await officer.getByTestId("nav-retention").count(), 0);
    const codes = await officer.evaluate(async () => {
      const inv = window.__TAURI_INTERNALS__.invoke;
      const request = { record: "3f2a9c10-7d1e-4b6a-9c2f-000000000000", decision: "dispose", retain_until: null, reason: "x" };
      return [await inv("retention_due", {}).then(() => "ok", (e) => e.code), await inv("retention_decide", { request }).then(() => "ok", (e) => e.code)];
    });
    assert.deepEqual(codes, ["forbidden", "forbidden"]);
    await officer.close();
  });

  test("nothing due is said plainly", async () => {
    const page = await open(env, "phase=locked&role=safeguarding&due=0");
    await unlock(page);
    await openSection(page, "retention");
    await page.getByTestId("retention-empty").waitFor();
    assert.equal(await page.getByTestId("due-item").count(), 0);
    await page.close();
  });
});

describe("layouts of the unit's screens", () => {
  for (const [w, h] of [
    [360, 740],
    [1024, 600],
  ]) {
    test(`${w}x${h}: no horizontal scroll, no accessibility violation`, async () => {
      const page = await unit({ width: w, height: h });
      const screens = [
        ["triage", "triage-row"],
        ["handover", "handover-item"],
        ["marac", "marac-entry"],
        ["dashboard", "dash-figures"],
        ["audit", "audit-row"],
        ["retention", "due-item"],
      ];
      for (const [name, ready] of screens) {
        await openSection(page, name);
        await page.getByTestId(ready).first().waitFor();
        assert.ok(!(await scrollsSideways(page)), `${name} scrolls sideways at ${w}px`);
        await shot(page, `layout-${w}x${h}-${name}`);
        const v = await axe(page);
        assert.deepEqual(v, [], `${name} at ${w}px: ${JSON.stringify(v)}`);
      }
      assert.deepEqual(page.problems, []);
      await page.close();
    });
  }
});
