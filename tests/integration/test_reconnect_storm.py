"""Reconnect storm: many mobile devices flush large gzip batches at the same moment while the real
broker is slowed and then unavailable; they follow the flush contract (docs/clients.md, README):

  200          every event has a final outcome: accepted (not listed) or `duplicate` (accepted
               before) -- both acknowledged;
  207          resend only the events listed `retryable`, after Retry-After (with jitter);
  503 / 429    resend the listed retryable events (503 with results) or the whole batch (an
               `error` body: overloaded, kafka_unavailable, queue_full, ...) after Retry-After
               (with jitter);
  a connection error or timeout
               resend the whole batch after a short, jittered pause;
always with the same event_ids, each resend a new gzip body of the events still pending.

Timeline (one sluice, limits.inflight_bytes = BUDGET, kafka.delivery_timeout = 5s):
  wave 1   every device flushes at once while the broker is slowed: its JVM alternately stopped
           (SIGSTOP) and continued (SIGCONT) in 150 ms slices; 1.5 s in, the broker is stopped
           for 3 s (less than kafka.delivery_timeout), then slowed again for 3 s;
  wave 2   every device flushes again and 0.5 s later the broker stops for 8 s -- longer than
           kafka.delivery_timeout: what was in flight is answered retryable delivery_pending and
           stays in flight (kafka.message_timeout), retries of it are answered in_flight until
           the broker is back, new batches get 503 kafka_unavailable;
  wave 3   the broker continues and every device flushes at that moment -- the reconnect
           storm -- while the broker is slowed for 4 s more.
Then the devices finish (every event acknowledged or DRAIN_DEADLINE passed) and the raw topic
is read back with kcat.

Checks: no answer outside the contract; every acknowledged event is in Kafka; every sent event
was acknowledged; no event is in Kafka twice. Memory: the devices send far more than limits.inflight_bytes (64 x ~400 KB
inflated), so some batches must be refused 503 `overloaded`; the sluice_inflight_bytes gauge
(sampled every 500 ms) stays near the budget; and sluice's resident memory (VmRSS from
/proc/PID/status, sampled every 100 ms) stays under baseline + RSS_FACTOR x
(limits.inflight_bytes + kafka.queue_max_bytes), the two budgets of what a slow broker makes
sluice hold (RSS_FACTOR_ASAN under AddressSanitizer; see their comment for the measurements).

ASan's quarantine (256 MB by default) keeps freed blocks out of reuse, so under the ci preset the
resident size would measure the sanitizer, not sluice: this test's sluice runs with
quarantine_size_mb=QUARANTINE_MB (the other ASan checks stay on).

One line for the team's notes:
  reconnect_storm: ... sent=N acknowledged=N found=N duplicates=N
                   ... 503s=N ...
  reconnect_storm: peak_rss=N MiB baseline=N MiB bound=N MiB ...
"""

import gzip
import http.client
import json
import os
import random
import signal
import threading
import time
import unittest

import sluice_it as it

DEVICES = 64
EVENTS = 1000               # per device and wave: ~10 KB gzip, ~400 KB inflated
WAVES = 3
BUDGET = 16 << 20           # limits.inflight_bytes: a fraction of what the devices send
QUEUE = 16 << 20            # kafka.queue_max_bytes
DELIVERY_TIMEOUT = 5.0      # kafka.delivery_timeout, seconds
SLICE = 0.15                # broker stopped / running slices while slowed, seconds
SHORT_STALL = 3.0           # < DELIVERY_TIMEOUT
LONG_STALL = DELIVERY_TIMEOUT + 3.0
RETRY_CAP = 2.0             # the longest a device waits before a resend, seconds
CLIENT_TIMEOUT = 60         # longer than any answer may take
DRAIN_DEADLINE = 90         # seconds after the last wave for every event to be acknowledged
QUARANTINE_MB = 8
# Peak resident memory allowed over the baseline: RSS_FACTOR x (BUDGET + QUEUE), plus the dedupe
# table, which fills as ids are acknowledged (at most 48 bytes each, reserved at start and touched
# as it fills: dedupe.max_entries). A request's arena blocks (doubling) and librdkafka's copies
# with their headers take up to about twice what the budgets count, and a request's answer is
# rendered after its bytes are released. Measured for this storm: plain build 56 MiB over a
# 14 MiB baseline, flat after wave 1; under ASan 109 - 155 MiB over a 34 MiB baseline, growing
# phase by phase (a header and redzones around each of the producer's small blocks, memory kept
# per size class, the quarantine); without the budget (limits.inflight_bytes=1GiB) 234 MiB.
RSS_FACTOR = 2.5
RSS_FACTOR_ASAN = 6.0
DEDUPE_ENTRY = 48


