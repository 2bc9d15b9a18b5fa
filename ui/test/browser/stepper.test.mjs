// The guided risk checklist (issue 17, item 4), in the built UI against the fake backend, at
// 360x740 (phone) and 1024x600 (tablet), by day and at night: the live score in view on every
// step, a partial save never silent (a confirmation, and the result says how many were
// unanswered), chosen and unchosen answers at 3:1 or more, axe-core clean on every step. Also
// logs the taps and screens of scrolling from opening DASH to a MARAC referral.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { browserEnv, open, unlock, axe, shot, scrollsSideways, openSection } from "./harness.mjs";

const env = browserEnv();

const SIZES = [
  { width: 360, height: 740 },
  { width: 1024, height: 600 },
];
const THEMES = ["light", "dark"];

// WCAG 2 relative luminance and contrast ratio, from computed CSS colours ("rgb(r, g, b)").
function luminance(css) {
  const [r, g, b] = css.match(/[\d.]+/g).slice(0, 3).map(Number).map((v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

async function openDash(page, theme) {
  await unlock(page);
  await page.evaluate((t) => (document.documentElement.dataset.theme = t), theme);
  await openSection(page, "cases");
  await page.getByTestId("case-row").filter({ hasText: "Morgan Test" }).click();
  await page.getByTestId("case-screen").waitFor();
  await page.getByTestId("section-risk-toggle").click();
  await page.getByTestId("assess-dash").click();
  await page.getByTestId("assess-form").waitFor();
}

const stepNow = (page) => page.getByTestId("assess-form").getAttribute("data-step").then(Number);

/** The live score's bar and number lie wholly inside the viewport. */
async function scoreInView(page, where) {
  const vh = page.viewportSize().height;
  for (const id of ["assess-panel", "assess-score"]) {
    const b = await page.getByTestId(id).boundingBox();
    assert.ok(b && b.y >= 0 && b.y + b.height <= vh + 0.5, `${where}: ${id} out of view (${JSON.stringify(b)}, viewport height ${vh})`);
  }
}

for (const size of SIZES) {
  for (const theme of THEMES) {
    describe(`DASH stepper at ${size.width}x${size.height}, ${theme}`, () => {
      test("the score in view on every step, answers distinct, axe clean", async () => {
        const page = await open(env, "phase=locked", size);
        await openDash(page, theme);
        const count = Number((await page.getByTestId("assess-progress").innerText()).match(/of (\d+) ·/)[1]);
        assert.ok(count >= 10, "one step per theme, then judgement and summary");
        for (let step = 0; step < count; step++) {
          assert.equal(await stepNow(page), step);
          const where = `${size.width}x${size.height} ${theme} step ${step + 1}`;
          assert.match(await page.getByTestId("assess-progress").innerText(), new RegExp(`^Step ${step + 1} of ${count} · \\d+ of 27 answered$`));
          await scoreInView(page, `${where} (top)`);
          await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
          await scoreInView(page, `${where} (bottom)`);
          assert.ok(!(await scrollsSideways(page)), `${where} scrolls sideways`);
          if (step === 0) {
            // chosen and unchosen answers: 3:1 or more between their fills
            const q = page.locator('fieldset[data-testid^="assess-q-"]').first();
            const id = await q.getAttribute("data-testid");
            assert.equal(await q.getAttribute("data-answered"), "no");
            await page.getByTestId(`${id}-yes`).check();
            assert.equal(await q.getAttribute("data-answered"), "yes");
            const fill = (v) => page.getByTestId(`${id.replace("assess-q-", "assess-choice-")}-${v}`).evaluate((e) => getComputedStyle(e).backgroundColor);
            const [on, off] = [await fill("yes"), await fill("no")];
            const ratio = contrast(on, off);
            assert.ok(ratio >= 3, `${where}: chosen ${on} vs unchosen ${off} is ${ratio.toFixed(2)}:1`);
            console.log(`${where}: chosen answer fill ${on} vs unchosen ${off}: ${ratio.toFixed(2)}:1`);
          }
          const v = await axe(page);
          assert.deepEqual(v, [], `${where}: ${JSON.stringify(v, null, 1)}`);
          if (step === 0 || step === count - 1) await shot(page, `stepper-${size.width}x${size.height}-${theme}-step${step + 1}`);
          if (step < count - 1) await page.getByTestId("assess-next").click();
        }
        assert.deepEqual(page.problems, []);
        await page.close();
      });
    });
  }

  describe(`DASH to a MARAC referral at ${size.width}x${size.height}`, () => {
    test("a partial save is never silent; taps and screens measured", async () => {
      const page = await open(env, "phase=locked", size);
      await unlock(page);
      await openSection(page, "cases");
      await page.getByTestId("case-row").filter({ hasText: "Morgan Test" }).click();
      await page.getByTestId("case-screen").waitFor();
      await page.evaluate(() => window.scrollTo(0, 0));
      // from here every tap is counted, and the user's scrolling: before each tap, just enough
      // to bring its target into view above the score bar (the app's own move to the top of a
      // new step is not the user's)
      let taps = 0;
      let scrolled = 0;
      const tap = async (locator) => {
        taps++;
        scrolled += await locator.evaluate((e) => {
          const y = window.scrollY;
          e.scrollIntoView({ block: "nearest" });
          return Math.abs(window.scrollY - y);
        });
        await locator.click();
      };
      const screensNow = () => page.evaluate((px) => px / window.innerHeight, scrolled);
      // the action bar's "Risk assessment" opens the case's checklist (DASH for this case)
      await tap(page.getByTestId("action-assess"));
      await page.getByTestId("assess-form").waitFor();
      const toOpen = await screensNow();
      let yes = 0;
      while (yes < 14) {
        const open = page.locator('[data-testid^="assess-q-"][data-testid$="-yes"]:not(:checked)');
        if ((await open.count()) === 0) {
          await tap(page.getByTestId("assess-next"));
          continue;
        }
        await tap(open.first());
        yes++;
        await scoreInView(page, `after answer ${yes}`);
      }
      await page.getByTestId("assess-marac-prompt").waitFor();
      await tap(page.getByTestId("assess-review"));
      const calls = () => page.evaluate(() => window.__fake.state.calls.filter((c) => c === "assess").length);
      const before = await calls();
      await tap(page.getByTestId("assess-submit"));
      // refused silently: nothing saved, a confirmation in plain words
      await page.getByTestId("assess-confirm").waitFor();
      assert.equal(await calls(), before, "nothing saved before the confirmation");
      assert.match(await page.getByTestId("assess-confirm").innerText(), /Save with 13 unanswered questions\? Unanswered questions count as “no” toward the MARAC threshold\./);
      assert.equal(await page.getByTestId("assess-unanswered-count").innerText(), "13");
      assert.deepEqual(await axe(page), []);
      await tap(page.getByTestId("assess-confirm-save"));
      await page.getByTestId("assess-result").waitFor();
      assert.equal(await calls(), before + 1);
      assert.match(await page.getByTestId("assess-result-unanswered").innerText(), /^13 of 27 questions were unanswered and counted as “no”\.$/);
      await tap(page.getByTestId("marac-refer"));
      await page.getByTestId("marac-referred").waitFor();
      const screens = await screensNow();
      console.log(
        `DASH to a MARAC referral at ${size.width}x${size.height}: ${taps} taps, ${screens.toFixed(1)} screens scrolled ` +
          `(${toOpen.toFixed(1)} of them on the case screen to reach the DASH button, ${(screens - toOpen).toFixed(1)} in the stepper and result)`,
      );
      assert.deepEqual(page.problems, []);
      await page.close();
    });

    test("an unanswered question in the summary opens its step", async () => {
      const page = await open(env, "phase=locked", size);
      await openDash(page, "light");
      await page.getByTestId("assess-review").click();
      const link = page.locator('[data-testid^="assess-unanswered-"]').nth(5);
      const id = (await link.getAttribute("data-testid")).replace("assess-unanswered-", "");
      await link.click();
      await page.getByTestId(`assess-q-${id}`).waitFor();
      assert.ok((await stepNow(page)) > 0);
      await page.getByTestId(`assess-q-${id}-no`).check();
      await page.getByTestId("assess-review").click();
      assert.equal(await page.getByTestId("assess-unanswered-count").innerText(), "26");
      assert.equal(await page.getByTestId(`assess-unanswered-${id}`).count(), 0);
      await page.close();
    });
  });
}
