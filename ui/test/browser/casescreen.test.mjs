// Browser tests of the case screen (issue 17, items 1 and 3), at a 360x740 phone and a 1024x600
// tablet, by day and at night: the summary and the contact slot measured inside the first
// screen (with and without conflicts); sections closed until opened and read-only until "Edit";
// the status changed only through a confirmation naming it; the action bar's "Record visit"
// sheet (outcome, engagement answers and a note) counted in taps, with no scrolling; the
// "Add note" sheet; the roles. axe-core on the summary, a section in edit mode and the sheets.
// The header with the sync indicator is at most 64 px (item 6, chrome.test.mjs): the measures
// below are exact, nothing is subtracted.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { browserEnv, open, unlock, openSection, fromMenu, clean } from "./harness.mjs";

const SIZES = [
  { name: "phone", width: 360, height: 740 },
  { name: "tablet", width: 1024, height: 600 },
];
const THEMES = ["light", "dark"];
const CHROME = 64;
const table = [];

const env = browserEnv();
after(() => {
  if (table.length) {
    console.log("\n# visit outcome with a note (engagement asked on the same sheet)");
    console.log("| size | taps | screens scrolled |");
    console.log("|---|---|---|");
    for (const r of table) console.log(`| ${r.size} | ${r.taps} | ${r.screens} |`);
  }
});

async function setTheme(page, want) {
  const now = await page.evaluate(() => document.documentElement.dataset.theme ?? "light");
  if (now !== want) await fromMenu(page, "theme-toggle");
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), want);
}

async function start(size, theme, query = "") {
  const page = await open(env, `phase=locked${query}`, { width: size.width, height: size.height });
  await unlock(page);
  await setTheme(page, theme);
  return page;
}

async function openCase(page, name) {
  await openSection(page, "cases");
  await page.getByTestId("case-row").filter({ hasText: name }).click();
  await page.getByTestId("case-screen").waitFor();
  assert.equal(await page.evaluate(() => window.scrollY), 0, "a case opens at the top");
}

/** The chrome above the page beyond the 64 px budget: there must be none. */
async function excessChrome(page) {
  const top = await page.evaluate(() => document.querySelector("main").getBoundingClientRect().top);
  assert.ok(top <= CHROME, `the header and sync indicator take ${Math.round(top)} px, over ${CHROME}`);
  return 0;
}

async function box(page, testid) {
  const b = await page.getByTestId(testid).first().boundingBox();
  assert.ok(b, `${testid} is shown`);
  return b;
}

/** Fails unless `testid` lies wholly in the first screen, above the action bar. */
async function inFirstScreen(page, testid, excess) {
  const b = await box(page, testid);
  const bar = await box(page, "case-actions");
  const vh = await page.evaluate(() => window.innerHeight);
  assert.ok(bar.y + bar.height <= vh + 0.5 && bar.y > 0, "the action bar sits at the bottom of the screen");
  assert.ok(b.y >= 0, `${testid} starts on screen (y=${b.y})`);
  assert.ok(b.y + b.height - excess <= bar.y + 0.5, `${testid} ends at ${Math.round(b.y + b.height - excess)} px (after ${Math.round(excess)} px of chrome over budget), the action bar starts at ${Math.round(bar.y)}`);
}