def sanitized(pid):
    """Whether the process runs with AddressSanitizer (the ci preset)."""
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


class Ledger:
    """What the devices were told, per event_id (all threads, under one lock)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = set()
        self.accepted = {}          # event_id -> times answered accepted
        self.duplicate = set()      # answered `duplicate` (accepted earlier)
        self.history = {}           # event_id -> [(wall time sent, answer)]
        self.requests = 0
        self.resends = 0
        self.answers = {}           # "207 retryable:delivery_pending" -> count
        self.status = {}            # HTTP status (or "conn") -> count
        self.unexpected = []

    def acknowledged(self):
        with self.lock:
            return set(self.accepted) | self.duplicate

    def tally(self, key, status):
        self.answers[key] = self.answers.get(key, 0) + 1
        self.status[status] = self.status.get(status, 0) + 1


class Device:
    """One phone: a queue of batches flushed in order, each until all its events are
    acknowledged (or the deadline)."""

    def __init__(self, storm, n):
        self.storm = storm
        self.n = n
        self.conn = None
        self.rand = random.Random(n)

    def events(self, wave):
        p = self.storm.prefix
        return [it.event(f"{p}-{self.n}-{wave}-{j}", user_id=f"user-{self.n}",
                         anonymous_id=f"anon-{self.n}",
                         occurred_at="2026-11-27T08:00:00.000Z",
                         context={"user_agent": "ShopApp/3.2.1 (Android 14; Pixel 8)",
                                  "locale": "de-DE",
                                  "app": {"name": "shop", "version": "3.2.1", "build": "321"}},
                         properties={"url": f"https://shop.example.com/p/{self.n}/{wave}/{j}",
                                     "title": f"Produkt {j} \u2013 Seite {wave}"})
                for j in range(EVENTS)]

    def run(self):
        st = self.storm
        for wave in range(WAVES):
            evs = self.events(wave)
            pending = {e["event_id"]: e for e in evs}
            with st.ledger.lock:
                st.ledger.sent.update(pending)
            st.waves[wave].wait()          # everyone flushes at the same moment
            first = True
            while pending:
                if st.deadline is not None and time.monotonic() > st.deadline:
                    break                  # left unacknowledged: verify() reports it
                wait = self.attempt(pending, first)
                first = False
                if pending and wait > 0:
                    time.sleep(wait)
        if self.conn is not None:
            self.conn.close()

    def jitter(self, base):
        return min(base, RETRY_CAP) * (0.5 + self.rand.random())

    def attempt(self, pending, first):
        st = self.storm
        ids = list(pending)
        body = gzip.compress(json.dumps(it.batch([pending[i] for i in ids])).encode(), 6)
        sent_at = time.time()
        resp, err = None, None
        try:
            if self.conn is None:
                host, port = st.addr.rsplit(":", 1)
                self.conn = http.client.HTTPConnection(host, int(port), timeout=CLIENT_TIMEOUT)
            self.conn.request("POST", "/v1/events", body=body,
                              headers={"Content-Type": "application/json",
                                       "Content-Encoding": "gzip",
                                       "Authorization": f"Bearer {st.token}"})
            r = self.conn.getresponse()
            resp = it.Response(r.status, r.getheaders(), r.read())
            if r.will_close:
                self.conn.close()
                self.conn = None
        except (OSError, http.client.HTTPException) as e:
            err = e
            if self.conn is not None:
                self.conn.close()
            self.conn = None
        led = st.ledger
        with led.lock:
            led.requests += 1
            if not first:
                led.resends += 1
            if resp is None:
                led.tally(f"conn {type(err).__name__}", "conn")
                for i in ids:
                    led.history.setdefault(i, []).append((sent_at, f"conn {err!r}"))
                return self.jitter(0.25)
            return self.classify(ids, resp, pending, sent_at)

    def classify(self, ids, r, pending, sent_at):
        """Applies answer r to the events ids (ledger lock held); returns the wait."""
        led = self.storm.ledger
        j = r.json if isinstance(r.json, dict) else {}
        results = j.get("results")
        wait = 0.0
        if r.status in (207, 429, 503):
            try:
                wait = self.jitter(float(r.header("retry-after")))
            except (TypeError, ValueError):
                led.unexpected.append(f"no Retry-After on {r!r}")
                wait = self.jitter(RETRY_CAP)
        if r.status in (200, 207, 503) and isinstance(results, list):
            key, resend = it.apply_results(led, ids, r, sent_at)
            led.tally(key, r.status)
            for i in set(ids) - set(resend):
                del pending[i]
            return wait
        if r.status in (429, 503) and r.error_code() is not None:
            led.tally(f"{r.status} {r.error_code()}", r.status)
            for i in ids:
                led.history.setdefault(i, []).append((sent_at, f"{r.status} {r.error_code()}"))
            return wait                    # nothing taken: the whole batch again
        led.tally(f"{r.status} unexpected", r.status)
        led.unexpected.append(f"answer outside the contract: {r!r}")
        pending.clear()
        return 0.0


class Storm:
    def __init__(self, prefix, addr, token):
        self.prefix = prefix
        self.addr = addr
        self.token = token
        self.ledger = Ledger()
        self.waves = [threading.Event() for _ in range(WAVES)]
        self.deadline = None
        self.threads = [threading.Thread(target=Device(self, n).run, daemon=True)
                        for n in range(DEVICES)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.deadline = time.monotonic() + DRAIN_DEADLINE
        for t in self.threads:
            t.join(DRAIN_DEADLINE + CLIENT_TIMEOUT + 10)
            if t.is_alive():
                raise AssertionError("a device thread did not finish")


class Sampler:
    """sluice's VmRSS and its sluice_inflight_bytes gauge, every `every` seconds."""

    def __init__(self, sluice, every=0.1):
        self.sluice = sluice
        self.every = every
        self.rss = []
        self.inflight = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        pid = self.sluice.proc.pid
        n = 0
        while not self.stop.is_set():
            try:
                self.rss.append((time.monotonic(), it.rss_kib(pid)))
            except OSError:
                return
            if n % 5 == 0:             # the gauge every 500 ms: /metrics costs sluice a little
                try:
                    m = self.sluice.metrics()
                    self.inflight.append(m.get("sluice_inflight_bytes", 0.0))
                except (OSError, RuntimeError, http.client.HTTPException):
                    pass
            n += 1
            self.stop.wait(self.every)

    def start(self):
        self.thread.start()
        return self

    def finish(self):
        self.stop.set()
        self.thread.join(10)
        return max(kb for _, kb in self.rss), max(self.inflight, default=0.0)

    def peak_by_phase(self, phases):
        """{phase name: peak VmRSS kB} for phases [(name, start monotonic)]."""
        out = {}
        for t, kb in self.rss:
            name = None
            for n, start in phases:
                if t >= start:
                    name = n
            if name is not None:
                out[name] = max(out.get(name, 0), kb)
        return out


