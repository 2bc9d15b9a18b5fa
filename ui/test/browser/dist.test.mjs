// The production build (dist/) under the strict CSP: no inline script or style, no mock, no
// remote origin.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const DIST = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "dist");

test("dist/index.html has no inline script or style", () => {
  const html = readFileSync(join(DIST, "index.html"), "utf8");
  for (const m of html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)) {
    assert.match(m[0], /\ssrc=/, "every script is external");
    assert.equal(m[1].trim(), "", "no inline script body");
  }
  assert.doesNotMatch(html, /<style|\sstyle=/);
  assert.match(html, /<title>Provide<\/title>/);
});

test("dist has no mock and no remote origin", () => {
  for (const f of readdirSync(join(DIST, "assets"))) {
    const text = readFileSync(join(DIST, "assets", f), "utf8");
    assert.doesNotMatch(text, /__fake|installFakeBackend|ENROL-1234|Jane Fictional/, `${f} contains test code`);
    assert.doesNotMatch(text, /https?:\/\/(?!www\.w3\.org|svelte\.dev)[a-z0-9.-]+\.[a-z]{2,}\//i, `${f} names a remote origin`);
  }
});