describe("the case opens on a summary that fits one screen", () => {
  for (const size of SIZES) {
    for (const theme of THEMES) {
      test(`${size.width}x${size.height}, ${theme}: without and with conflicts`, async () => {
        const page = await start(size, theme);
        for (const [name, conflicts] of [["Jane Fictional", false], ["Ali Example", true]]) {
          await openCase(page, name);
          const excess = await excessChrome(page);
          for (const t of ["contact-slot", "case-title", "case-summary", "back-to-cases", "field-status"]) await inFirstScreen(page, t, excess);
          assert.equal(await page.getByTestId("contact-slot").getByTestId("contact-strip").count(), 1, "the contact strip is in its slot");
          if (conflicts) {
            assert.match(await page.getByTestId("summary-conflicts").innerText(), /^⚠ 2 fields differ between devices: Case status, Phone/);
            await inFirstScreen(page, "summary-resolve", excess);
          } else {
            assert.equal(await page.getByTestId("summary-conflicts").count(), 0);
          }
          // every section closed: nothing editable on the page but the status
          assert.equal(await page.locator('[data-testid^="section-"][data-open="yes"]').count(), 0, "sections start closed");
          assert.equal(await page.getByTestId("case-screen").locator("input, textarea").count(), 0, "nothing editable before Edit");
          const doc = await page.evaluate(() => document.documentElement.scrollHeight);
          const room = (await box(page, "case-actions")).y - ((await box(page, "case-summary")).y + (await box(page, "case-summary")).height - excess);
          console.log(`# ${size.width}x${size.height} ${theme} ${name}: chrome over budget ${Math.round(excess)} px; ${Math.round(room)} px to spare above the action bar; page ${(doc / size.height).toFixed(1)} screens`);
          await clean(page, `cs-summary-${size.name}-${theme}-${conflicts ? "conflicts" : "plain"}`);
        }
        // the summary's Resolve goes to the conflicts
        await page.getByTestId("summary-resolve").click();
        assert.equal(await page.evaluate(() => document.activeElement?.id), "case-conflicts");
        await page.getByTestId("conflicts-banner").waitFor();
        await page.close();
      });
    }
  }

  test("the summary says custody and bail, children, last visit, open actions, MARAC", async () => {
    const page = await start(SIZES[0], "light");
    await openCase(page, "Jane Fictional");
    assert.equal(await page.getByTestId("summary-custody").innerText(), "Not in custody — bail: Not to contact the victim");
    assert.equal(await page.getByTestId("summary-children").innerText(), "1 — age 6");
    assert.equal(await page.getByTestId("summary-last-visit").innerText(), "Not visited yet");
    assert.equal(await page.getByTestId("summary-actions").innerText(), "Nothing open");
    assert.equal(await page.getByTestId("summary-marac").innerText(), "Threshold met — not referred");
    assert.equal(await page.getByTestId("risk-badge").first().getAttribute("data-level"), "high");
    await openCase(page, "Sam Sample");
    assert.equal(await page.getByTestId("summary-marac").innerText(), "Threshold not met");
    assert.equal(await page.getByTestId("summary-custody").innerText(), "Not known");
    await page.close();
  });
});

describe("sections: open for detail, edit on purpose", () => {
  for (const theme of THEMES) {
    test(`a section opens read-only, Edit brings the editors, Done leaves (${theme})`, async () => {
      const page = await start(SIZES[0], theme);
      await openCase(page, "Jane Fictional");
      const victim = page.getByTestId("section-victim");
      const toggle = page.getByTestId("section-victim-toggle");
      assert.equal(await toggle.getAttribute("aria-expanded"), "false");
      await toggle.click();
      assert.equal(await toggle.getAttribute("aria-expanded"), "true");
      assert.equal(await victim.locator("input, select, textarea").count(), 0, "read-only until Edit");
      assert.equal(await page.getByTestId("field-victim.safe_contact.call_ok-value").innerText(), "No — NOT safe");
      assert.equal(await page.getByTestId("field-victim.phone-value").innerText(), "07700 900120");
      await page.getByTestId("section-victim-edit").click();
      assert.match(await page.getByTestId("section-victim-edit").innerText(), /^Done/);
      assert.equal(await page.getByTestId("section-victim").getAttribute("data-editing"), "yes");
      await page.getByTestId("field-victim.phone").fill("07700 900555");
      await page.getByTestId("field-victim.phone").press("Tab");
      await page.waitForFunction(() => window.__fake.state.cases.get("case-1").victim.phone === "07700 900555");
      await clean(page, `cs-section-edit-${theme}`);
      // at the foot of a long section, "Done" is still on screen
      await page.getByTestId("field-victim.pregnant").scrollIntoViewIfNeeded();
      assert.ok((await page.evaluate(() => window.scrollY)) > 0);
      const done = await box(page, "section-victim-edit");
      assert.ok(done.y >= 0 && done.y + done.height <= SIZES[0].height, `Done on screen (y=${Math.round(done.y)})`);
      await page.getByTestId("section-victim-edit").click();
      assert.equal(await victim.locator("input, select, textarea").count(), 0, "Done: read-only again");
      assert.equal(await page.getByTestId("field-victim.phone-value").innerText(), "07700 900555");
      // closing a section leaves edit mode
      await page.getByTestId("section-safety-plan-toggle").click();
      assert.equal(await page.getByTestId("safety-plan-add").count(), 0, "adding is part of editing");
      await page.getByTestId("section-safety-plan-edit").click();
      await page.getByTestId("safety-plan-text").fill("Keep phone charged");
      await page.getByTestId("safety-plan-add").click();
      await page.getByText("Keep phone charged", { exact: true }).click();
      await page.waitForFunction(() => window.__fake.state.cases.get("case-1").safety_plan[0]?.done === true);
      await page.getByTestId("section-safety-plan-toggle").click();
      await page.getByTestId("section-safety-plan-toggle").click();
      assert.equal(await page.getByTestId("section-safety-plan").getAttribute("data-editing"), "no");
      assert.match(await page.getByTestId("section-safety-plan").innerText(), /Keep phone charged \(done\)/);
      await page.close();
    });
  }
});