class Broker:
    """SIGSTOP/SIGCONT of the fixture broker's JVM."""

    def __init__(self):
        self.kafka_dir = it.env("KAFKA_DIR")
        self.pid = it.broker_pid()
        self.stopped = 0.0          # seconds the broker spent stopped

    def stop(self):
        os.kill(self.pid, signal.SIGSTOP)

    def cont(self):
        os.kill(self.pid, signal.SIGCONT)

    def stall(self, seconds):
        self.stop()
        try:
            time.sleep(seconds)
        finally:
            self.cont()
        self.stopped += seconds

    def slow(self, seconds):
        """Alternates SLICE stopped / SLICE running for seconds."""
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            self.stop()
            try:
                time.sleep(SLICE)
            finally:
                self.cont()
            self.stopped += SLICE
            time.sleep(SLICE)


class ReconnectStormTest(unittest.TestCase):

    def setUp(self):
        self.broker = Broker()
        self.addCleanup(self.broker.cont)      # never leave the broker stopped

    def start_sluice(self):
        sets = [f"limits.inflight_bytes={BUDGET}", f"kafka.queue_max_bytes={QUEUE}",
                f"kafka.delivery_timeout={int(DELIVERY_TIMEOUT)}s", "kafka.health_interval=200ms",
                "http.retry_after=1s"]
        saved = os.environ.get("ASAN_OPTIONS")
        os.environ["ASAN_OPTIONS"] = ((saved + ":") if saved else "") + \
            f"quarantine_size_mb={QUARANTINE_MB}"
        try:
            s = it.Sluice(sets)
            self.addCleanup(s.cleanup)
            s.start()
        finally:
            if saved is None:
                del os.environ["ASAN_OPTIONS"]
            else:
                os.environ["ASAN_OPTIONS"] = saved
        return s

    def test_reconnect_storm(self):
        t_begin = time.monotonic()
        s = self.start_sluice()
        token = it.mint_token("t1")
        pid = s.proc.pid
        # Baseline: after one ordinary gzip batch, so lazily made state is in it.
        warm = it.unique("storm-warm")
        r = s.post(gzip.compress(json.dumps(it.batch([it.event(f"{warm}-{i}", user_id="u")
                                                       for i in range(50)])).encode()),
                   token, extra_headers={"Content-Encoding": "gzip"})
        self.assertEqual(r.status, 200, r)
        time.sleep(1.0)
        baseline = it.rss_kib(pid)
        factor = RSS_FACTOR_ASAN if sanitized(pid) else RSS_FACTOR

        phases = []

        def phase(name):
            phases.append((name, time.monotonic()))

        storm = Storm(it.unique("storm"), s.public, token)
        storm.start()
        sampler = Sampler(s).start()
        b = self.broker
        try:
            # wave 1: every device at once, the broker slowed; a short stall in the middle
            phase("wave 1, slowed")
            storm.waves[0].set()
            b.slow(1.5)
            phase("short stall")
            b.stall(SHORT_STALL)
            phase("slowed")
            b.slow(3.0)
            # wave 2: every device at once; the broker stops while it is in flight, for longer
            # than the delivery timeout
            phase("wave 2")
            storm.waves[1].set()
            time.sleep(0.5)
            phase("long stall")
            t_stop = time.monotonic()
            b.stop()
            s.wait_ready(timeout=20, want=503)
            time.sleep(max(0.0, t_stop + LONG_STALL - time.monotonic()))
            b.cont()
            b.stopped += time.monotonic() - t_stop
            # wave 3: every device at the moment the broker is back, the broker slowed
            phase("wave 3, slowed")
            storm.waves[2].set()
            b.slow(4.0)
            phase("drain")
        finally:
            b.cont()
            for w in storm.waves:
                w.set()                    # a failed timeline must not strand the devices
        storm.finish()
        peak, peak_inflight = sampler.finish()
        print("\nreconnect_storm: peak VmRSS by phase: " + ", ".join(
            f"{name} {kb / 1024:.0f} MiB" for name, kb in sampler.peak_by_phase(phases).items()),
            flush=True)
        t_load = time.monotonic() - t_begin
        self.assertEqual(s.stop(), 0, f"sluice exit code; stderr:\n{s.stderr()[-4000:]}")
        it.check_sanitizer_output(self, s.stderr())
        self.verify(storm, baseline, peak, peak_inflight, factor, t_load)

    def verify(self, storm, baseline, peak, peak_inflight, factor, t_load):
        led = storm.ledger
        acked = led.acknowledged()
        by_id = it.wait_for_event_ids(acked, prefix=storm.prefix, timeout=60)
        found = acked & set(by_id)
        missing = sorted(acked - found)
        unacked = sorted(led.sent - acked)
        dups = sorted(i for i, msgs in by_id.items() if len(msgs) > 1)
        twice_accepted = sorted(i for i, c in led.accepted.items() if c > 1)

        extra_copies = sum(len(by_id[i]) - 1 for i in dups)
        n503 = led.status.get(503, 0)
        dedupe_kb = len(acked) * DEDUPE_ENTRY // 1024
        bound = baseline + int(factor * (BUDGET + QUEUE) / 1024) + dedupe_kb
        overloaded = led.answers.get("503 overloaded", 0)
        mib = 1024.0
        print(f"\nreconnect_storm: devices={DEVICES} events/batch={EVENTS} waves={WAVES} "
              f"sent={len(led.sent)} acknowledged={len(acked)} found={len(found)} "
              f"duplicates={len(dups)} (extra copies {extra_copies}) "
              f"missing={len(missing)} "
              f"unacknowledged={len(unacked)} "
              f"in_kafka_not_acknowledged={len(set(by_id) - acked)} "
              f"requests={led.requests} resends={led.resends} 503s={n503} "
              f"429s={led.status.get(429, 0)} 207s={led.status.get(207, 0)} "
              f"conn_errors={led.status.get('conn', 0)} "
              f"broker_stopped={self.broker.stopped:.1f}s load={t_load:.0f}s", flush=True)
        print(f"reconnect_storm: peak_rss={peak / mib:.1f} MiB baseline={baseline / mib:.1f} MiB "
              f"bound={bound / mib:.1f} MiB (baseline + {factor} x (inflight_bytes "
              f"{BUDGET >> 20} MiB + queue_max_bytes {QUEUE >> 20} MiB) + dedupe "
              f"{dedupe_kb / mib:.1f} MiB); peak sluice_inflight_bytes "
              f"{peak_inflight / (1 << 20):.1f} MiB; 503 overloaded={overloaded}", flush=True)
        print(f"reconnect_storm: answers {dict(sorted(led.answers.items()))}", flush=True)

        def evidence(ids):
            return it.duplicate_evidence(ids, by_id, led.history)

        self.assertEqual(led.unexpected[:20], [], "answers outside the contract")
        self.assertEqual(len(led.sent), DEVICES * EVENTS * WAVES)
        self.assertEqual(missing, [], f"{len(missing)} acknowledged events are not in Kafka:\n"
                                      f"{evidence(missing)}")
        self.assertEqual(unacked, [], f"{len(unacked)} events were never acknowledged before "
                                      f"the deadline:\n{evidence(unacked)}")
        self.assertEqual(twice_accepted, [], f"events answered accepted twice (dedupe missed a "
                                             f"retry):\n{evidence(twice_accepted)}")
        self.assertEqual(dups, [], f"{len(dups)} events are in Kafka more than once:\n"
                                   f"{evidence(dups)}")
        self.assertGreater(led.resends, 0, "no device had to resend: was the broker slowed?")
        # The budget held the storm back: some batches were refused before they were decoded,
        # and what the admitted ones held stayed near it (one request may go over by what its
        # decoding took: it is counted once its stages have run).
        self.assertGreater(overloaded, 0, "no batch was refused 503 overloaded: the storm "
                                          "never reached limits.inflight_bytes")
        self.assertLessEqual(peak_inflight, BUDGET + (4 << 20),
                             "sluice_inflight_bytes went well over limits.inflight_bytes")
        self.assertLess(peak, bound, f"sluice's peak VmRSS {peak / mib:.1f} MiB is over "
                                     f"{bound / mib:.1f} MiB")


if __name__ == "__main__":
    it.main()
