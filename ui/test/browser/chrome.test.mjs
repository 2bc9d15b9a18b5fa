// Browser tests of the app's chrome: the one-line header with the compact sync indicator takes
// at most 64 px on a phone (360x740) and a tablet (1024x600), by day and at night, for a patrol
// role and for the safeguarding unit (nine sections); the indicator stays quiet while simply
// offline, turns amber when sync is overdue and red when it fails, and its plain-words detail
// and the menu are a tap away and accessible.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { browserEnv, open, unlock, axe, shot, scrollsSideways, openSection } from "./harness.mjs";

const env = browserEnv();

const SIZES = [
  { width: 360, height: 740 },
  { width: 1024, height: 600 },
];

/** The header's height plus anything else above the screen's content (a sync line). */
async function chromeHeight(page) {
  return page.evaluate(() => {
    const main = document.querySelector("main");
    return Math.round(main.getBoundingClientRect().top - document.documentElement.getBoundingClientRect().top);
  });
}

async function setTheme(page, dark) {
  await page.evaluate((d) => {
    document.documentElement.dataset.theme = d ? "dark" : "light";
  }, dark);
}

describe("quiet chrome", () => {
  for (const size of SIZES) {
    for (const role of ["idva", "safeguarding"]) {
      test(`${size.width}x${size.height}, ${role}: header and sync status in one line of at most 64 px, day and night`, async () => {
        const page = await open(env, `phase=locked&role=${role}`, size);
        await unlock(page);
        for (const dark of [false, true]) {
          await setTheme(page, dark);
          const h = await chromeHeight(page);
          assert.ok(h <= 64, `${size.width}x${size.height} ${role} ${dark ? "night" : "day"}: chrome ${h} px`);
          const header = await page.locator("header").boundingBox();
          const indicator = await page.getByTestId("sync-indicator").boundingBox();
          // the indicator is in the header's line, not a line of its own
          assert.ok(indicator.y >= header.y && indicator.y + indicator.height <= header.y + header.height, "indicator inside the header");
          assert.ok(indicator.height >= 44 && indicator.width >= 44, "indicator is a 44 px target");
          assert.equal(await scrollsSideways(page), false);
          assert.deepEqual(await axe(page), []);
          await shot(page, `chrome-${role}-${size.width}-${dark ? "night" : "day"}`);
        }
        // every section the role may open is reachable
        await openSection(page, role === "idva" ? "directory" : "dashboard");
        assert.deepEqual(page.problems, []);
        await page.close();
      });
    }
  }

  test("the menu and the sync detail: a tap away, accessible, closed by Escape", async () => {
    const page = await open(env, "phase=locked", SIZES[0]);
    await unlock(page);
    await page.getByTestId("menu-button").click();
    assert.equal(await page.getByTestId("menu-button").getAttribute("aria-expanded"), "true");
    await page.getByTestId("app-menu").waitFor();
    assert.match(await page.getByTestId("session-user").innerText(), /idva\.jones/);
    assert.deepEqual(await axe(page), []);
    await shot(page, "chrome-menu-360");
    await page.keyboard.press("Escape");
    await page.getByTestId("app-menu").waitFor({ state: "detached" });
    await page.getByTestId("sync-indicator").click();
    await page.getByTestId("sync-detail").waitFor();
    assert.deepEqual(await axe(page), []);
    await shot(page, "chrome-sync-detail-360");
    // a tap elsewhere closes it
    await page.locator("main").click({ position: { x: 10, y: 300 } });
    await page.getByTestId("sync-detail").waitFor({ state: "detached" });
    await page.close();
  });

  test("the indicator is quiet offline, amber when overdue, red when failing; no jargon", async () => {
    const page = await open(env, "phase=locked", SIZES[0]);
    await unlock(page);
    const indicator = page.getByTestId("sync-indicator");
    const tone = async () => (await indicator.getAttribute("class")).match(/\b(ok|warn|error|neutral)\b/)?.[1];
    await page.locator('[data-testid="sync-status"][data-state="offline"]').waitFor();
    assert.equal(await tone(), "neutral");
    assert.match(await indicator.innerText(), /Offline · 2 waiting/);
    const base = { waiting: 3, last_contact: null, set_aside: 0, notices: [] };
    await page.evaluate((s) => window.__fake.setSync(s), { ...base, overdue: true, state: { state: "offline", message: "No connection to the sync server. Changes are kept on this device and sent when it is back." } });
    await page.waitForFunction(() => /\bwarn\b/.test(document.querySelector('[data-testid="sync-indicator"]').className));
    await page.evaluate((s) => window.__fake.setSync(s), { ...base, overdue: false, state: { state: "error", code: "server_refused", message: "The server refused this device's changes." } });
    await page.waitForFunction(() => /\berror\b/.test(document.querySelector('[data-testid="sync-indicator"]').className));
    assert.match(await indicator.innerText(), /Sync failed/);
    await indicator.click();
    const detail = await page.getByTestId("sync-detail").innerText();
    assert.match(detail, /Sync failed.*refused.*3 changes waiting/s);
    assert.doesNotMatch(detail, /route to host|connection refused|ECONN|DNS|TLS handshake/i);
    await page.close();
  });
});
