// Browser-test harness: serves the mock bundle (dist-mock/) on 127.0.0.1 with the app's
// strict CSP, forwards the fake backend's `POST /core` to provide-core's rules
// (target/debug/ui-core-rules, built by `cargo build --workspace --bins`), launches Debian's
// Chromium through playwright-core with a fresh profile, and offers helpers: open a page,
// unlock, open a section or the menu, run axe-core, screenshot, check horizontal scroll.
import { createServer } from "node:http";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync, readFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, extname, normalize, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { before, after } from "node:test";
import assert from "node:assert/strict";

const UI = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const DIST = join(UI, "dist-mock");
const AXE = readFileSync(join(UI, "node_modules", "axe-core", "axe.min.js"));
export const SHOTS = join(UI, "test-results");

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".json": "application/json", ".png": "image/png", ".svg": "image/svg+xml" };

const RULES = join(UI, "..", process.env.PROVIDE_BIN ?? "target/debug", "ui-core-rules");

/** provide-core's rules as a child process: `ask(cmd, args)` answers `{ok}` or `{err}`. */
function startRules() {
  if (!existsSync(RULES)) throw new Error(`${RULES} is missing: build it first (cargo build -p provide-tests --bin ui-core-rules)`);
  const child = spawn(RULES, [], { stdio: ["pipe", "pipe", "inherit"] });
  const waiting = new Map();
  let next = 1;
  createInterface({ input: child.stdout }).on("line", (line) => {
    const reply = JSON.parse(line);
    waiting.get(reply.id)?.(reply);
    waiting.delete(reply.id);
  });
  const ask = (cmd, args) =>
    new Promise((resolve) => {
      const id = next++;
      waiting.set(id, resolve);
      child.stdin.write(JSON.stringify({ id, cmd, args }) + "\n");
    });
  return { child, ask };
}

export async function startServer() {
  if (!existsSync(join(DIST, "test", "browser", "mock.html"))) throw new Error("build the mock bundle first (npm run test:browser)");
  const rules = startRules();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/core" && req.method === "POST") {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", async () => {
        const { cmd, args } = JSON.parse(body);
        const { ok, err } = await rules.ask(cmd, args);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(err ? { err } : { ok: ok ?? null }));
      });
      return;
    }
    if (url.pathname === "/favicon.ico") {
      res.writeHead(204);
      return res.end();
    }
    if (url.pathname === "/axe.js") {
      res.writeHead(200, { "content-type": "text/javascript" });
      return res.end(AXE);
    }
    const path = normalize(join(DIST, url.pathname === "/" ? "test/browser/mock.html" : url.pathname));
    if (!path.startsWith(DIST) || !existsSync(path)) {
      res.writeHead(404);
      return res.end("not found");
    }
    res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream", "content-security-policy": CSP });
    res.end(readFileSync(path));
  });
  server.on("close", () => rules.child.kill());
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { server, base: `http://127.0.0.1:${server.address().port}` };
}

/** A test file's page server and Chromium: started before its tests, stopped after them. The
 *  object is filled in by the time the tests run. */
export function browserEnv() {
  const env = {};
  before(async () => {
    Object.assign(env, await startServer(), await launch());
  });
  after(async () => {
    await env.close?.();
    env.server?.close();
  });
  return env;
}

export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), "provide-ui-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 800 },
  });
  mkdirSync(SHOTS, { recursive: true });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens the app with a query (`phase=locked&role=idva`); records console errors and CSP reports.
 *  `before(page)` runs before the app loads (a fixed clock, a saved theme). */
export async function open(env, query = "", viewport = { width: 1280, height: 800 }, before = async () => {}) {
  const page = await env.context.newPage();
  await page.setViewportSize(viewport);
  page.problems = [];
  page.on("console", (m) => {
    if (m.type() === "error" || /Content Security Policy/i.test(m.text())) page.problems.push(m.text());
  });
  page.on("pageerror", (e) => page.problems.push(String(e)));
  await before(page);
  await page.goto(`${env.base}/test/browser/mock.html?${query}`);
  return page;
}

export async function unlock(page, passphrase = "correct horse") {
  await page.getByTestId("unlock-passphrase").fill(passphrase);
  await page.getByTestId("unlock-submit").click();
  await page.getByTestId("sync-status").waitFor();
}

/** Opens a section of the app: from the header's tabs where the window is wide enough for them,
 *  else from the menu. */
export async function openSection(page, name) {
  const tab = page.getByTestId(`nav-${name}`);
  if (!(await tab.isVisible())) await page.getByTestId("menu-button").click();
  await tab.click();
}

/** Clicks something in the header's menu (theme, sign out), opening the menu first. */
export async function fromMenu(page, testid) {
  const target = page.getByTestId(testid);
  if (!(await target.isVisible())) await page.getByTestId("menu-button").click();
  await target.click();
  if (await page.getByTestId("app-menu").isVisible()) await page.keyboard.press("Escape");
}

/** Opens the sync indicator's detail (if it is closed) and presses "Sync now". */
export async function syncNow(page) {
  if (!(await page.getByTestId("sync-now").isVisible())) await page.getByTestId("sync-indicator").click();
  await page.getByTestId("sync-now").click();
}

/** Runs axe-core on the page; returns serious or critical violations, described. */
export async function axe(page) {
  if (!(await page.evaluate(() => "axe" in window))) await page.addScriptTag({ url: "/axe.js" });
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5) }));
  });
  return result.filter((v) => v.impact === "serious" || v.impact === "critical");
}

export async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Saves the screen as `name` and checks it: no serious or critical axe-core violation, no
 *  sideways scrolling, no console error. */
export async function clean(page, name) {
  await shot(page, name);
  const v = await axe(page);
  assert.deepEqual(v, [], `${name}: accessibility violations ${JSON.stringify(v, null, 1)}`);
  assert.equal(await scrollsSideways(page), false, `${name}: scrolls sideways`);
  assert.deepEqual(page.problems, [], `${name}: console errors`);
}

/** True when the page scrolls sideways (it must not at any supported width). */
export async function scrollsSideways(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1);
}
