"""SIGTERM under load: every event answered accepted is in Kafka, requests after draining
began are refused (503 shutting_down) or find the door closed, and the exit code is 0."""

import http.client
import json
import signal
import threading
import time
import unittest

import sluice_it as it

# A long linger keeps produced events in the producer queue for a while, so that SIGTERM
# always finds batches in flight and the drain lasts long enough to be observed.
LINGER = "1000ms"
CLIENTS = 8
BATCH = 10


class Record:
    __slots__ = ("start", "sent", "end", "ids", "resp", "exc")

    def __init__(self, start, ids):
        self.start, self.ids = start, ids
        self.sent = self.end = None
        self.resp = self.exc = None


def send(conn, body, token):
    conn.putrequest("POST", "/v1/events")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)


class ShutdownTest(unittest.TestCase):

    def test_sigterm_during_load(self):
        s = it.Sluice([f"kafka.linger={LINGER}", "shutdown.timeout=20s"]).start()
        try:
            self.run_scenario(s)
        finally:
            s.cleanup()

    def run_scenario(self, s):
        token = it.mint_token("t1")
        p = it.unique("term")
        host, port = s.public.rsplit(":", 1)
        port = int(port)
        records = []
        lock = threading.Lock()
        stop = threading.Event()
        counter = [0]

        def client(n):
            conn = None
            while not stop.is_set():
                with lock:
                    counter[0] += 1
                    k = counter[0]
                ids = [f"{p}-{n}-{k}-{j}" for j in range(BATCH)]
                body = json.dumps(it.batch([it.event(i, user_id=f"u{j}")
                                            for j, i in enumerate(ids)])).encode()
                rec = Record(time.monotonic(), ids)
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(host, port, timeout=60)
                    send(conn, body, token)
                    rec.sent = time.monotonic()
                    r = conn.getresponse()
                    rec.resp = it.Response(r.status, r.getheaders(), r.read())
                    if r.will_close:
                        conn.close()
                        conn = None
                except (OSError, http.client.HTTPException) as e:
                    rec.exc = e
                    if conn is not None:
                        conn.close()
                    conn = None
                rec.end = time.monotonic()
                with lock:
                    records.append(rec)
                if rec.exc is not None:
                    time.sleep(0.02)
            if conn is not None:
                conn.close()

        # An idle keep-alive connection, used after draining began.
        probe = http.client.HTTPConnection(host, port, timeout=60)
        ids0 = [f"{p}-probe-0"]
        send(probe, json.dumps(it.batch([it.event(ids0[0])])).encode(), token)
        r = probe.getresponse()
        r0 = it.Response(r.status, r.getheaders(), r.read())
        self.assertEqual(r0.status, 200, r0)
        self.assertFalse(r.will_close)

        threads = [threading.Thread(target=client, args=(n,), daemon=True)
                   for n in range(CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(2.5)

        # Drain begins: SIGTERM, then watch /readyz until it says so.
        t_term = time.monotonic()
        s.signal(signal.SIGTERM)
        t_drain = None
        readyz = None
        while time.monotonic() < t_term + 30:
            try:
                readyz = s.admin_get("/readyz", timeout=5)
                if readyz.status == 503:
                    t_drain = time.monotonic()
                    break
            except OSError as e:
                readyz = e
                t_drain = time.monotonic()
                break
            time.sleep(0.005)
        self.assertIsNotNone(t_drain, f"/readyz never went 503 after SIGTERM: {readyz!r}")
        if isinstance(readyz, it.Response):
            self.assertEqual(readyz.json["ready"], False, readyz)
            self.assertIn("drain", readyz.json["reason"], readyz)

        # A new batch on an open connection now must be refused, and nothing of it produced.
        probe_ids = [f"{p}-probe-1-{j}" for j in range(3)]
        probe_answer = None
        try:
            send(probe, json.dumps(it.batch([it.event(i) for i in probe_ids])).encode(), token)
            r = probe.getresponse()
            probe_answer = it.Response(r.status, r.getheaders(), r.read())
        except (OSError, http.client.HTTPException) as e:
            probe_answer = e
        probe.close()
        # New connections are not accepted any more (or are refused with 503).
        fresh_answer = None
        try:
            fresh_answer = it.post_events(s.public, it.batch([it.event(f"{p}-fresh")]), token,
                                          timeout=10)
        except (OSError, http.client.HTTPException) as e:
            fresh_answer = e

        rc = s.wait(60)
        t_exit = time.monotonic()
        stop.set()
        for t in threads:
            t.join(30)
        err = s.stderr()
        it.check_sanitizer_output(self, err)
        self.assertEqual(rc, 0, f"exit code after SIGTERM; stderr:\n{err[-4000:]}")

        # ---- what was answered ----
        must_have = set(ids0)
        not_taken = set()
        stats = {}

        def tally(key):
            stats[key] = stats.get(key, 0) + 1

        for rec in records:
            if rec.resp is None:
                tally("connection error")
                # Bytes written well before SIGTERM were read and must have been answered.
                if rec.sent is not None and rec.sent < t_term - 0.25:
                    self.fail(f"a batch sent {t_term - rec.sent:.2f}s before SIGTERM got no "
                              f"answer: {rec.exc!r}")
                continue
            r = rec.resp
            tally(f"{r.status} {r.error_code() or ''}".strip())
            if rec.start >= t_drain:
                # Started after draining was visible: never taken.
                self.assertEqual(r.status, 503, f"a batch started after draining began: {r}")
                self.assertEqual(r.error_code(), "shutting_down", r)
            if r.status == 200:
                self.assertEqual(r.json["accepted"], BATCH, r)
                must_have.update(rec.ids)
            elif r.status in (207, 503):
                self.assertIsNotNone(r.header("retry-after"), r)
                if r.error_code() is not None:
                    self.assertEqual(r.status, 503, r)
                    self.assertIn(r.error_code(), ("shutting_down",), r)
                    not_taken.update(rec.ids)
                else:
                    retry = {x["event_id"] for x in r.json["results"]}
                    for x in r.json["results"]:
                        self.assertEqual(x["status"], "retryable", r)
                        self.assertIn(x["code"], it.RETRYABLE_CODES, r)
                    must_have.update(set(rec.ids) - retry)
            else:
                self.fail(f"unexpected answer during shutdown: {r}")

        self.assertGreater(stats.get("200", 0), CLIENTS, f"load before SIGTERM: {stats}")
        self.assertTrue(any(rec.start < t_term and rec.end > t_term and rec.resp is not None
                            and rec.resp.status == 200 for rec in records),
                        f"no batch in flight at SIGTERM was answered 200 after it: {stats}")

        # The keep-alive probe after draining began: refused, never taken.
        if isinstance(probe_answer, Exception):
            tally("probe: connection error")
        else:
            self.assertEqual(probe_answer.status, 503, probe_answer)
            self.assertEqual(probe_answer.error_code(), "shutting_down", probe_answer)
            self.assertIsNotNone(probe_answer.header("retry-after"))
            tally("probe: 503 shutting_down")
        if not isinstance(fresh_answer, Exception):
            self.assertEqual(fresh_answer.status, 503, fresh_answer)
            self.assertEqual(fresh_answer.error_code(), "shutting_down", fresh_answer)
        not_taken.update(probe_ids)
        not_taken.add(f"{p}-fresh")

        by_id = it.wait_for_event_ids(must_have, prefix=p, timeout=30)
        missing = sorted(must_have - set(by_id))
        self.assertEqual(missing, [], f"{len(missing)} events answered accepted are not in "
                                      f"Kafka (of {len(must_have)})")
        dup = sorted(i for i in must_have if len(by_id[i]) != 1)
        self.assertEqual(dup, [], "events written more than once")
        leaked = sorted(not_taken & set(by_id))
        self.assertEqual(leaked, [], "events refused with shutting_down are in Kafka")
        print(f"\nanswers: {stats}; accepted events: {len(must_have)}; drain seen "
              f"{t_drain - t_term:.3f}s after SIGTERM, exit after {t_exit - t_term:.3f}s")


    def test_sigterm_with_broker_down(self):
        """Batches stuck because the broker went away: SIGTERM waits shutdown.timeout, then
        purges them and answers them retryable, and still exits 0."""
        kafka_dir = it.env("KAFKA_DIR")
        s = it.Sluice([f"kafka.linger={LINGER}", "kafka.delivery_timeout=120s",
                       "kafka.health_interval=200ms", "shutdown.timeout=2s"]).start()
        try:
            self.run_broker_down_scenario(s, kafka_dir)
        finally:
            s.cleanup()
            if not it.kafka_running():
                it.kafka_sh("resume", kafka_dir)

    def run_broker_down_scenario(self, s, kafka_dir):
        token = it.mint_token("t1")
        p = it.unique("termdown")
        records = []
        lock = threading.Lock()
        stop = threading.Event()

        def client(n):
            k = 0
            while not stop.is_set():
                k += 1
                ids = [f"{p}-{n}-{k}-{j}" for j in range(3)]
                rec = Record(time.monotonic(), ids)
                try:
                    rec.resp = it.post_events(s.public, it.batch([it.event(i) for i in ids]),
                                              token, timeout=120)
                except (OSError, http.client.HTTPException) as e:
                    rec.exc = e
                rec.end = time.monotonic()
                with lock:
                    records.append(rec)
                time.sleep(0.05)

        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        it.kafka_sh("pause", kafka_dir)
        s.wait_ready(timeout=20, want=503)
        time.sleep(0.3)
        t_term = time.monotonic()
        s.signal(signal.SIGTERM)
        rc = s.wait(60)
        t_exit = time.monotonic()
        stop.set()
        for t in threads:
            t.join(30)
        err = s.stderr()
        it.check_sanitizer_output(self, err)
        self.assertEqual(rc, 0, f"exit code after SIGTERM; stderr:\n{err[-4000:]}")
        self.assertGreaterEqual(t_exit - t_term, 1.5, "left before shutdown.timeout (2s)")
        self.assertLess(t_exit - t_term, 15)

        must_have = set()
        purged = 0
        stats = {}
        for rec in records:
            r = rec.resp
            if r is None:
                stats["connection error"] = stats.get("connection error", 0) + 1
                self.assertGreater(rec.start, t_term - 0.25,
                                   f"a batch sent before SIGTERM got no answer: {rec.exc!r}")
                continue
            if r.status == 200:
                must_have.update(rec.ids)
                key = "200"
            else:
                self.assertIn(r.status, (207, 503), r)
                self.assertIsNotNone(r.header("retry-after"), r)
                if r.error_code() is not None:
                    self.assertIn(r.error_code(), it.RETRYABLE_CODES, r)
                    key = f"{r.status} {r.error_code()}"
                else:
                    codes = {x["code"] for x in r.json["results"]}
                    self.assertTrue(codes <= it.RETRYABLE_CODES, r)
                    for x in r.json["results"]:
                        self.assertEqual(x["status"], "retryable", r)
                    must_have.update(set(rec.ids) - {x["event_id"] for x in r.json["results"]})
                    key = f"{r.status} " + ",".join(sorted(codes))
                    if "shutting_down" in codes and rec.start < t_term:
                        purged += 1
                        # Answered only once shutdown.timeout ran out.
                        self.assertGreater(rec.end, t_term + 1.5, r)
            stats[key] = stats.get(key, 0) + 1
        self.assertGreater(stats.get("200", 0), 0, stats)
        self.assertGreater(purged, 0, f"no batch stuck at SIGTERM was purged: {stats}")

        it.kafka_sh("resume", kafka_dir)
        by_id = it.wait_for_event_ids(must_have, prefix=p, timeout=30)
        missing = sorted(must_have - set(by_id))
        self.assertEqual(missing, [], "events answered accepted are not in Kafka")
        print(f"\nanswers: {stats}; exit {t_exit - t_term:.2f}s after SIGTERM")


if __name__ == "__main__":
    it.main()
