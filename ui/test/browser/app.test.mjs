// Browser tests of the built UI against the fake backend (mockIPC), in Debian's Chromium.
// Every screen is also checked with axe-core (no serious or critical violation) and saved as a
// PNG in test-results/.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { browserEnv, open, unlock, axe, shot, scrollsSideways, openSection, fromMenu, syncNow } from "./harness.mjs";

const env = browserEnv();

async function checkScreen(page, name) {
  await shot(page, name);
  const v = await axe(page);
  assert.deepEqual(v, [], `${name}: accessibility violations ${JSON.stringify(v, null, 1)}`);
  assert.equal(await page.title(), "Provide");
  assert.deepEqual(page.problems, [], `${name}: console errors`);
}

async function openCase(page, name) {
  await openSection(page, "cases");
  await page.getByTestId("case-row").filter({ hasText: name }).click();
  await page.getByTestId("case-screen").waitFor();
}

/** Opens a case section (closed by default), and with `edit` its edit mode. */
async function openCaseSection(page, name, edit = false) {
  await page.getByTestId(`section-${name}-toggle`).click();
  if (edit) await page.getByTestId(`section-${name}-edit`).click();
}

describe("first run and unlock", () => {
  test("enrol: errors in plain words, then the app opens", async () => {
    const page = await open(env, "phase=not_enrolled");
    await page.getByTestId("enrol-form").waitFor();
    await checkScreen(page, "01-enrol");
    await page.getByTestId("enrol-server").fill("https://sync.example.test");
    await page.getByTestId("enrol-code").fill("WRONG");
    await page.getByTestId("enrol-passphrase").fill("short");
    await page.getByTestId("enrol-confirm").fill("short");
    await page.getByTestId("enrol-submit").click();
    await assert.doesNotReject(page.getByTestId("form-error").filter({ hasText: "at least 8" }).waitFor());
    await page.getByTestId("enrol-passphrase").fill("a long passphrase");
    await page.getByTestId("enrol-confirm").fill("a long passphrase");
    await page.getByTestId("enrol-submit").click();
    await page.getByTestId("form-error").filter({ hasText: "did not accept that enrolment code" }).waitFor();
    await shot(page, "01-enrol-error");
    await page.getByTestId("enrol-code").fill("ENROL-1234");
    await page.getByTestId("enrol-submit").click();
    await page.getByTestId("nav-shift").waitFor();
    await page.close();
  });

  test("unlock: wrong passphrase, back-off countdown, then the right one", async () => {
    const page = await open(env, "phase=locked&backoff=2");
    await page.getByTestId("unlock-form").waitFor();
    await checkScreen(page, "02-unlock");
    await page.getByTestId("unlock-passphrase").fill("not it");
    await page.getByTestId("unlock-submit").click();
    await page.getByTestId("unlock-error").filter({ hasText: "not right" }).waitFor();
    await page.getByTestId("unlock-passphrase").fill("still not it");
    await page.getByTestId("unlock-submit").click();
    await page.getByTestId("unlock-countdown").waitFor();
    assert.ok(await page.getByTestId("unlock-submit").isDisabled(), "button disabled during back-off");
    assert.match(await page.getByTestId("unlock-countdown").innerText(), /Try again in \d s/);
    await checkScreen(page, "02-unlock-backoff");
    await page.getByTestId("unlock-countdown").waitFor({ state: "detached", timeout: 5000 });
    assert.ok(await page.getByTestId("unlock-submit").isEnabled());
    await unlock(page);
    await page.close();
  });

  test("several users: the picker chooses who unlocks", async () => {
    const page = await open(env, "phase=locked&users=2&role=idva");
    await page.getByTestId("unlock-user").selectOption("pc.example");
    await unlock(page, "battery staple");
    await page.getByTestId("menu-button").click();
    assert.match(await page.getByTestId("session-user").innerText(), /pc\.example/);
    await page.getByTestId("menu-button").click();
    await page.close();
  });

  test("wiped: explains the data was destroyed and offers enrolment", async () => {
    const page = await open(env, "phase=wiped");
    await page.getByTestId("wiped-notice").waitFor();
    await page.getByTestId("enrol-form").waitFor();
    await checkScreen(page, "03-wiped");
    await page.close();
  });
});

