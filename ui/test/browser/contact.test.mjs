// Browser tests of the contact strip (issue 17, items 2 and 7) at 360x740 and 1024x600, by day
// and at night, with the page's clock fixed at Wednesday 25 November 2026, 13:25 local time:
// a strip on every today's-visit row and every case-list row; on a case, call / text /
// voicemail in words that read one way, the safe times against the time now, the call link
// offered, confirmed or withheld, and a conflict on a contact rule or the phone shown as
// "2 values — confirm before contacting" with neither value; the empty search's hint; axe-core.
// Logs the taps and scrolling needed to answer "is it safe to call?" from today's visits.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { browserEnv, unlock, openSection, open, clean } from "./harness.mjs";

const SIZES = [
  { width: 360, height: 740 },
  { width: 1024, height: 600 },
];
const THEMES = ["light", "dark"];
const NOW = new Date(2026, 10, 25, 13, 25); // a Wednesday
const TWO = "2 values — confirm before contacting";
const CALL_WORDS = /^(Call: (yes|NO|not known)|Call: 2 values — confirm before contacting)$/;

const env = browserEnv();

/** Opens the app at `viewport` in `theme`, its clock fixed at NOW; records console errors. */
async function openAt(query, viewport, theme) {
  const page = await open(env, query, viewport, async (p) => {
    await p.clock.setFixedTime(NOW);
    await p.addInitScript((t) => localStorage.setItem("provide-theme", t), theme);
  });
  // the app applies the saved theme as it starts
  await page.waitForFunction((t) => document.documentElement.dataset.theme === t, theme);
  return page;
}

/** The words shown by each part of a strip (icons are hidden from reading). */
async function words(strip) {
  const text = async (id) => (await strip.getByTestId(id).innerText()).replace(/^\S+\s+/, "").trim();
  return { call: await text("contact-call"), text: await text("contact-text"), voicemail: await text("contact-voicemail"), times: (await strip.getByTestId("contact-times").innerText()).trim() };
}

async function openCase(page, name) {
  await openSection(page, "cases");
  await page.getByTestId("case-row").filter({ hasText: name }).click();
  await page.getByTestId("case-screen").waitFor();
  await page.getByTestId("contact-strip").waitFor();
}

/** Changes a case in the fake backend (before the screen showing it loads). */
async function edit(page, id, f) {
  await page.evaluate(([caseId, body]) => new Function("c", body)(window.__fake.state.cases.get(caseId)), [id, f]);
}

function conflict(path, a, b) {
  return {
    path,
    values: [
      { value: a, user: "pc.example", role: "officer", at: "2026-11-25T09:00:00Z", verified: true },
      { value: b, user: "idva.jones", role: "idva", at: "2026-11-25T10:00:00Z", verified: true },
    ],
  };
}

