// Opens the API reference page in headless Chromium with every network request refused,
// checks that it rendered the title and every operation of the OpenAPI document (its
// method and path), that nothing asked the network for anything and no script failed, and
// writes a screenshot.
// Usage: node check.mjs PAGE OPENAPI_JSON SCREENSHOT
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const [page, documentPath, screenshot] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(documentPath, "utf8"));
// Each operation: as its tag lists it (the method, then the path), and its own page's
// address (`#/<tag>/<operationId>`) and heading (its summary).
const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, op]) => ({
    listed: `${method.toUpperCase()}\n${path}`,
    route: `#/${op.tags[0]}/${op.operationId}`,
    summary: op.summary,
  })),
);
// The operation the screenshot shows.
const shown = "create_s3";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const failures = [];
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  const requested = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("file:") || url.startsWith("data:") || url.startsWith("blob:")) {
      return route.continue();
    }
    requested.push(url);
    return route.abort();
  });
  const tab = await context.newPage();
  const errors = [];
  tab.on("pageerror", (e) => errors.push(e.message));
  // What the page's own Content-Security-Policy stopped before it reached the network.
  const blocked = [];
  tab.on("console", (m) => {
    if (m.text().includes("Content Security Policy")) blocked.push(m.text());
  });
  const url = pathToFileURL(page).href;
  await tab.goto(url, { waitUntil: "load" });
  await tab.waitForSelector(`text=${doc.info.title}`, { timeout: 30000 });
  // The title shows before the menu has every operation: wait for all of them (what is
  // still missing after the wait is reported below).
  await tab
    .waitForFunction(
      (items) => items.every((i) => document.body.innerText.includes(i)),
      operations.map((o) => o.listed),
      { timeout: 30000 },
    )
    .catch(() => {});
  const text = await tab.evaluate(() => document.body.innerText);
  for (const { listed, route, summary } of operations) {
    if (!text.includes(listed)) {
      failures.push(`operation not listed: ${listed.replace("\n", " ")}`);
    }
    // A fresh load at the operation's address: the page routes by it when it starts.
    const opened = await context.newPage();
    opened.on("pageerror", (e) => errors.push(e.message));
    await opened.goto(url + route, { waitUntil: "load" });
    try {
      await opened.locator("h1, h2", { hasText: summary }).first().waitFor({ timeout: 10000 });
    } catch {
      failures.push(`operation page not rendered: ${route} (${summary})`);
    }
    if (route.endsWith(`/${shown}`)) await opened.screenshot({ path: screenshot });
    await opened.close();
  }
  if (!text.includes(doc.info.title)) failures.push(`title not rendered: ${doc.info.title}`);
  for (const url of requested) failures.push(`the page asked the network for ${url}`);
  for (const e of errors) failures.push(`script error: ${e}`);
  console.log(
    `== reference page: ${operations.length} operations rendered, ` +
      `${requested.length} network requests, ${blocked.length} stopped by the page's ` +
      `own policy (Redoc's attribution logo), screenshot in ${screenshot}`,
  );
} finally {
  await browser.close();
}
if (failures.length > 0) {
  console.error(failures.join("\n"));
  process.exit(1);
}
