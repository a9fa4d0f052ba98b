// sluice browser client: a plain ES module, no build step, no dependencies.
//
//   import { createClient } from "./sluice.js";
//   const sluice = createClient({ endpoint: "https://ingest.example.com", token: TOKEN });
//   sluice.track("page_view", { url: location.href });
//
// Events are queued and sent in batches with fetch(keepalive) to POST /v1/events while the
// page lives, following the flush contract of docs/clients.md (200 drop, 207 resend the
// `retryable` indices, 429/503 resend after Retry-After, other 4xx drop). When the page is
// hidden or left (visibilitychange -> hidden, pagehide) the rest of the queue goes out with
// navigator.sendBeacon to POST /v1/beacon, the token inside the text/plain body.
//
// Browsers allow 64 KiB of keepalive bodies (fetch keepalive and beacons together) in flight
// per page. Bodies are kept under maxBodyBytes; a beacon the browser refuses is split and
// tried again, later while the page is only hidden, and what is left when the page is
// unloaded is kept in localStorage and sent by the next page of the same origin.

const KIB = 1024;
const STASH = "sluice.stash";

export function createClient(options) {
  const o = {
    batchSize: 50,            // events per fetch batch
    flushIntervalMs: 5000,    // longest an event waits in the queue while the page lives
    maxQueue: 1000,           // queued events kept at most; the oldest are dropped beyond it
    maxBodyBytes: 60 * KIB,   // largest fetch or beacon body (the browser's limit is 64 KiB)
    minRetryMs: 1000,         // first backoff when the answer has no Retry-After
    maxRetryMs: 60000,        // longest backoff
    persist: true,            // keep what could not be sent at unload for the next page
    context: undefined,       // merged under each event's context
    autoContext: true,        // add context.page {url, referrer, title}
    userId: undefined,
    anonymousId: undefined,   // default: a UUID kept in localStorage ("sluice.anonymous_id")
    consent: undefined,       // purposes granted, e.g. ["analytics"]
    onResult: undefined,      // called with {transport, status, events, retry, drop, answer, error}
    ...options,
  };
  if (!o.endpoint) throw new Error("sluice: endpoint is required");
  const base = String(o.endpoint).replace(/\/+$/, "");
  const eventsUrl = o.eventsUrl || base + "/v1/events";
  const beaconUrl = o.beaconUrl || base + "/v1/beacon";
  const token = () => (typeof o.token === "function" ? o.token() : o.token);
  const anonymousId = o.anonymousId || storedAnonymousId();

  let queue = o.persist ? takeStash(() => true) : [];  // what an unloaded page left
  let inflight = null;        // the promise of the fetch in flight
  let timer = null;           // the next fetch flush
  let beaconTimer = null;     // the next beacon attempt while hidden
  let retryAt = 0;            // no fetch before this time (Date.now() ms)
  let failures = 0;           // consecutive failed fetches, for the backoff
  let leaving = false;        // the page is hidden or being left: beacons only
  let stashed = null;         // ids this page put in the stash at pagehide
  const stats = { tracked: 0, fetched: 0, final: 0, retried: 0, dropped: 0, overflow: 0,
                  beacons: 0, beaconEvents: 0, beaconRefused: 0, stashed: 0,
                  restored: queue.length };

  function track(type, properties, opts = {}) {
    const ev = { event_id: uuid(), type, occurred_at: new Date().toISOString() };
    const userId = opts.userId ?? o.userId;
    if (userId) ev.user_id = userId;
    ev.anonymous_id = opts.anonymousId ?? anonymousId;
    const context = { ...(o.autoContext ? pageContext() : {}), ...o.context, ...opts.context };
    if (Object.keys(context).length) ev.context = context;
    const consent = opts.consent ?? o.consent;
    if (consent) ev.consent = Array.isArray(consent) ? { purposes: consent } : consent;
    if (properties) ev.properties = properties;
    queue.push(ev);
    stats.tracked++;
    if (queue.length > o.maxQueue) {
      const over = queue.length - o.maxQueue;
      queue.splice(0, over);
      stats.overflow += over;
    }
    if (leaving) queueMicrotask(beaconAll);
    else if (queue.length >= o.batchSize) flush();
    else schedule();
    return ev.event_id;
  }

  function schedule(delay = o.flushIntervalMs) {
    if (timer || leaving || !queue.length) return;
    timer = setTimeout(() => { timer = null; flush(); }, Math.max(delay, retryAt - Date.now()));
  }

  // Sends one batch with fetch(keepalive); resolves when its answer has been handled.
  function flush() {
    if (inflight) return inflight;
    if (leaving || !queue.length) return Promise.resolve();
    if (Date.now() < retryAt) { schedule(0); return Promise.resolve(); }
    const events = take(o.batchSize, o.maxBodyBytes, 256);
    const more = queue.length > 0;  // this batch was full: the next one goes right after
    inflight = send(events).finally(() => {
      inflight = null;
      // Next: right away (bounded by retryAt) after a full batch or a retry, else on the timer.
      const due = more || queue.length >= o.batchSize || retryAt > Date.now();
      schedule(due ? 0 : o.flushIntervalMs);
    });
    return inflight;
  }

  async function send(events) {
    const body = JSON.stringify({ batch_id: uuid(), sent_at: new Date().toISOString(), events });
    stats.fetched += events.length;
    let res;
    try {
      res = await fetch(eventsUrl, {
        method: "POST", keepalive: true, credentials: "omit", body,
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + token() },
      });
    } catch (error) {  // network failure, refused by CORS, or the keepalive quota is used up
      return retry({ events, status: 0, error }, events, null);
    }
    const status = res.status;
    // Read every answer: the browser counts a keepalive request against its quota until then.
    const answer = await res.json().catch(() => null);
    if (status === 200) {           // every event has a final outcome
      failures = 0;
      stats.final += events.length;
      return report({ transport: "fetch", status, events, answer, retry: [], drop: [] });
    }
    if (status === 207) {           // resend the `retryable` indices, nothing else
      const again = (answer?.results || [])
        .filter((r) => r.status === "retryable" && events[r.index])
        .map((r) => events[r.index]);
      stats.final += events.length - again.length;
      return retry({ events, status, answer }, again, res);
    }
    if (status === 429 || (status >= 500 && status !== 501)) {  // resend everything later
      return retry({ events, status, answer }, events, res);
    }
    stats.dropped += events.length;   // the request itself is wrong: resending will not help
    return report({ transport: "fetch", status, events, answer, retry: [], drop: events });
  }

  // Puts `again` back at the head of the queue; no fetch before Retry-After (or the backoff).
  function retry(info, again, res) {
    failures++;
    const backoff = Math.min(o.maxRetryMs, o.minRetryMs * 2 ** (failures - 1)) *
                    (0.5 + Math.random() / 2);
    retryAt = Date.now() + (retryAfterMs(res?.headers.get("Retry-After")) ?? backoff);
    queue = again.concat(queue);
    stats.retried += again.length;
    if (leaving) queueMicrotask(beaconAll);
    return report({ transport: "fetch", ...info, retry: again, drop: [] });
  }

  // Hands the queue to sendBeacon in bodies of at most maxBodyBytes. A body the browser
  // refuses (its keepalive quota is taken by requests still in flight) is halved and tried
  // again; below 4 KiB the rest waits a second (the page may live on hidden) or the stash.
  function beaconAll() {
    let limit = o.maxBodyBytes;
    while (queue.length) {
      const t = token();
      const events = take(Infinity, limit, 256 + byteLength(t));
      if (events.length) {
        const body = JSON.stringify({ token: t, batch_id: uuid(),
                                      sent_at: new Date().toISOString(), events });
        if (navigator.sendBeacon(beaconUrl, body)) {
          stats.beacons++;
          stats.beaconEvents += events.length;
          report({ transport: "beacon", status: null, events, retry: [], drop: [] });
          continue;
        }
        queue = events.concat(queue);
        stats.beaconRefused++;
      }
      if (limit > 4 * KIB) { limit = Math.floor(limit / 2); continue; }
      if (leaving && !beaconTimer) {
        beaconTimer = setTimeout(() => { beaconTimer = null; if (leaving) beaconAll(); }, 1000);
      }
      break;
    }
  }

  // Removes and returns up to max events from the head of the queue whose batch body stays
  // within bytes (reserve: room kept for the envelope). An event over the limit alone is
  // dropped when bytes is the full maxBodyBytes.
  function take(max, bytes, reserve) {
    const out = [];
    let size = reserve;
    while (queue.length && out.length < max) {
      const n = byteLength(JSON.stringify(queue[0])) + 1;
      if (size + n > bytes) {
        if (out.length || bytes < o.maxBodyBytes) break;
        const big = queue.splice(0, 1);
        stats.dropped++;
        report({ transport: "none", status: 413, events: big, retry: [], drop: big });
        continue;
      }
      size += n;
      out.push(queue.shift());
    }
    return out;
  }

  function report(info) {
    try { o.onResult?.(info); } catch { /* a hook must not break delivery */ }
  }

  function leave(e) {
    leaving = true;
    clearTimeout(timer);
    timer = null;
    beaconAll();
    if (e?.type === "pagehide" && o.persist && queue.length) {
      // Unloading (or entering the back/forward cache): the next page of this origin sends
      // these unless this one is shown again first.
      writeStash(readStash().concat(queue).slice(-o.maxQueue));
      stashed = new Set(queue.map((ev) => ev.event_id));
      stats.stashed += queue.length;
      queue = [];
    }
  }

  function resume() {
    leaving = false;
    clearTimeout(beaconTimer);
    beaconTimer = null;
    if (stashed) {   // shown again: take back what another page has not taken yet
      const mine = stashed;
      stashed = null;
      queue = takeStash((ev) => mine.has(ev.event_id)).concat(queue);
    }
    schedule(0);
  }

  function onVisibility() {
    if (document.visibilityState === "hidden") leave();
    else resume();
  }

  if (typeof document !== "undefined") {
    document.addEventListener("visibilitychange", onVisibility);
    addEventListener("pagehide", leave);
    addEventListener("pageshow", resume);
  }
  schedule(0);

  return {
    track,
    /** Sends one batch now; resolves when its answer has been handled. */
    flush,
    /** Sends everything now with sendBeacon, as when the page is hidden. */
    beacon: beaconAll,
    get queued() { return queue.length; },
    stats: () => ({ ...stats, queued: queue.length, inflight: inflight !== null }),
    close() {
      document.removeEventListener("visibilitychange", onVisibility);
      removeEventListener("pagehide", leave);
      removeEventListener("pageshow", resume);
      leave();
    },
  };
}