describe("the status changes only with a confirmation naming it", () => {
  test("cancel leaves it; confirm saves it", async () => {
    const page = await start(SIZES[0], "light");
    await openCase(page, "Sam Sample");
    const status = () => page.evaluate(() => window.__fake.state.cases.get("case-3").status);
    await page.getByTestId("field-status").selectOption("closed");
    await page.getByTestId("status-confirm-dialog").waitFor();
    assert.equal(await page.getByTestId("status-question").innerText(), "Close this case? Status becomes: closed");
    assert.equal(await status(), "active", "the change of the select saved nothing");
    await clean(page, "cs-status-confirm");
    await page.getByTestId("status-cancel").click();
    await page.getByTestId("status-confirm-dialog").waitFor({ state: "detached" });
    assert.equal(await page.getByTestId("field-status").inputValue(), "active", "cancel puts the select back");
    assert.equal(await status(), "active");
    // Escape is a cancel too
    await page.getByTestId("field-status").selectOption("handed_over");
    assert.equal(await page.getByTestId("status-question").innerText(), "Hand this case over? Status becomes: handed over");
    await page.keyboard.press("Escape");
    await page.getByTestId("status-confirm-dialog").waitFor({ state: "detached" });
    assert.equal(await page.getByTestId("field-status").inputValue(), "active");
    assert.equal(await status(), "active");
    await page.getByTestId("field-status").selectOption("closed");
    await page.getByTestId("status-confirm").click();
    await page.getByTestId("status-confirm-dialog").waitFor({ state: "detached" });
    await page.waitForFunction(() => window.__fake.state.cases.get("case-3").status === "closed");
    assert.equal(await page.getByTestId("field-status").inputValue(), "closed");
    await page.getByTestId("case-leaves-device").waitFor();
    await page.close();
  });
});