for (const size of SIZES) {
  for (const theme of THEMES) {
    const tag = `${size.width}x${size.height}-${theme}`;
    describe(`contact strip ${tag}`, () => {
      test("today's visits: a strip on every row, safe to call answered with no tap", async () => {
        const page = await openAt("phase=locked&role=idva&shift=1", size, theme);
        // the unit's triage of one visit, and a visit already made today on another
        await edit(page, "case-4", `c.triage.reason = "health_need"; c.triage.priority = 1;`);
        await edit(page, "case-3", `c.visits.push({ id: "v-today", at: new Date().toISOString(), outcome: "engaged", notes: "", by: "idva.jones" });`);
        await unlock(page);
        const list = page.getByTestId("todays-visits");
        await list.getByTestId("case-row").first().waitFor();
        const rows = list.getByTestId("case-row");
        const n = await rows.count();
        assert.equal(n, 4);
        for (let i = 0; i < n; i++) {
          const strip = rows.nth(i).getByTestId("contact-strip");
          assert.equal(await strip.count(), 1, `row ${i} has one contact strip`);
          assert.match((await words(strip)).call, CALL_WORDS);
          assert.ok(await rows.nth(i).getByTestId("visit-done").isVisible());
          assert.equal(await rows.nth(i).getByTestId("case-area").innerText(), "Preston");
        }
        const jane = rows.filter({ hasText: "Jane Fictional" });
        assert.deepEqual(await words(jane.getByTestId("contact-strip")), {
          call: "Call: NO",
          text: "Text: yes",
          voicemail: "Voicemail: NO",
          times: "now 13:25 — outside Weekdays 10:00–12:00",
        });
        const ali = await words(rows.filter({ hasText: "Ali Example" }).getByTestId("contact-strip"));
        assert.equal(ali.voicemail, "Voicemail: not known");
        assert.equal(ali.times, "now 13:25 — outside After 18:00");
        // highest risk first, then the unit's priority: Priya (high, priority 1) before Jane (high)
        assert.match(await rows.first().innerText(), /^Priya Placeholder/);
        const priya = rows.filter({ hasText: "Priya Placeholder" });
        assert.equal(await priya.getByTestId("visit-priority").innerText(), "Priority 1");
        assert.equal(await priya.getByTestId("visit-reason").innerText(), "Health need");
        assert.equal((await words(priya.getByTestId("contact-strip"))).times, "Safe times (as written): Only via GP surgery — now 13:25, not known if safe");
        assert.match(await rows.filter({ hasText: "Sam Sample" }).getByTestId("visit-done").innerText(), /Visited today/);
        assert.match(await jane.getByTestId("visit-done").innerText(), /Not visited yet today/);

        // "is it safe to call?" for the first visit: read off its row, no tap; scrolling needed
        // is how far the answer (call and safe times) lies below the screen
        const first = rows.first().getByTestId("contact-strip");
        const call = await first.getByTestId("contact-call").boundingBox();
        const times = await first.getByTestId("contact-times").boundingBox();
        const bottom = Math.max(call.y + call.height, times.y + times.height);
        const below = Math.max(0, Math.round(bottom) - size.height);
        console.log(`[measure] is it safe to call, from today's visits, ${tag}: 0 taps, ${below} px = ${(below / size.height).toFixed(3)} screens of scrolling (the first row's call answer and safe times end at y=${Math.round(bottom)} of ${size.height})`);
        await clean(page, `contact-visits-${tag}`);
        await page.close();
      });

      test("case list: a strip on every row; an empty search says what to try", async () => {
        const page = await openAt("phase=locked&role=idva", size, theme);
        await unlock(page);
        await openSection(page, "cases");
        const rows = page.getByTestId("case-list").getByTestId("case-row");
        await rows.first().waitFor();
        const n = await rows.count();
        assert.ok(n >= 5);
        for (let i = 0; i < n; i++) {
          assert.equal(await rows.nth(i).getByTestId("contact-strip").count(), 1, `case row ${i} has one contact strip`);
        }
        // the seeded phone conflict on Ali Example's case: the row says so, but shows no phone
        const ali = rows.filter({ hasText: "Ali Example" });
        assert.equal(await ali.getByTestId("contact-phone").innerText(), `⚠ Phone: ${TWO}`);
        assert.doesNotMatch(await ali.innerText(), /07700/);
        await clean(page, `contact-list-${tag}`);
        await page.getByTestId("case-search").fill("xyz");
        await page.getByTestId("case-empty").waitFor();
        const hint = await page.getByTestId("case-empty").innerText();
        assert.match(hint, /No case matches "xyz"\. Try the police reference \(log or crime number\), or part of the victim's surname/);
        assert.match(hint, /Closed cases: /);
        await clean(page, `contact-empty-${tag}`);
        await page.close();
      });

      test("a case: words that read one way, times against now, the call link guarded", async () => {
        const page = await openAt("phase=locked&role=idva", size, theme);
        await edit(page, "case-5", `c.victim.safe_contact.safe_times = "12:00-14:00";`);
        await unlock(page);
        // calling is NOT safe: no call link at all
        await openCase(page, "Jane Fictional");
        let strip = page.getByTestId("contact-strip");
        assert.deepEqual(await words(strip), { call: "Call: NO", text: "Text: yes", voicemail: "Voicemail: NO", times: "now 13:25 — outside Weekdays 10:00–12:00" });
        assert.equal(await strip.locator("a[href^='tel:']").count(), 0);
        assert.match(await strip.getByTestId("contact-phone").innerText(), /07700 900120 — no call link: Do not call: calling is NOT safe/);
        // the IDVA sees the discreet route beside the strip
        assert.match(await strip.getByTestId("contact-discreet").innerText(), /GP appointment, Tuesdays/);
        await clean(page, `contact-case-unsafe-${tag}`);

        // safe to call, no safe times recorded: the call link at once
        await page.getByTestId("back-to-cases").click();
        await openCase(page, "Sam Sample");
        strip = page.getByTestId("contact-strip");
        assert.equal((await words(strip)).times, "Safe times: not recorded");
        assert.equal((await words(strip)).call, "Call: yes");
        assert.equal(await strip.getByTestId("contact-call-link").getAttribute("href"), "tel:07700900122");

        // not known whether calling is safe, inside the safe times: a deliberate confirmation
        await page.getByTestId("back-to-cases").click();
        await openCase(page, "Morgan Test");
        strip = page.getByTestId("contact-strip");
        assert.deepEqual(await words(strip), { call: "Call: not known", text: "Text: not known", voicemail: "Voicemail: not known", times: "now 13:25 — inside 12:00-14:00" });
        assert.equal(await strip.locator("a[href^='tel:']").count(), 0, "no call link before the confirmation");
        await strip.getByTestId("contact-call-ask").click();
        assert.match(await strip.getByRole("group").innerText(), /It is not known whether calling is safe\. Call 07700 900124 anyway\?/);
        assert.equal(await strip.getByTestId("contact-call-confirmed").getAttribute("href"), "tel:07700900124");
        await clean(page, `contact-case-confirm-${tag}`);
        await page.close();
      });

      test("a case: safe to call but outside the safe times asks first", async () => {
        const page = await openAt("phase=locked&role=officer", size, theme);
        await edit(page, "case-3", `c.victim.safe_contact.safe_times = "after 6pm";`);
        await unlock(page);
        await openCase(page, "Sam Sample");
        const strip = page.getByTestId("contact-strip");
        assert.equal((await words(strip)).times, "now 13:25 — outside after 6pm");
        assert.equal(await strip.locator("a[href^='tel:']").count(), 0);
        await strip.getByTestId("contact-call-ask").click();
        assert.match(await strip.getByRole("group").innerText(), /It is outside the safe times now\. Call 07700 900122 anyway\?/);
        // an officer never sees the IDVA's discreet route
        assert.equal(await strip.getByTestId("contact-discreet").count(), 0);
        await clean(page, `contact-case-outside-${tag}`);
        await page.close();
      });

      test("a case with conflicts on the call rule and the phone shows neither value", async () => {
        const page = await openAt("phase=locked&role=idva", size, theme);
        await page.evaluate(([a, b]) => {
          window.__fake.addConflict("case-1", a);
          window.__fake.addConflict("case-1", b);
        }, [conflict("victim.safe_contact.call_ok", false, true), conflict("victim.phone", "07700 900120", "07700 900555")]);
        await unlock(page);
        await openCase(page, "Jane Fictional");
        const strip = page.getByTestId("contact-strip");
        const w = await words(strip);
        assert.equal(w.call, `Call: ${TWO}`);
        assert.equal(w.text, "Text: yes");
        assert.equal(await strip.getByTestId("contact-phone").innerText(), `Phone: ${TWO}`);
        const all = await strip.innerText();
        for (const value of ["Call: NO", "Call: yes", "07700 900120", "07700 900555"]) assert.ok(!all.includes(value), `the strip shows ${value}`);
        assert.equal(await strip.locator("a[href^='tel:'], button").count(), 0, "no way to call from a strip in conflict");
        // nor does the victim's section show either number or either call rule as agreed, read
        // or being edited
        await page.getByTestId("section-victim-toggle").click();
        assert.doesNotMatch(await page.locator("body").innerText(), /07700 900120|07700 900555/);
        await page.getByTestId("section-victim-edit").click();
        assert.equal(await page.getByTestId("field-victim.phone").inputValue(), "");
        assert.equal(await page.getByTestId("field-victim.phone").getAttribute("placeholder"), TWO);
        assert.equal(await page.getByTestId("field-victim.safe_contact.call_ok").evaluate((s) => s.options[s.selectedIndex].text), TWO);
        assert.doesNotMatch(await page.locator("body").innerText(), /07700 900120|07700 900555/);
        await clean(page, `contact-case-conflict-${tag}`);
        await page.close();
      });

      test(
        "on a case the strip is fully visible without scrolling, with and without conflicts",
        async () => {
          const page = await openAt("phase=locked&role=idva", size, theme);
          await unlock(page);
          const outside = [];
          // without conflicts, and with the seeded conflicts on status and the phone
          for (const name of ["Sam Sample", "Ali Example"]) {
            await openCase(page, name);
            const box = await page.getByTestId("contact-strip").boundingBox();
            const [top, bottom] = [Math.round(box.y), Math.round(box.y + box.height)];
            console.log(`[measure] contact strip on ${name}'s case, ${tag}: y=${top} to ${bottom} of ${size.height}`);
            if (top < 0 || bottom > size.height) outside.push(`${name}: y=${top} to ${bottom}`);
            await page.getByTestId("back-to-cases").click();
          }
          await page.close();
          assert.deepEqual(outside, [], `the strip is not fully on the screen of ${size.height} px`);
        },
      );
    });
  }
}