describe("shift", () => {
  test("start a shift, today's visits highest risk first, end with a handover", async () => {
    const page = await open(env, "phase=locked");
    await unlock(page);
    await page.getByTestId("shift-form").waitFor();
    await checkScreen(page, "04-shift-start");
    await page.getByTestId("shift-pattern-early").check();
    await page.getByTestId("shift-callsign").fill("PR01");
    await page.getByTestId("shift-partner").fill("pc.example");
    await page.getByTestId("shift-start").click();
    await page.getByTestId("shift-current").waitFor();
    const levels = await page.getByTestId("todays-visits").getByTestId("risk-badge").evaluateAll((els) => els.map((e) => e.dataset.level));
    assert.deepEqual(levels, ["high", "high", "medium", "standard"]);
    await checkScreen(page, "05-shift");
    // Do something on a case so the handover has content.
    await page.getByTestId("case-row").first().click();
    await openCaseSection(page, "notes");
    await page.getByTestId("note-text").fill("Visited; victim engaged.");
    await page.getByTestId("note-add").click();
    await page.getByTestId("note").filter({ hasText: "Visited; victim engaged." }).waitFor();
    await openSection(page, "shift");
    await page.getByTestId("shift-end").click();
    await page.getByTestId("shift-end-confirm").click();
    await page.getByTestId("handover").waitFor();
    assert.equal(await page.getByTestId("handover-case").count(), 1);
    assert.match(await page.getByTestId("handover-unsynced").innerText(), /1 record not synced/);
    await checkScreen(page, "06-handover");
    await page.close();
  });
});

