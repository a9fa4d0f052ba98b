// Drives a real headless Chromium (Debian's `chromium`) with playwright-core through the
// browser test's scenario; run by tests/integration/test_browser.py.
//
//   node tests/browser/drive.mjs '{"pages": [{"name": "allowed", "url": "http://..."}], "bulk": 300}'
//
// For each page (its own browser context), the test page (tests/browser/page.html, which loads
// clients/js/sluice.js) records events in five phases:
//   alive     tracked, then client.flush(): fetch(keepalive) to POST /v1/events
//   preflight a fetch of its own to POST /v1/beacon as application/json: needs an OPTIONS
//             preflight, answered 204 when the origin is allowed
//   hidden    `bulk` larger events (well over 64 KiB), then visibilitychange -> hidden: several
//             sendBeacon bodies (the browser lets 64 KiB be in flight; the client retries
//             the rest while the page stays hidden)
//   pagehide  tracked after the page is visible again, then a pagehide event
//   navigate  `bulk` larger events, then the page navigates away (a real pagehide: one
//             beacon's worth leaves, the rest is stashed in localStorage) and is closed
//   close     in a new page of the origin, which sends the stash with fetch: tracked, then
//             the page is closed (the browser's own pagehide)
// A page whose spec says "delivers": false (its origin is refused) is not waited for.
// It prints one JSON line {pages: {name: {phase: {ids, ...}, results, log}}}, keeps the
// browser open (beacons still in flight) until its stdin closes, then exits.
import { chromium } from "playwright-core";

const spec = JSON.parse(process.argv[2]);
const bulk = spec.bulk ?? 300;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const args = process.getuid && process.getuid() === 0 ? ["--no-sandbox"] : [];

const browser = await chromium.launch({ executablePath, args, headless: true, timeout: 60000 });
const out = { browser: browser.version(), pages: {} };
try {
  for (const p of spec.pages) {
    const r = (out.pages[p.name] = { log: [] });
    await scenario(p, r).catch(async (e) => {
      r.error = String(e.stack || e);
      if (r.second) {
        r.secondState = await r.second.evaluate(() => ({ stats: window.sluiceTest.client.stats(),
                                                         results: window.sluiceTest.results }))
          .catch((x) => String(x));
      }
      delete r.second;
    });
  }
} finally {
  process.stdout.write(JSON.stringify(out) + "\n");
}

// Beacons and keepalive fetches outlive their page, not the browser: wait for the test.
await new Promise((resolve) => {
  process.stdin.on("end", resolve).on("close", resolve).resume();
  setTimeout(resolve, (spec.holdSeconds ?? 120) * 1000);
});
await browser.close();

// Fills r phase by phase (what it got so far is reported when a step fails).
async function scenario({ url, delivers = true }, r) {
  const context = await browser.newContext();
  const log = r.log;
  const page = await open(context, url, log);

  r.alive = await page.evaluate(async () => {
    const { client } = window.sluiceTest;
    const ids = [];
    for (let i = 0; i < 5; i++) {
      ids.push(client.track("page_view", { url: `${location.origin}/alive/${i}`, title: "alive" },
                            { userId: "browser-user-1" }));
    }
    ids.push(client.track("search", { query: "red shoes", result_count: 3 }));
    await client.flush();
    return { ids, queued: client.queued };
  });

  r.preflight = await page.evaluate(async () => {
    const { endpoint, token } = window.sluiceTest;
    const id = crypto.randomUUID();
    const now = new Date().toISOString();
    const body = JSON.stringify({ token, batch_id: crypto.randomUUID(), sent_at: now, events: [
      { event_id: id, type: "page_view", occurred_at: now, anonymous_id: "preflight",
        consent: { purposes: ["analytics"] }, properties: { url: location.href } }] });
    try {
      const res = await fetch(endpoint + "/v1/beacon", {
        method: "POST", keepalive: true, headers: { "Content-Type": "application/json" }, body });
      return { ids: [id], status: res.status };
    } catch (e) {
      return { ids: [id], status: 0, error: String(e) };
    }
  });

  r.hidden = await page.evaluate((n) => {
    const { client, setVisibility } = window.sluiceTest;
    const ids = [];
    for (let i = 0; i < n; i++) ids.push(client.track("page_view", bigPageView("hidden", i)));
    setVisibility("hidden");
    return { ids, beaconsAtOnce: client.stats().beacons };
  }, bulk);
  // The browser refuses beacons over its 64 KiB in-flight quota: the client retries while the
  // page stays hidden.
  await page.waitForFunction(() => window.sluiceTest.client.queued === 0, null, { timeout: 60000 });
  r.hidden.stats = await page.evaluate(() => {
    window.sluiceTest.setVisibility("visible");
    return window.sluiceTest.client.stats();
  });

  r.pagehide = await page.evaluate(() => {
    const { client } = window.sluiceTest;
    const ids = [0, 1, 2].map((i) => client.track("page_view", { url: `${location.origin}/ph/${i}` }));
    const before = client.stats().beacons;
    window.dispatchEvent(new PageTransitionEvent("pagehide", { persisted: false }));
    const beacons = client.stats().beacons - before;
    window.dispatchEvent(new PageTransitionEvent("pageshow", { persisted: false }));
    return { ids, beacons, queuedAfter: client.queued };
  });

  // Left with more than one beacon can carry: the rest is stashed for the next page.
  r.navigate = await page.evaluate((n) => {
    const { client } = window.sluiceTest;
    const ids = [];
    for (let i = 0; i < n; i++) ids.push(client.track("page_view", bigPageView("nav", i)));
    return { ids };
  }, bulk);
  r.results = await page.evaluate(() => window.sluiceTest.results);
  await page.goto("about:blank");
  await page.close();

  // The next page of the origin sends the stash with fetch, then is closed with queued events.
  // (From an origin sluice refuses, that fetch keeps failing: nothing to wait for.)
  const second = await open(context, url, log);
  r.second = second;
  if (delivers) {
    await second.waitForFunction(() => {
      const s = window.sluiceTest.client.stats();
      return s.queued === 0 && !s.inflight;
    }, null, { timeout: 60000 });
  }
  r.close = await second.evaluate(() => {
    const { client } = window.sluiceTest;
    const restored = client.stats();
    const ids = [0, 1, 2].map((i) => client.track("page_view", { url: `${location.origin}/close/${i}` }));
    return { ids, restored, results: window.sluiceTest.results };
  });
  delete r.second;
  await second.close();
}

async function open(context, url, log) {
  const page = await context.newPage();
  page.on("console", (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => log.push(`pageerror: ${e}`));
  page.on("requestfailed", (q) => log.push(`requestfailed: ${q.method()} ${q.url()} ${q.failure()?.errorText}`));
  page.on("response", (s) => log.push(`response: ${s.request().method()} ${s.url()} ${s.status()}`));
  await page.goto(url);
  await page.waitForFunction(() => window.sluiceTest !== undefined, null, { timeout: 30000 });
  await page.evaluate(() => {
    window.bigPageView = (phase, i) =>
      ({ url: `${location.origin}/${phase}/${i}?pad=${"x".repeat(300)}`, title: phase });
  });
  return page;
}
