// Loads web UI pages of a running Cyberbrain server in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core) and prints one JSON report on stdout: for each page
// its HTTP status, title, visible text, navigation links, same-origin-ness of every request,
// uncaught page errors and a screenshot path. The Rust test (tests/e2e/webui.rs) makes the
// assertions, so expectations live in one place.
//
//   node tests/e2e/webui.mjs <base-url> <screenshot-dir> <path>...
//   env: CYBERBRAIN_CHROMIUM (default /usr/bin/chromium); playwright-core from ./node_modules or NODE_PATH.
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

// A CommonJS require resolves through NODE_PATH as well as ./node_modules; `import` would not.
const require = createRequire(import.meta.url);
let chromium;
try {
  ({ chromium } = require("playwright-core"));
} catch (error) {
  console.error(`playwright-core is not installed (${error.message}); run ./scripts/test, which runs npm ci`);
  process.exit(3);
}

const [baseUrl, screenshotDir, ...pagePaths] = process.argv.slice(2);
if (!baseUrl || !screenshotDir || pagePaths.length === 0) {
  console.error("usage: node webui.mjs <base-url> <screenshot-dir> <path>...");
  process.exit(2);
}
const origin = new URL(baseUrl).origin;

// Flags from ENVIRONMENT.md: the machine's network is closed, so every background connection
// Chromium would try is switched off; running as root needs --no-sandbox.
const chromiumFlags = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const userDataDir = mkdtempSync(path.join(tmpdir(), "cyberbrain-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CYBERBRAIN_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: chromiumFlags,
  viewport: { width: 1280, height: 900 },
});

const report = { chromium: context.browser()?.version() ?? null, pages: [] };
try {
  const page = context.pages()[0] ?? (await context.newPage());
  let requests = [];
  let pageErrors = [];
  page.on("request", (request) => requests.push(request.url()));
  page.on("pageerror", (error) => pageErrors.push(String(error)));

  for (const pagePath of pagePaths) {
    requests = [];
    pageErrors = [];
    const url = new URL(pagePath, baseUrl).toString();
    const response = await page.goto(url, { waitUntil: "load", timeout: 30_000 });
    const screenshot = path.join(
      screenshotDir,
      `webui-${pagePath.split("/").filter(Boolean).pop() ?? "dashboard"}.png`,
    );
    await page.screenshot({ path: screenshot, fullPage: true });
    const details = await page.evaluate(() => ({
      title: document.title,
      text: document.body ? document.body.innerText : "",
      navLinks: Array.from(
        document.querySelectorAll("nav a[href], [role=navigation] a[href]"),
        (a) => a.getAttribute("href"),
      ),
      hasMain: document.querySelector("main") !== null,
    }));
    report.pages.push({
      path: pagePath,
      status: response ? response.status() : null,
      contentType: response ? (response.headers()["content-type"] ?? "") : "",
      ...details,
      foreignRequests: requests.filter(
        (r) => !r.startsWith(origin + "/") && !/^(data|blob|about):/.test(r),
      ),
      pageErrors,
      screenshot,
    });
  }
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(report));
