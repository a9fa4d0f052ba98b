"""Backpressure: limits.inflight_bytes bounds the memory of requests waiting for Kafka.

The broker's JVM is stopped (SIGSTOP) so that admitted requests wait for their acknowledgement;
with limits.inflight_bytes=128KiB and bodies of about 20 KiB (about 62 KiB each once decoded:
the budget counts the body and what decoding it took), a few concurrent requests are held
and the others are refused at once with 503, error code `overloaded` and Retry-After -- those
with a Content-Length before their body is read (the transport's check), a chunked one once it
is read (the pipeline's admit stage). Meanwhile sluice's resident memory (VmRSS) is sampled
and printed; it must stay bounded while more requests keep coming. After SIGCONT the held
requests complete with 200 and their events are in Kafka, the refused ones' are not, and new
requests pass again: the budget was released.

kafka.delivery_timeout is long (120 s) so the held requests succeed after the broker resumes,
and kafka.health_interval long (60 s) so the stalled broker is not noticed by the health check
(which would answer kafka_unavailable) before the budget is what refuses.
"""

import http.client
import json
import os
import re
import signal
import threading
import time
import unittest

import sluice_it as it

BUDGET = 128 * 1024    # a 20 KiB JSON body holds about 62 KiB once decoded: two fit
CLIENTS = 6
EVENTS_PER_BODY = 10
URL_LEN = 1900          # ~20 KiB bodies
PRESSURE_REQUESTS = 100  # more posts while the broker is stopped (~2 MB of bodies)
RSS_GROWTH_LIMIT = 16 * 1024 * 1024  # generous (128 budgets; an ASan build)


def body_of(prefix, n=EVENTS_PER_BODY):
    events = [it.event(f"{prefix}-{i}", user_id=f"u-{i}",
                       properties={"url": "https://shop.example.com/p/" +
                                   ("x" * (URL_LEN - 27))})
              for i in range(n)]
    return json.dumps(it.batch(events)).encode()


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.samples = []  # (monotonic, KiB)
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.is_set():
            try:
                self.samples.append((time.monotonic(), it.rss_kib(self.pid)))
            except (OSError, RuntimeError):
                return
            time.sleep(0.05)

    def peak(self, since=0.0, until=float("inf")):
        vals = [kib for t, kib in self.samples if since <= t <= until]
        return max(vals) if vals else None


class Post(threading.Thread):
    def __init__(self, addr, token, body):
        super().__init__(daemon=True)
        self.addr, self.token, self.body = addr, token, body
        self.response = None
        self.error = None
        self.done_at = None

    def run(self):
        try:
            self.response = it.post_events(self.addr, self.body, self.token, timeout=180)
        except Exception as e:  # noqa: BLE001 -- reported by the test
            self.error = e
        self.done_at = time.monotonic()