describe("actions in reach", () => {
  for (const size of SIZES) {
    test(`${size.width}x${size.height}: a visit outcome with a note in at most 4 taps, no scrolling`, async () => {
      const page = await start(size, "light");
      await openCase(page, "Jane Fictional");
      const before = await page.evaluate(() => structuredClone(window.__fake.state.cases.get("case-1").outcome));
      assert.equal(before.engaged_safeguarding, "unknown");
      assert.equal(before.engaged_investigation, "unknown");
      let taps = 0;
      let maxScroll = 0;
      const vh = size.height;
      /** One tap: the target must already be on screen (nothing scrolled into view). */
      const tap = async (testid) => {
        const b = await box(page, testid);
        assert.ok(b.y >= 0 && b.y + b.height <= vh && b.x >= 0 && b.x + b.width <= size.width, `${testid} is on screen without scrolling`);
        await page.getByTestId(testid).click();
        taps++;
        maxScroll = Math.max(maxScroll, await page.evaluate(() => window.scrollY));
      };
      await tap("action-visit");
      const sheet = page.getByTestId("visit-sheet");
      await sheet.waitFor();
      const fits = await sheet.evaluate((d) => ({ scrolls: d.scrollHeight > d.clientHeight + 1, top: d.getBoundingClientRect().top, bottom: d.getBoundingClientRect().bottom }));
      assert.equal(fits.scrolls, false, "the sheet needs no scrolling");
      assert.ok(fits.top >= 0 && fits.bottom <= vh + 0.5, `the sheet is on screen (${Math.round(fits.top)}-${Math.round(fits.bottom)})`);
      // the engagement answers are asked here, starting at what the case records
      assert.ok(await page.getByTestId("sheet-engaged_safeguarding-unknown").isChecked());
      assert.ok(await page.getByTestId("sheet-engaged_investigation-unknown").isChecked());
      await clean(page, `cs-visit-sheet-${size.name}`);
      await tap("sheet-outcome-engaged");
      // "Engaged" answers safeguarding engagement (it was not known); the investigation stays as recorded
      assert.ok(await page.getByTestId("sheet-engaged_safeguarding-yes").isChecked());
      assert.ok(await page.getByTestId("sheet-engaged_investigation-unknown").isChecked());
      await tap("sheet-visit-notes");
      await page.keyboard.type("Seen alone; safety plan reviewed.");
      await tap("sheet-visit-save");
      await sheet.waitFor({ state: "detached" });
      await page.waitForFunction(() => window.__fake.state.cases.get("case-1").outcome.engaged_safeguarding === "yes");
      const saved = await page.evaluate(() => structuredClone(window.__fake.state.cases.get("case-1")));
      assert.equal(saved.visits.length, 1);
      assert.equal(saved.visits[0].outcome, "engaged");
      assert.equal(saved.visits[0].notes, "Seen alone; safety plan reviewed.");
      assert.equal(saved.outcome.engaged_investigation, "unknown");
      assert.match(await page.getByTestId("summary-last-visit").innerText(), /^Engaged · /);
      assert.ok(taps <= 4, `${taps} taps`);
      assert.equal(maxScroll, 0, "no scrolling");
      assert.equal(await page.evaluate(() => window.scrollY), 0);
      table.push({ size: `${size.width}x${size.height}`, taps, screens: (maxScroll / vh).toFixed(1) });
      await page.close();
    });
  }

  test("the visit sheet: an answer chosen by hand stays; nothing saves without an outcome; cancel saves nothing", async () => {
    const page = await start(SIZES[0], "dark");
    await openCase(page, "Ali Example");
    await page.getByTestId("action-visit").click();
    assert.ok(await page.getByTestId("sheet-visit-save").isDisabled(), "an outcome is needed");
    await page.getByTestId("sheet-engaged_safeguarding-no").click();
    await page.getByTestId("sheet-engaged_investigation-yes").click();
    await page.getByTestId("sheet-outcome-engaged").click();
    assert.ok(await page.getByTestId("sheet-engaged_safeguarding-no").isChecked(), "the officer's answer is kept");
    await clean(page, "cs-visit-sheet-dark");
    await page.getByTestId("sheet-visit-cancel").click();
    await page.getByTestId("visit-sheet").waitFor({ state: "detached" });
    assert.equal(await page.evaluate(() => window.__fake.state.cases.get("case-2").visits.length), 0);
    await page.getByTestId("action-visit").click();
    await page.getByTestId("sheet-outcome-declined").click();
    await page.getByTestId("sheet-engaged_investigation-no").click();
    await page.getByTestId("sheet-visit-save").click();
    await page.getByTestId("visit-sheet").waitFor({ state: "detached" });
    const c = await page.evaluate(() => structuredClone(window.__fake.state.cases.get("case-2")));
    assert.equal(c.visits[0].outcome, "declined");
    assert.equal(c.outcome.engaged_safeguarding, "no");
    assert.equal(c.outcome.engaged_investigation, "no");
    await page.close();
  });

  for (const theme of THEMES) {
    test(`Add note from the bar; Risk assessment opens the assessment (${theme})`, async () => {
      const page = await start(SIZES[1], theme);
      await openCase(page, "Jane Fictional");
      await page.getByTestId("action-note").click();
      await page.getByTestId("note-sheet").waitFor();
      assert.equal(await page.evaluate(() => document.activeElement?.id), "sheet-note-text", "ready to type");
      await page.keyboard.type("Spoke with the victim's sister by text.");
      await clean(page, `cs-note-sheet-${theme}`);
      await page.getByTestId("sheet-note-save").click();
      await page.getByTestId("note-sheet").waitFor({ state: "detached" });
      await page.getByTestId("section-notes-toggle").click();
      await page.getByTestId("note").filter({ hasText: "Spoke with the victim's sister by text." }).waitFor();
      await page.getByTestId("action-assess").click();
      await page.getByTestId("assess-form").waitFor();
      await page.close();
    });
  }
});

