"""The browser edge in a real browser: Debian's headless Chromium, driven by playwright-core
(tests/browser/drive.mjs), loads clients/js/sluice.js in a page served from another origin than
sluice, records events while the page lives (fetch keepalive to /v1/events) and as it is hidden,
left and closed (sendBeacon to /v1/beacon); every one of them is then read back from the real
Kafka broker, exactly once. A page from an origin the tenant does not allow gets nothing into
Kafka, and sluice counts the refusals.

Needs chromium (Debian) and tests/browser/node_modules/playwright-core: scripts/deps.sh --test
installs both.
"""

import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import unittest

import sluice_it as it

BROWSER_DIR = os.path.join(it.SOURCE_DIR, "tests", "browser")
CLIENT_JS = os.path.join(it.SOURCE_DIR, "clients", "js", "sluice.js")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
BULK = 300            # events of the hidden and navigate phases (about 150 KB each)
PHASES = ("alive", "preflight", "hidden", "pagehide", "navigate", "close")
FAULT = 'sluice_request_faults_total{code="origin_not_allowed"}'


class PageHandler(http.server.BaseHTTPRequestHandler):
    """Serves the test page at / and the client at /sluice.js, nothing else."""

    FILES = {"/": (os.path.join(BROWSER_DIR, "page.html"), "text/html; charset=utf-8"),
             "/sluice.js": (CLIENT_JS, "text/javascript; charset=utf-8")}

    def do_GET(self):
        path, content_type = self.FILES.get(self.path.split("?", 1)[0], (None, None))
        if path is None:
            self.send_error(404)
            return
        with open(path, "rb") as f:
            data = f.read()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def serve_pages():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def summary(value):
    """The driver's report with event id lists replaced by their length (for messages)."""
    def short(v):
        if isinstance(v, dict):
            return {k: (len(x) if k in ("ids", "events", "retry") and isinstance(x, list)
                        else short(x)) for k, x in v.items() if k != "log"}
        if isinstance(v, list):
            return [short(x) for x in v]
        return v
    return json.dumps(short(value))[:8000]


class BrowserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [what for what, ok in (
            ("node", shutil.which("node")), (CHROMIUM, os.access(CHROMIUM, os.X_OK)),
            ("tests/browser/node_modules/playwright-core",
             os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core"))))
            if not ok]
        if missing:
            raise RuntimeError(f"missing {', '.join(missing)}: run scripts/deps.sh --test")
        cls.servers = []
        cls.sluice = None
        cls.driver = None
        try:
            cls._start()
        except BaseException:
            cls._stop()
            raise

    @classmethod
    def _start(cls):
        # Two page origins on other ports than sluice: the first is allowed for tenant t1, the
        # second only for tenant t2 (so its preflights pass, but t1's token may not send from it).
        allowed_srv, cls.allowed = serve_pages()
        foreign_srv, cls.foreign = serve_pages()
        cls.servers = [allowed_srv, foreign_srv]
        cls.sluice = it.Sluice([f"cors.origins=t1={cls.allowed},https://shop.example "
                                f"t2={cls.foreign}"]).start()
        cls.token = it.mint_token("t1")
        cls.faults_before = cls.sluice.metrics().get(FAULT, 0.0)
        endpoint = f"http://{cls.sluice.public}"
        query = f"/?endpoint={endpoint}&token={cls.token}"
        spec = {"bulk": BULK, "holdSeconds": 240, "pages": [
            {"name": "allowed", "url": cls.allowed + query},
            {"name": "foreign", "url": cls.foreign + query, "delivers": False}]}
        cls.driver_err = open(os.path.join(cls.sluice.tmpdir, "driver.log"), "wb")
        cls.driver = subprocess.Popen(["node", os.path.join(BROWSER_DIR, "drive.mjs"),
                                       json.dumps(spec)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=cls.driver_err, cwd=BROWSER_DIR,
                                      env={**os.environ, "CHROMIUM": CHROMIUM})
        line = []
        reader = threading.Thread(target=lambda: line.append(cls.driver.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(180)
        if not line or not line[0]:
            raise RuntimeError(f"the browser driver printed nothing; stderr:\n{cls.driver_log()}")
        cls.report = json.loads(line[0])
        print(f"chromium {cls.report['browser']}", flush=True)
        for name, page in cls.report["pages"].items():
            if "error" in page:
                raise RuntimeError(f"page {name}: {page['error']}\n{summary(page)}\n"
                                   + "\n".join(page.get("log", [])[-60:]))

    @classmethod
    def driver_log(cls):
        try:
            with open(cls.driver_err.name, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except (OSError, AttributeError):
            return ""

    @classmethod
    def _stop(cls):
        if cls.driver is not None:
            try:
                cls.driver.stdin.close()  # the driver closes the browser and exits
                cls.driver.wait(60)
            except (OSError, subprocess.TimeoutExpired):
                cls.driver.kill()
                cls.driver.wait(10)
            cls.driver.stdout.close()
            cls.driver_err.close()
        for server in cls.servers:
            server.shutdown()
            server.server_close()

    @classmethod
    def tearDownClass(cls):
        s = cls.sluice
        try:
            cls._stop()
            if s is not None:
                rc = s.stop()
                it.check_sanitizer_output(unittest.TestCase(), s.stderr())
                if rc != 0:
                    raise AssertionError(f"sluice exited with {rc} after SIGTERM; stderr:\n"
                                         f"{s.stderr()[-4000:]}")
        finally:
            if s is not None:
                s.cleanup()

    def page(self, name):
        return self.report["pages"][name]

    def ids(self, name, phases=PHASES):
        return [i for phase in phases for i in self.page(name)[phase]["ids"]]

    def test_1_allowed_page_events_reach_kafka_exactly_once(self):
        page = self.page("allowed")
        ids = self.ids("allowed")
        self.assertEqual(len(ids), len(set(ids)))
        by_id = it.wait_for_event_ids(ids, timeout=90)
        found = [i for i in ids if i in by_id]
        counts = {p: sum(1 for i in page[p]["ids"] if i in by_id) for p in PHASES}
        print(f"allowed origin {self.allowed}: recorded {len(ids)} events, found {len(found)} "
              f"in Kafka, per phase {counts}; duplicates "
              f"{sum(len(by_id[i]) - 1 for i in found)}", flush=True)
        missing = {p: [i for i in page[p]["ids"] if i not in by_id] for p in PHASES}
        self.assertFalse(any(missing.values()),
                         f"recorded events missing from Kafka: "
                         f"{ {p: len(m) for p, m in missing.items()} }\n"
                         f"{json.dumps({p: page[p] for p in PHASES if p != 'navigate'})[:3000]}")
        dups = {i: len(by_id[i]) for i in ids if len(by_id[i]) != 1}
        self.assertEqual(dups, {}, "events produced more than once")
        for i in ids:
            m = by_id[i][0]
            self.assertEqual(m["headers"].get("tenant"), "t1")
            value = json.loads(m["payload"])
            self.assertEqual(value["event_id"], i)
            if value["type"] == "page_view":
                self.assertTrue(value["properties"]["url"].startswith(self.allowed + "/"), value)

    def test_2_client_used_every_path(self):
        page = self.page("allowed")
        fetches = [r for r in page["results"] if r["transport"] == "fetch"]
        self.assertTrue(fetches and fetches[0]["status"] == 200, page["results"][:3])
        self.assertEqual(page["alive"]["queued"], 0)
        self.assertEqual(page["preflight"]["status"], 204,
                         "fetch(application/json) to /v1/beacon: preflight + POST from an "
                         "allowed origin")
        hidden = page["hidden"]["stats"]
        self.assertGreaterEqual(hidden["beacons"], 3,
                                f"{BULK} events on hide: several beacons under 64 KiB ({hidden})")
        self.assertEqual(hidden["beaconEvents"], BULK)
        self.assertEqual(page["pagehide"]["beacons"], 1)
        restored = page["close"]["restored"]
        self.assertGreater(restored["restored"], 0,
                           "what the navigation's beacons could not carry was stashed and sent "
                           "by the next page")
        self.assertEqual(restored["final"], restored["restored"])

    def test_3_refused_origin_gets_nothing_into_kafka(self):
        # The allowed page's events are in Kafka by now (or test 1 reported it); the refused
        # page's requests were answered at the same time.
        allowed = self.ids("allowed")
        it.wait_for_event_ids(allowed, timeout=90)
        time.sleep(2)
        refused = set(self.ids("foreign"))
        page = self.page("foreign")
        self.assertEqual(page["preflight"]["status"], 0,
                         "a page whose origin its tenant does not allow cannot read an answer")
        for topic in it.STAGE_TOPICS + [it.DEAD_LETTER_TOPIC]:
            landed = [m for m in it.read_topic(topic)
                      if m["headers"].get("event_id") in refused]
            self.assertEqual(landed, [], f"events of a refused origin in {topic}")
        faults = self.sluice.metrics().get(FAULT, 0.0) - self.faults_before
        beacons = sum(1 for r in page["results"] if r["transport"] == "beacon")
        print(f"refused origin {self.foreign}: recorded {len(refused)} events, 0 in Kafka; "
              f"{FAULT} +{faults:.0f} (beacons {beacons})", flush=True)
        self.assertGreaterEqual(faults, beacons)

    def test_4_preflight_and_cors_headers(self):
        for path in ("/v1/events", "/v1/beacon"):
            r = it.http_request(self.sluice.public, "OPTIONS", path, headers={
                "Origin": self.allowed, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type"})
            self.assertEqual(r.status, 204, (path, r))
            self.assertEqual(r.header("access-control-allow-origin"), self.allowed)
            self.assertIn("POST", r.header("access-control-allow-methods") or "")
            allow = {h.strip().lower()
                     for h in (r.header("access-control-allow-headers") or "").split(",")}
            self.assertTrue({"authorization", "content-type", "content-encoding"} <= allow, r)
            self.assertIsNotNone(r.header("access-control-max-age"))
            self.assertIsNone(r.header("access-control-allow-credentials"))
            r = it.http_request(self.sluice.public, "OPTIONS", path, headers={
                "Origin": "http://127.0.0.1:1", "Access-Control-Request-Method": "POST"})
            self.assertEqual(r.status, 403, (path, r))
            self.assertIsNone(r.header("access-control-allow-origin"))
        # localhost is another origin than 127.0.0.1
        localhost = self.allowed.replace("127.0.0.1", "localhost")
        ev = it.event(it.unique("cors"))
        r = self.sluice.post(it.batch([ev]), self.token, extra_headers={"Origin": localhost})
        self.assertEqual((r.status, r.error_code()), (403, "origin_not_allowed"))
        r = self.sluice.post(it.batch([ev]), self.token, extra_headers={"Origin": self.allowed})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("access-control-allow-origin"), self.allowed)
        self.assertIn("origin", (r.header("vary") or "").lower())
        self.assertIsNone(r.header("access-control-allow-credentials"))

    def test_5_beacon_over_64k_refused(self):
        events = [it.event(it.unique("big"), properties={"url": "https://x.example/" + "y" * 900})
                  for _ in range(80)]
        body = json.dumps(it.batch(events, token=self.token)).encode()
        self.assertGreater(len(body), 64 * 1024)
        r = it.http_request(self.sluice.public, "POST", "/v1/beacon", body,
                            {"Content-Type": "text/plain;charset=UTF-8",
                             "Origin": self.allowed})
        self.assertEqual(r.status, 413, r)
        self.assertNotIn(events[0]["event_id"], it.messages_by_event_id())


if __name__ == "__main__":
    it.main()