def post_chunked(addr, token, body, timeout=30):
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", "/v1/events", body=iter([body[:len(body) // 2],
                                                     body[len(body) // 2:]]),
                     headers={"Content-Type": "application/json",
                              "Authorization": f"Bearer {token}"},
                     encode_chunked=True)
        r = conn.getresponse()
        return it.Response(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


class BackpressureTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.token = it.mint_token("t1")
        cls.kafka_dir = it.env("KAFKA_DIR")

    def tearDown(self):
        it.release_broker()

    def assert_overloaded(self, r, what):
        self.assertEqual(r.status, 503, f"{what}: {r!r}")
        self.assertEqual(r.error_code(), "overloaded", f"{what}: {r!r}")
        self.assertIn("limits.inflight_bytes", r.json["error"]["message"])
        self.assertIsNotNone(r.header("Retry-After"), f"{what}: no Retry-After")
        self.assertGreaterEqual(int(r.header("Retry-After")), 1)

    def test_budget_refuses_while_held_and_is_released(self):
        s = it.Sluice([f"limits.inflight_bytes={BUDGET}", "kafka.delivery_timeout=120s",
                       "kafka.health_interval=60s", "http.retry_after=1s"])
        self.addCleanup(s.cleanup)
        s.start()
        sample = body_of(it.unique("size"))
        print(f"backpressure: body {len(sample)} bytes, limits.inflight_bytes {BUDGET}",
              flush=True)

        # Warm up (metadata, connections), then the idle baseline.
        p = it.unique("bp")
        r = s.post(body_of(f"{p}-warm"), self.token)
        self.assertEqual(r.status, 200, r)
        rss = RssSampler(s.proc.pid)
        rss.start()
        self.addCleanup(rss.stop_event.set)
        time.sleep(1.0)
        baseline = rss.peak()

        pid = it.broker_pid()
        os.kill(pid, signal.SIGSTOP)
        t_stop = time.monotonic()
        try:
            posts = [Post(s.public, self.token, body_of(f"{p}-c{i}")) for i in range(CLIENTS)]
            for t in posts:
                t.start()
                time.sleep(0.05)
            # The refused ones answer at once; the admitted ones wait for Kafka.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                time.sleep(0.5)
                if all(t.done_at is not None for t in posts):
                    break
            time.sleep(1.0)
            held = [t for t in posts if t.done_at is None]
            refused = [t for t in posts if t.done_at is not None]
            for t in refused:
                self.assertIsNone(t.error, t.error)
                self.assert_overloaded(t.response, "a concurrent post beyond the budget")
            m = s.metrics()
            inflight = m.get("sluice_inflight_bytes")
            holds = sorted({int(re.search(r"hold (\d+) bytes", t.response.json["error"]["message"])
                                .group(1)) for t in refused})
            print(f"backpressure: broker stopped; {len(held)} requests held, {len(refused)} "
                  f"refused 503 overloaded (in flight: {holds} bytes by the refusals; "
                  f"sluice_inflight_bytes {inflight:.0f})", flush=True)
            self.assertGreaterEqual(len(held), 1, "a request alone is always admitted")
            self.assertGreaterEqual(len(refused), 1, "the budget refused nothing")
            self.assertLessEqual(len(held) * len(sample), 2 * BUDGET,
                                 "more held than the budget allows")
            self.assertGreater(inflight, 0)

            # More load while the broker is stopped: every request refused, memory flat.
            for i in range(PRESSURE_REQUESTS):
                r = s.post(body_of(f"{p}-x{i}"), self.token, timeout=30)
                self.assert_overloaded(r, f"pressure post {i}")
            r = post_chunked(s.public, self.token, body_of(f"{p}-chunked"))
            self.assert_overloaded(r, "a chunked post (no Content-Length: the admit stage)")
            self.assertTrue(all(t.done_at is None for t in held), "held requests still wait")
            peak_stopped = rss.peak(since=t_stop)
        finally:
            os.kill(pid, signal.SIGCONT)
        t_cont = time.monotonic()

        for t in held:
            t.join(150)
            self.assertFalse(t.is_alive(), "a held request did not complete after SIGCONT")
            self.assertIsNone(t.error, t.error)
            self.assertEqual(t.response.status, 200, t.response)
            self.assertEqual(t.response.json["accepted"], EVENTS_PER_BODY, t.response)
        took = max(t.done_at for t in held) - t_cont

        # Budget released: new requests pass, one after the other and two at once (the
        # number held above: what the budget takes).
        for i in range(3):
            r = s.post(body_of(f"{p}-after{i}"), self.token)
            self.assertEqual(r.status, 200, r)
        pair = [Post(s.public, self.token, body_of(f"{p}-pair{i}")) for i in range(2)]
        for t in pair:
            t.start()
        for t in pair:
            t.join(60)
            self.assertEqual(t.response.status, 200, t.response)
        self.assertEqual(s.metrics().get("sluice_inflight_bytes"), 0.0)
        time.sleep(0.5)
        peak_after = rss.peak(since=t_cont)
        rss.stop_event.set()

        # What Kafka holds: the held requests' events, none of the refused ones'.
        by_id = it.messages_by_event_id(prefix=p)
        for t in held + pair:
            for ev in json.loads(t.body)["events"]:
                self.assertEqual(len(by_id.get(ev["event_id"], [])), 1, ev["event_id"])
        refused_ids = [ev["event_id"] for t in refused for ev in json.loads(t.body)["events"]]
        refused_ids += [f"{p}-x{i}-0" for i in range(PRESSURE_REQUESTS)] + [f"{p}-chunked-0"]
        self.assertEqual([e for e in refused_ids if e in by_id], [],
                         "a refused request produced nothing")

        print(f"backpressure: VmRSS baseline {baseline / 1024:.1f} MiB, peak while stopped "
              f"{peak_stopped / 1024:.1f} MiB (+{(peak_stopped - baseline) / 1024:.1f}), peak "
              f"after {peak_after / 1024:.1f} MiB; held requests answered {took:.1f}s after "
              f"SIGCONT; {PRESSURE_REQUESTS + 1} more posts refused meanwhile", flush=True)
        self.assertLess((peak_stopped - baseline) * 1024, RSS_GROWTH_LIMIT,
                        "memory grew with refused requests")
        self.assertEqual(s.stop(), 0)
        it.check_sanitizer_output(self, s.stderr())


if __name__ == "__main__":
    it.main()