describe("roles and consultations", () => {
  test("officer: no health section, no Edit on IDVA support, visits and notes from the bar", async () => {
    const page = await start(SIZES[0], "light", "&role=officer");
    await openCase(page, "Jane Fictional");
    assert.equal(await page.getByTestId("section-health").count(), 0);
    await page.getByTestId("section-support-toggle").click();
    assert.equal(await page.getByTestId("section-support-edit").count(), 0);
    await page.getByTestId("support-readonly").waitFor();
    await page.getByTestId("section-victim-toggle").click();
    await page.getByTestId("section-victim-edit").waitFor();
    for (const a of ["action-visit", "action-note", "action-assess"]) await page.getByTestId(a).waitFor();
    await clean(page, "cs-officer");
    await page.close();
  });

  test("the unit: its safeguarding section is editable by it only", async () => {
    const page = await start(SIZES[1], "light", "&role=safeguarding");
    await openCase(page, "Dana Placeholder");
    assert.equal(await page.getByTestId("section-safeguarding").getAttribute("data-open"), "yes", "the unit's own section opens with the case");
    const sg = page.getByTestId("section-safeguarding");
    await sg.getByTestId("sg-action").waitFor();
    assert.equal(await sg.getByTestId("sg-action-add").count(), 0, "read-only until Edit");
    await page.getByTestId("section-safeguarding-edit").click();
    await sg.getByTestId("sg-action-add").waitFor();
    await clean(page, "cs-safeguarding-edit");
    assert.equal(await page.getByTestId("action-visit").count(), 0, "the unit does not record visits");
    await page.getByTestId("action-note").waitFor();
    // the summary of a case with more on it
    await openCase(page, "Erin Fictional");
    assert.equal(await page.getByTestId("summary-children").innerText(), "2 — ages 4, age not known");
    assert.equal(await page.getByTestId("summary-custody").innerText(), "In custody");
    assert.equal(await page.getByTestId("summary-actions").innerText(), "1 referral to make · 1 safety-plan item open");
    assert.equal(await page.getByTestId("summary-marac").innerText(), "Referred (made)");
    assert.match(await page.getByTestId("summary-last-visit").innerText(), /^Engaged · /);
    await inFirstScreen(page, "case-summary", await excessChrome(page));
    await page.close();

    // an IDVA sees the unit's actions, read-only, with no Edit
    const idva = await start(SIZES[1], "light");
    await idva.evaluate(() =>
      window.__fake.state.cases.get("case-1").safeguarding_actions.push({ id: "sa-t", kind: "alarm", detail: "Police alarm fitted", done: false, at: new Date().toISOString(), by: "ds.sample" }),
    );
    await openCase(idva, "Jane Fictional");
    await idva.getByTestId("section-safeguarding-toggle").click();
    await idva.getByTestId("section-safeguarding").getByTestId("sg-action").waitFor();
    assert.equal(await idva.getByTestId("section-safeguarding-edit").count(), 0);
    assert.equal(await idva.getByTestId("section-safeguarding").locator("input, select, textarea, button[type=submit]").count(), 0);
    await idva.close();
  });

  test("a consultation: its reference and the advice notes, open; only Add note", async () => {
    const page = await start(SIZES[0], "light");
    await openSection(page, "cases");
    await page.getByTestId("new-case-consultation").click();
    await page.getByTestId("newcase-reference").fill("LC-20261122-0009");
    await page.getByTestId("newcase-advice").fill("Advised a DASH.");
    await page.getByTestId("newcase-create").click();
    await page.getByTestId("case-screen").waitFor();
    assert.equal(await page.getByTestId("case-title").innerText(), "Consultation");
    assert.equal(await page.getByTestId("field-status").inputValue(), "active", "a consultation is closed like any case");
    assert.equal(await page.getByTestId("contact-slot").count(), 0, "no victim, no contact strip");
    await page.getByTestId("note").filter({ hasText: "Advised a DASH." }).waitFor();
    assert.equal(await page.getByTestId("field-incident.reference-value").innerText(), "LC-20261122-0009");
    assert.equal(await page.getByTestId("action-visit").count(), 0);
    assert.equal(await page.getByTestId("action-assess").count(), 0);
    await page.getByTestId("action-note").click();
    await page.keyboard.type("Called back; advice repeated.");
    await page.getByTestId("sheet-note-save").click();
    await page.getByTestId("note").filter({ hasText: "advice repeated" }).waitFor();
    await clean(page, "cs-consultation");
    await page.close();
  });
});
