// What the native suites share: free ports, the real sync server and the `provide` command
// line as child processes, the app started through tauri-driver in its own data folder, window
// screenshots from the X server, and choosing an option in a select. Fictional people only.
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import net from "node:net";

import { Session, sleep } from "./webdriver.mjs";

export const ROOT = resolve(import.meta.dirname, "../..");
export const BIN = resolve(ROOT, process.env.PROVIDE_BIN ?? "target/debug");
export const SHOTS = resolve(ROOT, process.env.PROVIDE_SCREENSHOTS ?? "target/native-screenshots");
// a step that hangs (a frozen window, a lost driver) fails instead of holding CI
export const STEP_TIMEOUT = 240_000;

export function freePort() {
  return new Promise((res) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/** Runs an administrator's command against the server's data folder; returns its output. */
export function admin(serverDir, ...args) {
  return execFileSync(join(BIN, "provide-sync-server"), ["--data-dir", serverDir, ...args], {
    encoding: "utf8",
  }).trim();
}

/** Runs the `provide` command line on a device's data folder; returns its output. */
export function cli(dir, passphrase, ...args) {
  return execFileSync(join(BIN, "provide"), ["--data-dir", dir, ...args], {
    encoding: "utf8",
    env: { ...process.env, PROVIDE_PASSPHRASE: passphrase },
  }).trim();
}

/** Starts the sync server on `listen`; resolves to the process and its URL once it listens. */
export async function startServer(serverDir, listen) {
  const proc = spawn(join(BIN, "provide-sync-server"), ["--data-dir", serverDir, "serve", "--listen", listen], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise((res, rej) => {
    let out = "";
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (\S+)/);
      if (m) res(m[1]);
    });
    proc.on("exit", (c) => rej(new Error(`the sync server exited (${c})`)));
  });
  return { proc, url };
}

/** Stops a server started by `startServer` and waits for it to exit. */
export async function stopServer(server) {
  const exited = new Promise((r) => server.proc.once("exit", r));
  server.proc.kill("SIGTERM");
  await exited;
}

/** Starts tauri-driver and the app (its store in `dataDir`) in a 1024x600 window. */
export async function startApp(dataDir, env = {}) {
  const port = await freePort();
  const nativePort = await freePort();
  const driver = spawn("tauri-driver", ["--port", String(port), "--native-port", String(nativePort)], {
    env: { ...process.env, PROVIDE_DATA_DIR: dataDir, ...env },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const s = await Session.start(`http://127.0.0.1:${port}`, join(BIN, "provide-app"));
  await s.setSize(1024, 600);
  return { s, driver };
}

/** Ends the WebDriver session (bounded) and the driver. */
export async function endApp(app) {
  if (app?.s) await Promise.race([app.s.end(), sleep(10_000)]);
  app?.driver?.kill("SIGKILL");
}

/** Saves the window as `name`.png, scrolled to the top (or to `css`), with no field focused. */
export async function shot(s, name, css = null) {
  await s.cmd("POST", "/execute/sync", {
    script: `document.activeElement?.blur();
      const el = arguments[0] && document.querySelector(arguments[0]);
      if (el) el.scrollIntoView({ block: "start" }); else window.scrollTo(0, 0);
      // a change to draw: WebKit's snapshot waits for the next rendering update
      document.documentElement.dataset.shot = String(Date.now());`,
    args: [css],
  });
  mkdirSync(SHOTS, { recursive: true });
  await sleep(200); // let the frame land
  // The window's own pixels from the X server (WebKit's WebDriver snapshot can wait for a
  // frame that an idle page never draws). Documentation, not a check: a failure is reported.
  try {
    execFileSync("sh", ["-c", `xwd -name Provide -silent | xwdtopnm 2>/dev/null | pnmtopng > "${join(SHOTS, `${name}.png`)}"`]);
  } catch (e) {
    console.log(`# no screenshot for ${name}: ${e.message.split("\n")[0]}`);
  }
}

/** Picks `value` in the select with this data-testid. */
export async function choose(s, testid, value) {
  await s.click(`[data-testid="${testid}"] option[value="${value}"]`);
}

/** Opens the sync indicator's detail, presses "Sync now", waits for the indicator to say
 *  `state` and closes the detail again. */
export async function syncNowAndWait(s, state) {
  if ((await s.count('[data-testid="sync-now"]')) === 0) await s.click('[data-testid="sync-indicator"]');
  await s.click('[data-testid="sync-now"]');
  await s.until(`sync ${state}`, async () => (await s.attr('[data-testid="sync-status"]', "data-state")) === state);
  if ((await s.count('[data-testid="sync-detail"]')) > 0) await s.click('[data-testid="sync-indicator"]');
}

/** Opens the header's menu (sections where the window is narrow, who is signed in, theme). */
export async function openMenu(s) {
  if ((await s.count('[data-testid="app-menu"]')) === 0) await s.click('[data-testid="menu-button"]');
  await s.find('[data-testid="app-menu"]');
}

export async function closeMenu(s) {
  if ((await s.count('[data-testid="app-menu"]')) > 0) await s.click('[data-testid="menu-button"]');
}

/** Opens a section from the header: its tab where the window is wide, else through the menu. */
export async function openSection(s, name) {
  if ((await s.count(`[data-testid="nav-${name}"]`)) === 0) await openMenu(s);
  await s.click(`[data-testid="nav-${name}"]`);
}
