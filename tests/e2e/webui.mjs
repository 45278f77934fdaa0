// Loads web UI pages of a running Cyberbrain server in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core) and prints one JSON report on stdout: for each page
// its HTTP status, title, visible text, navigation links, same-origin-ness of every request,
// uncaught page errors and a screenshot path. The Rust test (tests/e2e/webui.rs) makes the
// assertions, so expectations live in one place.
//
// With CYBERBRAIN_E2E_ADD_CONTAINER=<id> it also uses the allowlist page like a person would:
// fills in "Add a container", submits, then presses that row's "Disable" button; the Rust test
// checks the result through REST.
//
// Run scenarios, each switched on by its variable:
//   CYBERBRAIN_E2E_LAUNCH_TASK=<key>   press the dashboard's "Run <key>" button, wait for the run
//                                      to end, then read its page (jobs, artifacts, report);
//   CYBERBRAIN_E2E_HOSTILE_RUN=<id>    open a run whose report.md holds XSS payloads and record
//                                      any dialog, script or javascript: link that came alive;
//   CYBERBRAIN_E2E_APPROVE_RUN=<id>    press that run's "Approve" button on the Approvals page.
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

  const containerToAdd = process.env.CYBERBRAIN_E2E_ADD_CONTAINER;
  if (containerToAdd) {
    report.allowlistForm = await addAndDisableContainer(page, containerToAdd);
  }
  const launchTask = process.env.CYBERBRAIN_E2E_LAUNCH_TASK;
  if (launchTask) {
    report.launch = await launchFromDashboard(page, launchTask);
  }
  const hostileRun = process.env.CYBERBRAIN_E2E_HOSTILE_RUN;
  if (hostileRun) {
    report.hostile = await readHostileReport(page, hostileRun);
  }
  const approveRun = process.env.CYBERBRAIN_E2E_APPROVE_RUN;
  if (approveRun) {
    report.approve = await approveOnTheApprovalsPage(page, approveRun);
  }
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(report));

// Submits a form by clicking `button` and waits for the page the server answers with.
async function submitAndWait(page, button) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST", { timeout: 30_000 }),
    button.click(),
  ]);
  await page.waitForLoadState("load");
  return response.status();
}

async function addAndDisableContainer(page, containerId) {
  await page.goto(new URL("/webui/allowlist", baseUrl).toString(), { waitUntil: "load" });
  const form = page.locator('form[action="/webui/allowlist"]');
  await form.locator('input[name="container_id"]').fill(containerId);
  await form.locator('input[name="name"]').fill("added in Chromium");
  await form.locator('input[name="tags"]').fill("browser, e2e");
  const addStatus = await submitAndWait(page, form.getByRole("button", { name: "Add to allowlist" }));
  const afterAdd = await page.evaluate(() => document.body.innerText);

  const row = page.locator("tr", { hasText: containerId });
  const toggleStatus = await submitAndWait(page, row.getByRole("button", { name: "Disable" }));
  const afterToggle = await page.evaluate(() => document.body.innerText);
  const screenshot = path.join(screenshotDir, "webui-allowlist-after-form.png");
  await page.screenshot({ path: screenshot, fullPage: true });
  return { addStatus, afterAdd, toggleStatus, afterToggle, url: page.url(), screenshot };
}

// Waits (through the REST API, not by reloading the page) until the run's report is written.
async function waitForReport(page, runId) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const response = await page.request.get(new URL(`/api/runs/${runId}/report/`, baseUrl).toString());
    if (response.ok() && (await response.json()).markdown) {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}

async function launchFromDashboard(page, task) {
  await page.goto(new URL("/", baseUrl).toString(), { waitUntil: "load" });
  const form = page.locator(`form:has(input[name="task"][value="${task}"])`);
  const launchStatus = await submitAndWait(page, form.getByRole("button"));
  const runUrl = page.url();
  const runId = runUrl.split("/").filter(Boolean).pop();
  const flash = await page.evaluate(() => document.querySelector(".flash")?.innerText ?? "");
  const reported = await waitForReport(page, runId);
  await page.goto(runUrl, { waitUntil: "load" });
  const details = await page.evaluate(() => {
    const article = document.querySelector("article.report");
    return {
      heading: document.querySelector("h1")?.innerText ?? "",
      text: document.body.innerText,
      reportHeadings: article ? Array.from(article.querySelectorAll("h1, h2"), (h) => h.innerText) : [],
      reportTables: article ? article.querySelectorAll("table").length : 0,
      downloads: Array.from(document.querySelectorAll('a[href^="/api/artifacts/"]'), (a) => a.getAttribute("href")),
      autoRefresh: document.querySelector("[data-auto-refresh]") !== null,
    };
  });
  const screenshot = path.join(screenshotDir, "webui-run.png");
  await page.screenshot({ path: screenshot, fullPage: true });
  // A download link serves the file as an attachment.
  let download = null;
  if (details.downloads.length > 0) {
    const response = await page.request.get(new URL(details.downloads[0], baseUrl).toString());
    download = { status: response.status(), disposition: response.headers()["content-disposition"] ?? "" };
  }
  return { launchStatus, runUrl, runId, flash, reported, ...details, download, screenshot };
}

async function readHostileReport(page, runId) {
  const dialogs = [];
  const onDialog = (dialog) => {
    dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  };
  page.on("dialog", onDialog);
  const errors = [];
  const onError = (error) => errors.push(String(error));
  page.on("pageerror", onError);
  const response = await page.goto(new URL(`/webui/runs/${runId}`, baseUrl).toString(), { waitUntil: "load" });
  // Give anything that would fire (onerror handlers, timers) a moment to do so.
  await page.waitForTimeout(500);
  const details = await page.evaluate(() => {
    const article = document.querySelector("article.report");
    if (!article) {
      return { found: false };
    }
    return {
      found: true,
      text: article.innerText,
      scripts: article.querySelectorAll("script").length,
      images: article.querySelectorAll("img").length,
      frames: article.querySelectorAll("iframe, object, embed").length,
      handlers: Array.from(article.querySelectorAll("*")).filter((el) =>
        Array.from(el.attributes).some((a) => a.name.startsWith("on")),
      ).length,
      scriptLinks: Array.from(article.querySelectorAll("a[href]"), (a) => a.getAttribute("href")).filter((href) =>
        /^\s*(javascript|data|vbscript):/i.test(href),
      ),
    };
  });
  const screenshot = path.join(screenshotDir, "webui-run-hostile-report.png");
  await page.screenshot({ path: screenshot, fullPage: true });
  page.off("dialog", onDialog);
  page.off("pageerror", onError);
  return { status: response ? response.status() : null, dialogs, errors, ...details, screenshot };
}

async function approveOnTheApprovalsPage(page, runId) {
  await page.goto(new URL("/webui/approvals", baseUrl).toString(), { waitUntil: "load" });
  const listed = await page.evaluate(() => document.body.innerText);
  const row = page.locator("tr", { hasText: `#${runId}` });
  const approveStatus = await submitAndWait(page, row.getByRole("button", { name: "Approve" }));
  const after = await page.evaluate(() => document.body.innerText);
  const screenshot = path.join(screenshotDir, "webui-approvals-after.png");
  await page.screenshot({ path: screenshot, fullPage: true });
  return { listed, approveStatus, url: page.url(), after, screenshot };
}
