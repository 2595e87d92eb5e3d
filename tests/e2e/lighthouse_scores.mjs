// Runs Lighthouse on a list of pages in one Chromium, one after another, and prints one JSON line
// per page: its url, form factor, the four category scores (0..1) and the audits that lost points.
// Input (stdin): [{"url", "preset": "mobile"|"desktop", "headers": {...}, "report": "path.json"}].
// Chromium is CHROME_PATH (Debian's); Lighthouse comes from package.json (make node-tools).
import { writeFileSync } from "node:fs";
import * as chromeLauncher from "chrome-launcher";
import lighthouse from "lighthouse";
import desktopConfig from "lighthouse/core/config/desktop-config.js";

const CATEGORIES = ["performance", "accessibility", "best-practices", "seo"];

let input = "";
for await (const chunk of process.stdin) input += chunk;
const runs = JSON.parse(input);

const chrome = await chromeLauncher.launch({
  chromePath: process.env.CHROME_PATH,
  chromeFlags: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run"],
});
try {
  for (const run of runs) {
    const flags = { port: chrome.port, output: "json", logLevel: "error", onlyCategories: CATEGORIES,
                    extraHeaders: run.headers || {} };
    const result = await lighthouse(run.url, flags, run.preset === "desktop" ? desktopConfig : undefined);
    const lhr = result.lhr;
    if (run.report) writeFileSync(run.report, result.report);
    const scores = {};
    const lost = [];
    for (const [id, category] of Object.entries(lhr.categories)) {
      scores[id] = category.score;
      for (const ref of category.auditRefs) {
        const audit = lhr.audits[ref.id];
        if (ref.weight > 0 && audit.score !== null && audit.score < 1) {
          lost.push(`${id}: ${ref.id} (${audit.score}${audit.displayValue ? ", " + audit.displayValue : ""})`);
        }
      }
    }
    console.log(JSON.stringify({ url: run.url, preset: run.preset, scores, lost,
                                 error: lhr.runtimeError ? lhr.runtimeError.message : null }));
  }
} finally {
  await chrome.kill();
}