function pageContext() {
  if (typeof location === "undefined") return {};
  const page = { url: location.href };
  if (document.referrer) page.referrer = document.referrer;
  if (document.title) page.title = document.title.slice(0, 512);
  return { page };
}

function storedAnonymousId() {
  try {
    let id = localStorage.getItem("sluice.anonymous_id");
    if (!id) localStorage.setItem("sluice.anonymous_id", (id = uuid()));
    return id;
  } catch {
    return uuid();  // storage blocked: one id for this page
  }
}

function readStash() {
  try {
    const list = JSON.parse(localStorage.getItem(STASH) || "[]");
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function writeStash(list) {
  try {
    if (list.length) localStorage.setItem(STASH, JSON.stringify(list));
    else localStorage.removeItem(STASH);
  } catch { /* storage full or blocked: those events are lost */ }
}

// Removes the stashed events that match from the stash and returns them.
function takeStash(match) {
  const list = readStash();
  const mine = list.filter(match);
  if (mine.length) writeStash(list.filter((ev) => !match(ev)));
  return mine;
}

// Retry-After: delay-seconds or an HTTP date; null when absent or unreadable.
function retryAfterMs(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

function byteLength(s) {
  return new TextEncoder().encode(s).length;
}

// crypto.randomUUID needs a secure context; getRandomValues does not.
function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
