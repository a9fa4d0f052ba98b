"""Delivery proof: no event acknowledged with a 2xx is ever lost, and with dedupe on (the
default, dedupe.window=1h) none lands in Kafka twice because a client retried it -- under three
faults, each with its own sluice and its own event_id prefix:

  broker_sigkill   the broker is killed with SIGKILL (kafka.sh kill) during load and restarted
                   (kafka.sh resume); kafka.delivery_timeout stays long enough (30s) for the
                   idempotent producer to resend what was in flight to the restarted broker;
  sluice_sigterm   sluice gets SIGTERM during load (it drains), a new sluice is started on the
                   same port, and the clients go on retrying against it;
  broker_stall     the broker's JVM is stopped (SIGSTOP) for kafka.delivery_timeout (5s) + 3s,
                   then continued (SIGCONT): in-flight events run out of time while the broker
                   still holds them.

Load: CLIENTS threads, each posting batches of BATCH uniquely identified events one after the
other and following the client contract an SDK follows, retries reusing the event_id:
  200          every event has a final outcome: accepted (not in results) or `duplicate`
               (accepted earlier) -- both count as acknowledged;
  207          resend only the events listed `retryable`; the others are acknowledged as above;
  503 / 429 / a connection error or timeout
               resend the whole batch (a 503 with per-event results: its retryable events)
               after Retry-After (capped at RETRY_CAP seconds to keep the test short).
Every batch is sent until each of its events is acknowledged or the scenario's deadline passes.

Afterwards the topic is read back with kcat: every acknowledged event_id must be there, none
more than once, and every event must have been acknowledged before the deadline. One line per
scenario goes to stdout for the team's notes:

  delivery_proof broker_sigkill: sent=N acknowledged=N found=N duplicated=N retries=N ...

(retries = requests that resent a batch or part of one.)

broker_stall is the case the answer deadline exists for: kafka.delivery_timeout (5s) answers the
requests in flight retryable `delivery_pending` while librdkafka keeps their events in flight
(kafka.message_timeout, 5m by default), so the idempotent producer never gives up a produce
request the stalled broker may still write; the clients' retries of those events are answered
`in_flight` (not produced) until the late acknowledgement, then `duplicate`. Were librdkafka to
time the request out instead (kafka.message_timeout = kafka.delivery_timeout), its epoch would
move on and a retry would be written a second time, which this test would fail on.
"""

import http.client
import json
import os
import signal
import socket
import threading
import time
import unittest

import sluice_it as it

CLIENTS = 4
FAULT_CLIENTS = 2        # more clients, started while the fault lasts
BATCH = 20
RETRY_AFTER = "1s"
RETRY_CAP = 1.0           # seconds: the longest a client waits before a retry
CONN_RETRY_WAIT = 0.25    # seconds: after a connection error (no Retry-After to honour)
CLIENT_TIMEOUT = 90       # seconds: longer than any answer sluice may take (delivery_timeout
                          # + linger), so a client never gives up on a batch still in flight
DRAIN_DEADLINE = 60       # seconds for the last batches to be acknowledged after the fault


class Batch:
    """One client batch and the fate of its events."""

    def __init__(self, ids):
        self.ids = ids
        self.pending = list(ids)   # not acknowledged yet: what the next attempt sends


