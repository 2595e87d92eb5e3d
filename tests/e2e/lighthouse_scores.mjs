// Runs Lighthouse on a list of pages in one Chromium, one after another, and prints one JSON line
// per page: its url, form factor, the four category scores (0..1) and the audits that lost points.
// Input (stdin): [{"url", "preset": "mobile"|"desktop", "headers": {...}, "report": "path.json"}].
// Chromium is CHROME_PATH (Debian's); Lighthouse comes from package.json (make node-tools).
import { writeFileSync } from "node:fs";
import * as chromeLauncher from "chrome-launcher";
import lighthouse from "lighthouse";
import desktopConfig from "lighthouse/core/config/desktop-config.js";

const CATEGORIES = ["performance", "accessibility", "best-practices", "seo"];
// Mobile runs slow the CPU down to a low-tier phone's. Lighthouse's 4x assumes a fast, idle host;
// on a slower or busy one (a CI machine shared by parallel jobs) 4x emulates a far slower phone than
// intended, so the multiplier is calibrated from the host's benchmark index as Lighthouse's
// docs/throttling.md ("Calibrating multipliers") advises: host index / the low-tier phone's index
// (264, a Moto G Power 2022, the figure Chrome DevTools' calibration uses), never above 4 nor below 1.
const LOW_TIER_PHONE_BENCHMARK = 264;
const DEFAULT_MULTIPLIER = 4;

function calibrated(benchmarkIndex) {
  if (!benchmarkIndex) return DEFAULT_MULTIPLIER;
  return Math.min(DEFAULT_MULTIPLIER, Math.max(1, benchmarkIndex / LOW_TIER_PHONE_BENCHMARK));
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const runs = JSON.parse(input);

const chrome = await chromeLauncher.launch({
  chromePath: process.env.CHROME_PATH,
  chromeFlags: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run"],
});
try {
  // A first run, not reported, warms Chromium up and measures the host's benchmark index.
  const warmUp = await lighthouse(runs[0].url, { port: chrome.port, logLevel: "error", onlyCategories: ["performance"],
                                                 extraHeaders: runs[0].headers || {} });
  let benchmarkIndex = warmUp.lhr.environment.benchmarkIndex;
  for (const run of runs) {
    const flags = { port: chrome.port, output: "json", logLevel: "error", onlyCategories: CATEGORIES,
                    extraHeaders: run.headers || {} };
    const multiplier = run.preset === "desktop" ? 1 : calibrated(benchmarkIndex);
    if (run.preset !== "desktop") flags.throttling = { cpuSlowdownMultiplier: multiplier };
    const result = await lighthouse(run.url, flags, run.preset === "desktop" ? desktopConfig : undefined);
    const lhr = result.lhr;
    benchmarkIndex = lhr.environment.benchmarkIndex || benchmarkIndex;
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
    console.log(JSON.stringify({ url: run.url, preset: run.preset, scores, lost, multiplier,
                                 benchmarkIndex: lhr.environment.benchmarkIndex,
                                 error: lhr.runtimeError ? lhr.runtimeError.message : null }));
  }
} finally {
  await chrome.kill();
}
