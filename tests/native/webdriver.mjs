// A small W3C WebDriver client (fetch only, no dependencies) for driving the real app window
// through tauri-driver, which hands the session to WebKitWebDriver. Each helper waits for its
// element the way a person would wait for the screen, with a bounded timeout.
const ELEMENT = "element-6066-11e4-a52f-4f735e09b4ea";

export class Session {
  constructor(base, id) {
    this.base = base;
    this.id = id;
  }

  static async start(base, application, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    let last;
    while (Date.now() < deadline) {
      try {
        const r = await raw(base, "POST", "/session", {
          capabilities: { alwaysMatch: { "tauri:options": { application } }, firstMatch: [{}] },
        });
        return new Session(base, r.sessionId);
      } catch (e) {
        last = e;
        await sleep(500);
      }
    }
    throw new Error(`no WebDriver session: ${last}`);
  }

  cmd(method, path, body) {
    return raw(this.base, method, `/session/${this.id}${path}`, body);
  }

  async end() {
    try {
      await this.cmd("DELETE", "");
    } catch {
      /* the window may already be gone */
    }
  }

  /**
   * The elements matching `css`. WebKitWebDriver can answer "stale element reference" when the
   * page re-renders while it collects them; that answer says nothing about the page, so it is
   * asked again (a few times, then the error stands).
   */
  async elements(css) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.cmd("POST", "/elements", { using: "css selector", value: css });
      } catch (e) {
        if (attempt >= 5 || !/stale element/i.test(String(e.message))) throw e;
        await sleep(100);
      }
    }
  }

  /** Waits for an element matching `css` to be present and returns its id. */
  async find(css, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = await this.elements(css);
      if (found.length > 0) return elementId(found[0]);
      if (Date.now() > deadline) throw new Error(`not found within ${timeoutMs} ms: ${css}`);
      await sleep(150);
    }
  }

  async count(css) {
    return (await this.elements(css)).length;
  }

  async gone(css, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    while ((await this.count(css)) > 0) {
      if (Date.now() > deadline) throw new Error(`still present after ${timeoutMs} ms: ${css}`);
      await sleep(150);
    }
  }

  /** Clicks the element, scrolled to the middle of the window first: the case screen's action
   *  bar is fixed at the bottom and would take a click meant for a field beneath it. */
  async click(css) {
    const el = await this.find(css);
    await this.cmd("POST", "/execute/sync", {
      script: `const e = document.querySelector(arguments[0]);
        (e && e.closest("select") || e)?.scrollIntoView({ block: "center" });`,
      args: [css],
    });
    await this.cmd("POST", `/element/${el}/click`, {});
  }

  async type(css, text) {
    const el = await this.find(css);
    await this.cmd("POST", `/element/${el}/clear`, {});
    await this.cmd("POST", `/element/${el}/value`, { text });
  }

  async text(css) {
    const el = await this.find(css);
    return this.cmd("GET", `/element/${el}/text`);
  }

  async attr(css, name) {
    const el = await this.find(css);
    return this.cmd("GET", `/element/${el}/attribute/${name}`);
  }

  /** Waits until `f()` is truthy. */
  async until(what, f, timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await f();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(250);
    }
  }

  async title() {
    return this.cmd("GET", "/title");
  }

  async screenshot() {
    return Buffer.from(await this.cmd("GET", "/screenshot"), "base64");
  }

  async setSize(width, height) {
    try {
      await this.cmd("POST", "/window/rect", { width, height });
    } catch {
      /* some drivers cannot resize; the screenshot is then at the window's own size */
    }
  }
}

async function raw(base, method, path, body) {
  const r = await fetch(base + path, {
    // no command may hang the suite: WebKit's snapshot can wait for a frame that never comes
    signal: AbortSignal.timeout(60_000),
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await r.json().catch(() => ({}));
  if (!r.ok) {
    const v = json.value ?? {};
    throw new Error(`${method} ${path}: ${r.status} ${v.error ?? ""} ${v.message ?? ""}`);
  }
  return json.value;
}

/** The id inside an element reference (W3C key, or the legacy JSON Wire "ELEMENT"). */
export function elementId(ref) {
  return ref[ELEMENT] ?? ref.ELEMENT ?? Object.values(ref)[0];
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const TAB = "\uE004";
