// "Pair with partner" on the Shift screen (issue 18), in the built UI against the fake backend
// (which plays the partner's device), at 360x740 and 1024x600, by day and at night: showing
// this device's code (with its QR code), entering the partner's (a wrong code refused in plain
// words), the pairing and the partner's sync time in the indicator, syncing again, and ending
// the shift ending the pairing. axe-core clean, no sideways scrolling.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { browserEnv, open, unlock, clean } from "./harness.mjs";

const env = browserEnv();

const SIZES = [
  { width: 360, height: 740 },
  { width: 1024, height: 600 },
];

async function startShift(page) {
  await unlock(page);
  await page.getByTestId("shift-form").waitFor();
  await page.getByTestId("shift-pattern-early").check();
  await page.getByTestId("shift-callsign").fill("PR07");
  await page.getByTestId("shift-partner").fill("pc.example");
  await page.getByTestId("shift-start").click();
  await page.getByTestId("pair").waitFor();
}

for (const size of SIZES) {
  for (const theme of ["light", "dark"]) {
    const where = `${size.width}x${size.height}-${theme}`;
    describe(`pairing at ${where}`, () => {
      test("show a code, or enter the partner's; paired, synced, ended with the shift", async () => {
        const page = await open(env, "phase=locked", size);
        await startShift(page);
        await page.evaluate((t) => (document.documentElement.dataset.theme = t), theme);
        await clean(page, `30-pair-start-${where}`);

        // this device shows its code and a QR code, and waits
        await page.getByTestId("pair-show").click();
        await page.getByTestId("pair-code").waitFor();
        assert.match(await page.getByTestId("pair-code").innerText(), /^[0-9A-Z]{5}-[0-9A-Z]{5}$/);
        assert.match(await page.getByTestId("pair-address").innerText(), /^\d+\.\d+\.\d+\.\d+:\d+$/);
        assert.ok(await page.getByTestId("pair-qr").isVisible(), "the QR code is shown");
        await clean(page, `31-pair-code-${where}`);
        await page.getByTestId("pair-cancel").click();

        // or it enters the partner's: a wrong code is refused in plain words
        await page.getByTestId("pair-enter").click();
        await page.getByTestId("pair-address-input").fill("192.168.43.17:47001");
        await page.getByTestId("pair-code-input").fill("AAAAA-BBBBB");
        await page.getByTestId("pair-submit").click();
        await page.getByRole("alert").filter({ hasText: "pairing code was wrong" }).waitFor();
        await page.getByTestId("pair-code-input").fill("k7m2q 9xdrt");
        await page.getByTestId("pair-submit").click();
        await page.getByTestId("pair-paired").waitFor();
        // (the fake's user is an IDVA: the partner is the officer)
        assert.match(await page.getByTestId("pair-paired").innerText(), /Paired with pc\.example \(Police officer\)/);
        assert.match(await page.getByTestId("pair-done").innerText(), /^Paired with pc\.example \(Police officer\): 2 records sent, 1 record received\.$/);
        // the indicator: both syncs in a few words, quiet
        assert.match(await page.getByTestId("sync-indicator").innerText(), /with partner \d\d:\d\d · server \d\d:\d\d/);
        await clean(page, `32-paired-${where}`);
        await page.getByTestId("pair-sync").click();
        await page.getByTestId("pair-done").filter({ hasText: "Synced with pc.example" }).waitFor();

        // ending the shift ends the pairing
        await page.getByTestId("shift-end").click();
        await page.getByTestId("shift-end-confirm").click();
        await page.getByTestId("handover").waitFor();
        const peer = await page.evaluate(() => window.__fake.state.sync.partner_synced_at);
        assert.equal(peer, null, "no partner sync time once the pairing ended");
        assert.doesNotMatch(await page.getByTestId("sync-indicator").innerText(), /partner/);
        await page.close();
      });
    });
  }
}

describe("pairing before the device has its pass for the day", () => {
  test("says to sync with the server once", async () => {
    const page = await open(env, "phase=locked&cert=0", { width: 360, height: 740 });
    await startShift(page);
    await page.getByTestId("pair-no-cert").waitFor();
    assert.equal(await page.getByTestId("pair-show").count(), 0);
    await clean(page, "33-pair-no-certificate");
    await page.close();
  });
});
