// Drafts survive the lock (issue 17, item 5), in the built UI against the fake backend: a note
// or an assessment half-answered is kept in the store (never in browser storage), nothing of
// it is on screen while locked, and unlocking returns to the same screen with the draft.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { browserEnv, open, unlock, axe, openSection, fromMenu } from "./harness.mjs";

const env = browserEnv();

const NOTE = "Fictional: she spoke at the door, the children were at school";

async function openCase(page, name) {
  await openSection(page, "cases");
  await page.getByTestId("case-row").filter({ hasText: name }).click();
  await page.getByTestId("case-screen").waitFor();
}

/** Opens the case's Notes section (closed until opened, unless it holds a draft). */
async function openNotes(page) {
  if ((await page.getByTestId("section-notes").getAttribute("data-open")) !== "yes") await page.getByTestId("section-notes-toggle").click();
}

/** What the fake store holds, by key. */
const kept = (page) => page.evaluate(() => Object.fromEntries(window.__fake.draftsKept().map((d) => [d.key, d])));

/** Nothing of `texts` anywhere in the page (text, form values, or the browser's storage). */
async function nothingShown(page, texts) {
  const seen = await page.evaluate(() => {
    const values = [...document.querySelectorAll("input, textarea, select")].map((e) => e.value);
    const stored = [];
    for (const s of [localStorage, sessionStorage]) for (let i = 0; i < s.length; i++) stored.push(s.getItem(s.key(i)));
    return [document.body.innerText, document.body.innerHTML, ...values, ...stored].join("\n");
  });
  for (const t of texts) assert.ok(!seen.includes(t), `"${t}" is still in the page while locked`);
}

describe("a note in progress", () => {
  test("the Lock button: nothing visible while locked, then the same case with the note", async () => {
    const page = await open(env, "phase=locked");
    await unlock(page);
    await openCase(page, "Jane Fictional");
    const caseId = await page.getByTestId("case-screen").getAttribute("data-case-id");
    await openNotes(page);
    await page.getByTestId("note-text").fill(NOTE);
    // locked at once, before the draft's own moment to save: the lock sends it first
    await page.getByTestId("lock-button").click();
    await page.getByTestId("unlock-form").waitFor();
    await nothingShown(page, [NOTE, "Jane Fictional"]);
    const k = await kept(page);
    assert.equal(JSON.parse(k[`note:${caseId}`].body).text, NOTE);
    assert.equal(k[`note:${caseId}`].record, caseId);
    assert.equal(JSON.parse(k.route.screen).id, caseId);
    assert.equal(await axe(page).then((v) => v.length), 0);

    await unlock(page);
    await page.getByTestId("case-screen").waitFor();
    assert.equal(await page.getByTestId("case-screen").getAttribute("data-case-id"), caseId, "the same case");
    await page.waitForFunction((t) => document.querySelector('[data-testid="note-text"]')?.value === t, NOTE);
    // saved for real: the draft goes
    await page.getByTestId("note-add").click();
    await page.getByTestId("note").filter({ hasText: NOTE }).waitFor();
    await page.waitForFunction((id) => !window.__fake.draftsKept().some((d) => d.key === `note:${id}`), caseId);
    assert.equal(await page.getByTestId("note-text").inputValue(), "");
    assert.deepEqual(page.problems, []);
    await page.close();
  });

  test("the idle lock: the screen clears, and unlocking brings the note back", async () => {
    const page = await open(env, "phase=locked");
    await unlock(page);
    await openCase(page, "Ali Example");
    const caseId = await page.getByTestId("case-screen").getAttribute("data-case-id");
    await openNotes(page);
    await page.getByTestId("note-text").fill(NOTE);
    // the idle lock fires after minutes without input: by then the draft is in the store
    await page.waitForFunction((id) => window.__fake.draftsKept().some((d) => d.key === `note:${id}`), caseId);
    await page.evaluate(() => window.__fake.idleLock());
    await page.getByTestId("unlock-form").waitFor();
    await nothingShown(page, [NOTE, "Ali Example"]);
    await unlock(page);
    await page.getByTestId("case-screen").waitFor();
    assert.equal(await page.getByTestId("case-screen").getAttribute("data-case-id"), caseId);
    assert.equal(await page.getByTestId("note-text").inputValue(), NOTE);
    // emptied by hand: the draft goes too
    await page.getByTestId("note-text").fill("");
    await page.waitForFunction((id) => !window.__fake.draftsKept().some((d) => d.key === `note:${id}`), caseId);
    await page.close();
  });

  test("a draft is its user's own: another user unlocking sees none of it", async () => {
    const page = await open(env, "phase=locked&users=2");
    await unlock(page);
    await openCase(page, "Jane Fictional");
    await openNotes(page);
    await page.getByTestId("note-text").fill(NOTE);
    await fromMenu(page, "signout-button");
    await page.getByTestId("unlock-form").waitFor();
    await page.getByTestId("unlock-user").selectOption("pc.example");
    await unlock(page, "battery staple");
    await openCase(page, "Jane Fictional");
    await openNotes(page);
    assert.equal(await page.getByTestId("note-text").inputValue(), "");
    await nothingShown(page, [NOTE]);
    await page.close();
  });
});

describe("an assessment in progress", () => {
  test("half-answered DASH: locked, then back on the same step with the answers", async () => {
    const page = await open(env, "phase=locked");
    await unlock(page);
    await openCase(page, "Morgan Test");
    await page.getByTestId("section-risk-toggle").click();
    await page.getByTestId("assess-dash").click();
    await page.getByTestId("assess-form").waitFor();
    const yes = () => page.locator('[data-testid^="assess-q-"][data-testid$="-yes"]');
    for (let i = 0; i < (await yes().count()); i++) await yes().nth(i).check();
    const first = await yes().count();
    await page.getByTestId("assess-next").click();
    await page.locator('[data-testid="assess-form"][data-step="1"]').waitFor();
    await yes().nth(0).check();
    await page.locator('[data-testid^="assess-q-"][data-testid$="-no"]').nth(1).check();
    const ids = await page.locator('fieldset[data-testid^="assess-q-"]').evaluateAll((fs) => fs.map((f) => f.dataset.testid));
    await page.getByTestId("assess-score").filter({ hasText: new RegExp(`^${first + 1}$`) }).waitFor();
    await page.getByTestId("lock-button").click();
    await page.getByTestId("unlock-form").waitFor();
    await nothingShown(page, ["Morgan Test", "assess-q-"]);

    await unlock(page);
    await page.locator('[data-testid="assess-form"][data-step="1"]').waitFor();
    assert.ok(await page.getByTestId(`${ids[0]}-yes`).isChecked());
    assert.ok(await page.getByTestId(`${ids[1]}-no`).isChecked());
    await page.getByTestId("assess-score").filter({ hasText: new RegExp(`^${first + 1}$`) }).waitFor();
    assert.match(await page.getByTestId("assess-progress").innerText(), new RegExp(`${first + 2} of 27 answered`));
    await page.getByTestId("assess-back-step").click();
    await page.locator('[data-testid="assess-form"][data-step="0"]').waitFor();
    assert.equal(await page.locator('[data-testid^="assess-q-"][data-testid$="-yes"]:checked').count(), first);
    assert.deepEqual(page.problems, []);
    await page.close();
  });
});