describe("cases", () => {
  test("create a post-incident case and fill in the victim", async () => {
    const page = await open(env, "phase=locked");
    await unlock(page);
    await openSection(page, "cases");
    await page.getByTestId("case-list").waitFor();
    await checkScreen(page, "07-cases");
    await page.getByTestId("new-case-post_incident").click();
    await checkScreen(page, "08-new-case");
    await page.getByTestId("newcase-reference").fill("LC-20261122-0001");
    await page.getByTestId("newcase-victim-name").fill("Kim Fictional");
    await page.getByTestId("newcase-create").click();
    await page.getByTestId("case-screen").waitFor();
    assert.equal(await page.getByTestId("case-title").innerText(), "Kim Fictional");
    // Edit a field: the contact strip follows.
    await openCaseSection(page, "victim", true);
    await page.getByTestId("field-victim.safe_contact.call_ok").selectOption("no");
    await page.getByTestId("contact-strip").getByTestId("contact-call").filter({ hasText: "Call: NO" }).waitFor();
    await page.getByTestId("field-victim.phone").fill("07700 900123");
    await page.getByTestId("field-victim.phone").press("Tab");
    await page.waitForFunction(() => window.__fake.state.calls.filter((c) => c === "set_case_fields").length >= 2);
    await page.close();
  });

  test("consultation is a quick log: reference and advice only", async () => {
    const page = await open(env, "phase=locked");
    await unlock(page);
    await openSection(page, "cases");
    await page.getByTestId("new-case-consultation").click();
    assert.equal(await page.getByTestId("newcase-victim-name").count(), 0);
    await page.getByTestId("newcase-reference").fill("LC-20261122-0002");
    await page.getByTestId("newcase-advice").fill("Advised a DASH and a referral to the IDVA service.");
    await page.getByTestId("newcase-create").click();
    await page.getByTestId("case-screen").waitFor();
    assert.equal(await page.getByTestId("section-victim").count(), 0);
    assert.equal(await page.getByTestId("section-health").count(), 0);
    await page.getByTestId("note").filter({ hasText: "Advice given" }).waitFor();
    await checkScreen(page, "09-consultation");
    await page.close();
  });

  test("case screen: sections, contact strip, notes", async () => {
    const page = await open(env, "phase=locked");
    await unlock(page);
    await openCase(page, "Jane Fictional");
    const strip = page.getByTestId("contact-strip");
    assert.match(await strip.innerText(), /Call: NO[\s\S]*Text: yes[\s\S]*Voicemail: NO/);
    assert.match(await strip.innerText(), /Weekdays 10:00–12:00/);
    for (const s of ["risk", "victim", "incident", "children", "perpetrator", "consent", "safety-plan", "referrals", "support", "visits", "outcome", "notes", "health"]) {
      assert.equal(await page.getByTestId(`section-${s}`).count(), 1, `section ${s}`);
    }
    await openCaseSection(page, "perpetrator");
    assert.match(await page.getByTestId("custody-status").innerText(), /Not in custody/);
    await openCaseSection(page, "notes");
    await page.getByTestId("note-text").fill("Discussed safety plan; victim agreed to keep the phone charged.");
    await page.getByTestId("note-add").click();
    await page.getByTestId("note").filter({ hasText: "keep the phone charged" }).waitFor();
    await openCaseSection(page, "safety-plan", true);
    await page.getByTestId("safety-plan-text").fill("Keep phone charged");
    await page.getByTestId("safety-plan-add").click();
    await page.getByText("Keep phone charged", { exact: true }).click();
    await openCaseSection(page, "health", true);
    await page.getByTestId("health-note-text").fill("Attends GP on Tuesdays.");
    await page.getByTestId("health-note-add").click();
    await page.getByTestId("health-note").filter({ hasText: "Tuesdays" }).waitFor();
    await checkScreen(page, "10-case");
    await fromMenu(page, "theme-toggle");
    await checkScreen(page, "10-case-dark");
    await page.close();
  });

  test("thousands of cases: paged list, debounced search, filters", async () => {
    const page = await open(env, "phase=locked&many=3000");
    await unlock(page);
    await openSection(page, "cases");
    await page.getByTestId("case-count").filter({ hasText: "3005 cases, showing 50" }).waitFor();
    assert.equal(await page.getByTestId("case-row").count(), 50);
    await page.getByTestId("show-more").click();
    assert.equal(await page.getByTestId("case-row").count(), 100);
    const before = await page.evaluate(() => window.__fake.state.calls.filter((c) => c === "list_cases").length);
    await page.getByTestId("case-search").pressSequentially("Person 2999", { delay: 20 });
    await page.getByTestId("case-count").filter({ hasText: /^1 case$/ }).waitFor();
    const after = await page.evaluate(() => window.__fake.state.calls.filter((c) => c === "list_cases").length);
    assert.ok(after - before <= 2, `search debounced (${after - before} calls for 11 keys)`);
    await page.getByTestId("case-search").fill("");
    await page.getByTestId("filter-risk").selectOption("high");
    await page.getByTestId("case-count").filter({ hasText: /^2 cases$/ }).waitFor();
    await page.close();
  });
});