class Ledger:
    """What the clients were told, per event_id (all threads, under one lock)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = set()
        self.accepted = {}         # event_id -> times it was answered accepted
        self.duplicate = set()     # answered `duplicate` (accepted earlier)
        self.history = {}          # event_id -> [(wall time sent, answer)], for evidence
        self.requests = 0
        self.retries = 0
        self.answers = {}          # "200", "207 kafka_timeout", "conn ConnectionRefusedError"
        self.unexpected = []       # answers outside the contract

    def acknowledged(self):
        with self.lock:
            return set(self.accepted) | self.duplicate

    def tally(self, key):
        self.answers[key] = self.answers.get(key, 0) + 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Load:
    """CLIENTS threads posting batches to addr (a callable, so it may change) until stop_new,
    then finishing the batches they hold until every event is acknowledged or deadline."""

    def __init__(self, prefix, addr, token):
        self.prefix = prefix
        self.addr = addr
        self.token = token
        self.ledger = Ledger()
        self.stop_new = threading.Event()
        self.deadline = None          # monotonic; set with stop_new
        self.threads = [threading.Thread(target=self.client, args=(n,), daemon=True)
                        for n in range(CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def more(self, k):
        """Starts k more clients: started during a fault, their first batches meet it."""
        for _ in range(k):
            t = threading.Thread(target=self.client, args=(len(self.threads),), daemon=True)
            self.threads.append(t)
            t.start()

    def finish(self, deadline=DRAIN_DEADLINE):
        self.deadline = time.monotonic() + deadline
        self.stop_new.set()
        for t in self.threads:
            t.join(deadline + CLIENT_TIMEOUT + 10)
            if t.is_alive():
                raise AssertionError("a client thread did not finish")

    # ---------------------------------------------------------------- client ----

    def client(self, n):
        conn = None
        k = 0
        while not self.stop_new.is_set():
            k += 1
            b = Batch([f"{self.prefix}-{n}-{k}-{j}" for j in range(BATCH)])
            with self.ledger.lock:
                self.ledger.sent.update(b.ids)
            first = True
            while b.pending:
                if self.deadline is not None and time.monotonic() > self.deadline:
                    break             # left unacknowledged: verify() reports it
                conn, wait = self.attempt(conn, n, b, first)
                first = False
                if b.pending and wait > 0:
                    time.sleep(wait)
            time.sleep(0.02)
        if conn is not None:
            conn.close()

    def attempt(self, conn, n, b, first):
        """Posts b.pending once; updates b.pending and the ledger. Returns (conn, wait)."""
        ids = list(b.pending)
        body = json.dumps(it.batch([it.event(i, user_id=f"u-{n}-{j % 5}")
                                    for j, i in enumerate(ids)])).encode()
        sent_at = time.time()
        resp = None
        err = None
        try:
            if conn is None:
                host, port = self.addr().rsplit(":", 1)
                conn = http.client.HTTPConnection(host, int(port), timeout=CLIENT_TIMEOUT)
            conn.request("POST", "/v1/events", body=body,
                         headers={"Content-Type": "application/json",
                                  "Authorization": f"Bearer {self.token}"})
            r = conn.getresponse()
            resp = it.Response(r.status, r.getheaders(), r.read())
            if r.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            err = e
            if conn is not None:
                conn.close()
            conn = None
        led = self.ledger
        with led.lock:
            led.requests += 1
            if not first:
                led.retries += 1
            if resp is None:
                led.tally(f"conn {type(err).__name__}")
                for i in ids:
                    led.history.setdefault(i, []).append((sent_at, f"conn {err!r}"))
                return conn, CONN_RETRY_WAIT
            return conn, self.classify(ids, resp, b, sent_at)

    def classify(self, ids, r, b, sent_at):
        """Applies answer r to the events ids of b (ledger lock held). Returns the wait."""
        led = self.ledger
        j = r.json if isinstance(r.json, dict) else {}
        results = j.get("results")
        wait = 0.0
        if r.status in (207, 429, 503):
            try:
                wait = min(float(r.header("retry-after")), RETRY_CAP)
            except (TypeError, ValueError):
                led.unexpected.append(f"no Retry-After on {r!r}")
                wait = RETRY_CAP
        if r.status in (200, 207, 503) and isinstance(results, list):
            key, b.pending = it.apply_results(led, ids, r, sent_at)
            led.tally(key)
            return wait
        if r.status in (429, 503) and r.error_code() is not None:
            led.tally(f"{r.status} {r.error_code()}")
            for i in ids:
                led.history.setdefault(i, []).append((sent_at, f"{r.status} "
                                                      f"{r.error_code()}"))
            return wait   # nothing taken: the whole batch again
        led.tally(f"{r.status} unexpected")
        led.unexpected.append(f"answer outside the contract: {r!r}")
        b.pending = []    # the test fails on it; no point in sending it again
        return 0.0


class DeliveryProofTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.token = it.mint_token("t1")
        cls.kafka_dir = it.env("KAFKA_DIR")

    def tearDown(self):
        # Leave the broker running and not stopped for the tests that follow.
        if it.release_broker() is None and not it.kafka_running():
            it.kafka_sh("resume", self.kafka_dir)

    # --------------------------------------------------------------- helpers ----

    def start_sluice(self, sets):
        s = it.Sluice(["kafka.health_interval=200ms", f"http.retry_after={RETRY_AFTER}",
                       *sets])
        self.addCleanup(s.cleanup)
        return s.start()

    def reap(self, s, timeout=90):
        """Waits for s to exit after the SIGTERM it was sent: exit code 0, no sanitizer report."""
        rc = s.wait(timeout)
        err = s.stderr()
        it.check_sanitizer_output(self, err)
        self.assertEqual(rc, 0, f"sluice exit code after SIGTERM; stderr:\n{err[-4000:]}")

    def stop_sluice(self, s):
        s.signal(signal.SIGTERM)
        self.reap(s)

    def verify(self, name, load):
        """Reads the topic back and checks the ledger against it."""
        led = load.ledger
        self.assertEqual(led.unexpected[:20], [], f"{name}: answers outside the contract")
        acked = led.acknowledged()
        by_id = it.wait_for_event_ids(acked, prefix=load.prefix, timeout=30)
        found = acked & set(by_id)
        missing = sorted(acked - found)
        dups = sorted(i for i, msgs in by_id.items() if len(msgs) > 1)
        twice_accepted = sorted(i for i, c in led.accepted.items() if c > 1)
        unacked = sorted(led.sent - acked)

        print(f"\ndelivery_proof {name}: sent={len(led.sent)} acknowledged={len(acked)} "
              f"found={len(found)} duplicated={len(dups)} retries={led.retries} "
              f"requests={led.requests} unacknowledged={len(unacked)} "
              f"in_kafka_not_acknowledged={len(set(by_id) - acked)}", flush=True)
        print(f"delivery_proof {name}: answers {dict(sorted(led.answers.items()))}", flush=True)

        def evidence(ids):
            return it.duplicate_evidence(ids, by_id, led.history)

        if dups:
            print(f"delivery_proof {name}: duplicated events:\n{evidence(dups)}", flush=True)
        self.assertEqual(missing, [], f"{name}: {len(missing)} acknowledged events are not in "
                                      f"Kafka (of {len(acked)}):\n{evidence(missing)}")
        self.assertEqual(unacked, [], f"{name}: {len(unacked)} events were never acknowledged "
                                      f"before the deadline:\n{evidence(unacked)}")
        self.assertGreater(len(acked), CLIENTS * BATCH, f"{name}: too little load")
        self.assertGreater(led.retries, 0, f"{name}: no client had to retry; was there a fault?")
        self.assertEqual(twice_accepted, [], f"{name}: events answered accepted twice "
                                             f"(dedupe missed a retry):\n"
                                             f"{evidence(twice_accepted)}")
        self.assertEqual(dups, [], f"{name}: {len(dups)} events are in Kafka more than once:\n"
                                   f"{evidence(dups)}")

    # ------------------------------------------------------------- scenarios ----

    def test_a_broker_sigkill(self):
        """SIGKILL the broker under load, restart it: what was in flight is resent by the
        idempotent producer to the restarted broker within kafka.delivery_timeout; batches
        that arrive meanwhile are refused (503) and retried by the clients."""
        s = self.start_sluice(["kafka.delivery_timeout=30s"])
        load = Load(it.unique("proof-kill"), lambda: s.public, self.token).start()
        try:
            time.sleep(2.0)
            it.kafka_sh("kill", self.kafka_dir)
            s.wait_ready(timeout=20, want=503)
            load.more(FAULT_CLIENTS)
            time.sleep(1.0)
        finally:
            if not it.kafka_running():
                it.kafka_sh("resume", self.kafka_dir)
        s.wait_ready(timeout=60)
        time.sleep(2.0)
        load.finish()
        self.stop_sluice(s)
        self.verify("broker_sigkill", load)

    def test_b_sluice_sigterm(self):
        """SIGTERM sluice under load (it drains: every batch it took is answered), start a new
        sluice on the same port; the clients retry against it. The new process remembers no
        ids, so a duplicate here would be an answer lost by the drain."""
        port = free_port()
        sets = [f"listen.http=127.0.0.1:{port}", "shutdown.timeout=20s"]
        first = self.start_sluice(sets)
        addr = first.public
        load = Load(it.unique("proof-term"), lambda: addr, self.token).start()
        time.sleep(2.5)
        first.signal(signal.SIGTERM)
        load.more(FAULT_CLIENTS)
        self.reap(first)
        second = self.start_sluice(sets)
        self.assertEqual(second.public, addr)
        time.sleep(2.0)
        load.finish()
        self.stop_sluice(second)
        self.verify("sluice_sigterm", load)

    def test_c_broker_stall(self):
        """SIGSTOP the broker for kafka.delivery_timeout + 3s, then SIGCONT: requests in flight
        are answered retryable delivery_pending at the deadline while their events stay in
        flight; the clients' retries are answered in_flight, then duplicate once the broker
        has written the first copy; batches that arrive meanwhile are refused (503). The late
        acknowledgements are counted in sluice_late_deliveries_total."""
        delivery_timeout = 5.0
        s = self.start_sluice([f"kafka.delivery_timeout={int(delivery_timeout)}s"])
        load = Load(it.unique("proof-stall"), lambda: s.public, self.token).start()
        pid = it.broker_pid()
        time.sleep(2.0)
        t_stop = time.monotonic()
        os.kill(pid, signal.SIGSTOP)
        try:
            s.wait_ready(timeout=20, want=503)
            load.more(FAULT_CLIENTS)
            time.sleep(max(0.0, t_stop + delivery_timeout + 3.0 - time.monotonic()))
        finally:
            os.kill(pid, signal.SIGCONT)
        s.wait_ready(timeout=60)
        time.sleep(2.0)
        load.finish()
        late = s.metrics().get('sluice_late_deliveries_total{result="delivered"}', 0)
        print(f"\ndelivery_proof broker_stall: late deliveries (answered delivery_pending, "
              f"then acknowledged) = {late:.0f}", flush=True)
        self.stop_sluice(s)
        self.verify("broker_stall", load)
        answers = load.ledger.answers
        self.assertTrue(any("delivery_pending" in k for k in answers),
                        f"no request was answered at the deadline: was the stall long enough? "
                        f"{answers}")

if __name__ == "__main__":
    it.main()