describe("risk assessment and referrals", () => {
  test("DASH: 14 yes reaches the MARAC threshold, then one tap refers", async () => {
    const page = await open(env, "phase=locked");
    await unlock(page);
    await openCase(page, "Morgan Test");
    await openCaseSection(page, "risk");
    await page.getByTestId("assess-dash").click();
    await page.getByTestId("assess-form").waitFor();
    await checkScreen(page, "11-assess-dash");
    // one theme per step: answer "yes" down the steps until 13, then one more
    const yes = page.locator('[data-testid^="assess-q-"][data-testid$="-yes"]');
    let answered = 0;
    while (answered < 13) {
      const n = await yes.count();
      for (let i = 0; i < n && answered < 13; i++, answered++) await yes.nth(i).check();
      if (answered < 13) await page.getByTestId("assess-next").click();
    }
    await page.getByTestId("assess-score").filter({ hasText: /^13$/ }).waitFor();
    assert.equal(await page.getByTestId("assess-marac-prompt").count(), 0);
    assert.equal(await page.getByTestId("assess-level").getAttribute("data-level"), "medium");
    if ((await page.locator('[data-testid^="assess-q-"][data-testid$="-yes"]:not(:checked)').count()) === 0) await page.getByTestId("assess-next").click();
    await page.locator('[data-testid^="assess-q-"][data-testid$="-yes"]:not(:checked)').first().check();
    await page.getByTestId("assess-score").filter({ hasText: /^14$/ }).waitFor();
    await page.getByTestId("assess-marac-prompt").waitFor();
    assert.equal(await page.getByTestId("assess-level").getAttribute("data-level"), "high");
    await checkScreen(page, "12-assess-marac");
    await page.getByTestId("assess-review").click();
    await page.getByTestId("assess-submit").click();
    // 13 questions unanswered: saving asks first
    await page.getByTestId("assess-confirm").waitFor();
    await page.getByTestId("assess-confirm-save").click();
    await page.getByTestId("assess-result").waitFor();
    assert.match(await page.getByTestId("assess-result-unanswered").innerText(), /13 of 27 questions were unanswered/);
    await page.getByTestId("marac-refer").click();
    await page.getByTestId("marac-referred").waitFor();
    await checkScreen(page, "13-assess-result");
    await page.getByTestId("assess-back").click();
    assert.equal(await page.getByTestId("summary-marac").innerText(), "Threshold met — referral to make");
    await openCaseSection(page, "referrals");
    await page.getByTestId("referral").and(page.locator('[data-kind="marac"]')).waitFor();
    await openCaseSection(page, "risk");
    await page.getByTestId("marac-flag").waitFor();
    await page.close();
  });

  test("DARA needs the officer's level; a raised DASH level needs a reason", async () => {
    const page = await open(env, "phase=locked&role=officer");
    await unlock(page);
    await openCase(page, "Morgan Test");
    await openCaseSection(page, "risk");
    await page.getByTestId("assess-dara").click();
    await page.getByTestId("assess-review").click();
    await page.getByTestId("assess-submit").click();
    await page.getByTestId("form-error").filter({ hasText: "needs the officer's level" }).waitFor();
    assert.equal(await page.getByTestId("assess-confirm").count(), 0, "what is missing is said before anything is asked");
    await page.getByTestId("assess-back-step").click();
    await page.getByTestId("assess-judgement-level").selectOption("high");
    await page.getByTestId("assess-next").click();
    await page.getByTestId("assess-submit").click();
    await page.getByTestId("assess-confirm-save").click();
    await page.getByTestId("assess-result").waitFor();
    // Officers may not refer: the result says who should.
    assert.equal(await page.getByTestId("marac-refer").count(), 0);
    await checkScreen(page, "14-assess-dara-officer");
    await page.close();
  });

  test("directory: search, tap-to-call, refer from a case", async () => {
    const page = await open(env, "phase=locked");
    await unlock(page);
    await openSection(page, "directory");
    await page.getByTestId("service-card").first().waitFor();
    await checkScreen(page, "15-directory");
    const all = await page.getByTestId("service-card").count();
    await page.getByTestId("directory-search").fill("refuge");
    const some = await page.getByTestId("service-card").count();
    assert.ok(some > 0 && some < all, `search narrows (${some} of ${all})`);
    const href = await page.getByTestId("service-call").first().getAttribute("href");
    assert.match(href, /^tel:[\d+]+$/);
    assert.equal(await page.getByTestId("service-refer").count(), 0, "no Refer outside a case");
    await openCase(page, "Sam Sample");
    await openCaseSection(page, "referrals", true);
    await page.getByTestId("referral-directory").click();
    await page.getByTestId("directory-search").fill("refuge");
    await page.getByTestId("service-refer").first().click();
    await page.getByTestId("refer-consent").selectOption("yes");
    await page.getByTestId("refer-submit").click();
    await page.getByTestId("refer-done").waitFor();
    await checkScreen(page, "16-directory-referred");
    await page.close();
  });
});

describe("sync and conflicts", () => {
  test("sync line: offline, then Sync now shows progress and the time", async () => {
    const page = await open(env, "phase=locked");
    await unlock(page);
    const line = page.getByTestId("sync-status");
    assert.equal(await line.getAttribute("data-state"), "offline");
    // quiet: offline with changes waiting is a car's normal state, in a few words
    assert.match(await page.getByTestId("sync-indicator").innerText(), /Offline · 2 waiting/);
    assert.doesNotMatch(await page.getByTestId("sync-indicator").getAttribute("class"), /warn|error/);
    // the plain-words detail is a tap away, without network jargon
    await page.getByTestId("sync-indicator").click();
    assert.match(await page.getByTestId("sync-detail").innerText(), /Offline.*No connection to the sync server\. Changes are kept.*2 changes waiting/s);
    assert.doesNotMatch(await page.getByTestId("sync-detail").innerText(), /route|host|refused|timed out|TLS|DNS/i);
    await page.getByTestId("sync-now").click();
    await page.locator('[data-testid="sync-status"][data-state="synced"]').waitFor();
    assert.match(await line.innerText(), /Synced \d\d:\d\d/);
    // what a sync did on purpose is said in plain words until it is read
    assert.equal(await page.getByTestId("sync-notices").count(), 0);
    await page.evaluate(() => window.__fake.nextNotices(["Record 0a1b2c3d… was erased by the server's administrators and removed from this device, with 1 change(s) made here that had not been sent: the server refuses them. This is recorded."]));
    await syncNow(page);
    await page.getByTestId("sync-notices").waitFor();
    assert.match(await page.getByTestId("sync-notice").innerText(), /erased by the server's administrators.*1 change\(s\) made here/);
    assert.equal(await page.getByTestId("sync-notices").getAttribute("role"), "alert");
    await page.getByTestId("sync-notices-dismiss").click();
    await page.getByTestId("sync-notices").waitFor({ state: "detached" });
    await page.evaluate(() => window.__fake.setSync({ state: { state: "error", code: "server_refused", message: "The server refused this device's changes." }, waiting: 3, last_contact: null, overdue: true, notices: [] }));
    await page.locator('[data-testid="sync-status"][data-state="error"]').waitFor();
    assert.match(await page.getByTestId("sync-indicator").getAttribute("class"), /error/, "a failing sync turns the indicator red");
    if (!(await page.getByTestId("sync-detail").isVisible())) await page.getByTestId("sync-indicator").click();
    assert.match(await page.getByTestId("sync-detail").innerText(), /Sync failed.*refused.*3 changes waiting.*overdue/is);
    await page.close();
  });

  test("a conflict is marked in the list and on the case, and resolved", async () => {
    const page = await open(env, "phase=locked");
    await unlock(page);
    await openSection(page, "cases");
    const row = page.getByTestId("case-row").filter({ hasText: "Ali Example" });
    assert.match(await row.getByTestId("conflict-marker").innerText(), /2 conflicts/);
    await row.click();
    await page.getByTestId("conflicts-banner").waitFor();
    assert.equal(await page.getByTestId("conflict-prominent").count(), 1, "status conflict is prominent");
    await checkScreen(page, "17-conflicts");
    // The field itself is marked; open it and see who wrote what.
    await openCaseSection(page, "victim", true);
    await page.getByTestId("conflict-open-victim.phone").click();
    const resolver = page.locator('[data-testid="conflict-resolver"][data-path="victim.phone"]');
    assert.match(await resolver.innerText(), /07700 900121.*pc\.example \(Police officer\).*07700 900999.*idva\.jones \(Health IDVA\)/s);
    await checkScreen(page, "18-conflict-open");
    await resolver.getByTestId("conflict-choose").nth(1).click();
    await resolver.waitFor({ state: "detached" });
    assert.equal(await page.getByTestId("field-victim.phone").inputValue(), "07700 900999");
    // The status conflict, from the banner: write a new value.
    await page.getByTestId("conflict-banner-open-status").click();
    await page.getByTestId("conflict-resolver").getByTestId("conflict-choose").first().click();
    await page.getByTestId("conflicts-banner").waitFor({ state: "detached" });
    await page.close();
  });
});

describe("roles and locking", () => {
  test("officer: no health notes, no referrals, support read-only", async () => {
    const page = await open(env, "phase=locked&role=officer");
    await unlock(page);
    await openCase(page, "Jane Fictional");
    assert.equal(await page.getByTestId("section-health").count(), 0);
    assert.equal(await page.getByTestId("referral-add").count(), 0);
    await openCaseSection(page, "referrals", true);
    assert.equal(await page.getByTestId("referral-add").count(), 0);
    await page.getByTestId("referral-officer-note").waitFor();
    await openCaseSection(page, "support");
    await page.getByTestId("support-readonly").waitFor();
    assert.equal(await page.getByTestId("field-support.risk_assessment").count(), 0);
    assert.ok(!(await page.evaluate(() => window.__fake.state.calls.includes("show_health"))), "health never asked for");
    await checkScreen(page, "19-case-officer");
    await page.close();
  });

  test("admin: no case content", async () => {
    const page = await open(env, "phase=locked&role=admin");
    await page.getByTestId("unlock-passphrase").fill("correct horse");
    await page.getByTestId("unlock-submit").click();
    await page.getByTestId("admin-notice").waitFor();
    assert.equal(await page.getByTestId("nav-cases").count(), 0);
    await checkScreen(page, "20-admin");
    await page.close();
  });

  test("the locked event clears the screen; activity is reported; sign out forgets the user", async () => {
    const page = await open(env, "phase=locked&users=2");
    await unlock(page);
    await page.keyboard.press("Shift");
    await page.waitForFunction(() => window.__fake.state.touches >= 1);
    await openCase(page, "Jane Fictional");
    await openCaseSection(page, "notes");
    await page.getByTestId("note-text").fill("typed but not saved");
    await page.waitForFunction(() => window.__fake.draftsKept().some((d) => d.key.startsWith("note:")));
    await page.evaluate(() => window.__fake.idleLock());
    await page.getByTestId("unlock-form").waitFor();
    const text = await page.evaluate(() => document.body.innerText);
    assert.ok(!text.includes("Jane Fictional") && !text.includes("typed but not saved"), "nothing of the last screen");
    await unlock(page);
    // After unlocking, the app returns to the same screen with the draft (drafts.test.mjs).
    await page.getByTestId("case-screen").waitFor();
    assert.equal(await page.getByTestId("note-text").inputValue(), "typed but not saved");
    await page.getByTestId("settings-idle").waitFor({ state: "detached" });
    await openSection(page, "settings");
    await page.getByTestId("settings-idle").selectOption("2");
    await page.waitForFunction(() => window.__fake.state.idle === 2);
    // which reference data the device holds (updated from the server)
    await page.getByTestId("settings-directory").waitFor();
    assert.match(await page.getByTestId("settings-directory").innerText(), /Services directory \(Lancashire\): version 1, as shipped with this app/);
    assert.match(await page.getByTestId("settings-forms").innerText(), /DASH version 1/);
    await checkScreen(page, "21-settings");
    await page.getByTestId("lock-button").click();
    await page.getByTestId("unlock-form").waitFor();
    await page.close();
  });
});

describe("how long cases stay on this device", () => {
  test("a handed-over case says when it leaves; Settings: the usual 72 hours, not yet heard from the server", async () => {
    const page = await open(env, "phase=locked");
    await unlock(page);
    await openSection(page, "cases");
    await page.getByTestId("case-list").waitFor();
    assert.equal(await page.getByTestId("case-leaves").count(), 0, "open work says nothing");
    await openCase(page, "Sam Sample");
    await page.getByTestId("field-status").selectOption("handed_over");
    await page.getByTestId("status-confirm").click();
    const onCase = page.getByTestId("case-leaves-device");
    await onCase.waitFor();
    const said = await onCase.innerText();
    assert.match(said, /^Leaves this device about (Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d:\d\d \(handed over; usual 72 h, not yet heard from the server\)$/);
    await openSection(page, "cases");
    const row = page.getByTestId("case-row").filter({ hasText: "Sam Sample" });
    await row.getByTestId("case-leaves").waitFor();
    assert.equal(await row.getByTestId("case-leaves").innerText(), said, "the list says what the case screen said");
    await checkScreen(page, "22-cases-leaving");
    await openSection(page, "settings");
    await page.getByTestId("settings-device").waitFor();
    assert.equal(
      await page.getByTestId("settings-policy").innerText(),
      "Handed-over and closed cases stay 72 hours after hand-over or closing, then leave this device at the next sync.",
    );
    assert.match(await page.getByTestId("settings-policy-source").innerText(), /^Not yet heard from the server/);
    // a sync brings the division's policy
    await syncNow(page);
    await page.getByTestId("sync-status").and(page.locator('[data-state="synced"]')).waitFor();
    await openSection(page, "cases");
    await openSection(page, "settings");
    await page.getByTestId("settings-policy-source").filter({ hasText: "your division's policy" }).waitFor();
    assert.match(await page.getByTestId("settings-policy").innerText(), /stay 72 hours/);
    await checkScreen(page, "23-settings-policy");
    await page.close();
  });

  test("past its time, a closed case leaves at the next sync (a 0 hour policy)", async () => {
    const page = await open(env, "phase=locked&role=officer&policy=0");
    await unlock(page);
    await openCase(page, "Ali Example");
    await page.getByTestId("field-status").selectOption("closed");
    await page.getByTestId("status-confirm").click();
    await page.getByTestId("case-leaves-device").filter({ hasText: "Leaves this device at the next sync (closed; 0 h policy)" }).waitFor();
    await openSection(page, "cases");
    const row = page.getByTestId("case-row").filter({ hasText: "Ali Example" });
    assert.equal(await row.getByTestId("case-leaves").innerText(), "Leaves this device at the next sync (closed; 0 h policy)");
    await openSection(page, "settings");
    assert.equal(await page.getByTestId("settings-policy").innerText(), "Handed-over and closed cases leave this device at the next sync.");
    await page.close();
  });
});

describe("layouts", () => {
  for (const [w, h] of [
    [360, 740],
    [1024, 600],
  ]) {
    test(`${w}x${h}: no horizontal scroll on any screen`, async () => {
      const page = await open(env, "phase=locked&shift=1", { width: w, height: h });
      const check = async (name) => {
        assert.ok(!(await scrollsSideways(page)), `${name} scrolls sideways at ${w}px`);
        await shot(page, `layout-${w}x${h}-${name}`);
      };
      await check("unlock");
      await unlock(page);
      await page.getByTestId("todays-visits").getByTestId("case-row").first().waitFor();
      await check("shift");
      await openSection(page, "cases");
      await page.getByTestId("case-list").waitFor();
      await check("cases");
      await page.getByTestId("case-row").filter({ hasText: "Ali Example" }).click();
      await page.getByTestId("case-screen").waitFor();
      await openCaseSection(page, "victim", true);
      await page.getByTestId("conflict-open-victim.phone").click();
      await check("case");
      await openCaseSection(page, "risk");
      await page.getByTestId("assess-dash").click();
      await page.getByTestId("assess-form").waitFor();
      await check("assess");
      await openSection(page, "directory");
      await page.getByTestId("service-card").first().waitFor();
      await check("directory");
      const a = await axe(page);
      assert.deepEqual(a, []);
      await page.close();
    });
  }
});
