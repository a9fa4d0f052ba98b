"""Dedupe (dedupe.window, dedupe.max_entries) against a real broker: a batch sent again is
answered `duplicate` event by event and lands in Kafka once; ids are per tenant; an id is
remembered only after Kafka acknowledged it, so an event answered retryable (queue full before
the produce, or a delivery that timed out while the broker was down) is accepted when sent
again; dedupe.window=0 turns it off, and past the window a repeat is produced again.

Every test uses ids of its own (it.unique). Kafka is read back with kcat after the answers: an
answer comes only after the delivery reports of the events it accepted, and a duplicate is never
handed to the producer, so what is in the topic then is final for those ids."""

import threading
import time

import sluice_it as it

DUPLICATE_MESSAGE = "event_id was already accepted within dedupe.window; not produced again"


def count_by_id(p):
    return {eid: len(msgs) for eid, msgs in it.messages_by_event_id(prefix=p).items()}


class DedupeCase(it.SluiceTestCase):

    def post_ids(self, ids, token=None):
        return self.post(it.batch([it.event(i) for i in ids]), token=token)

    def assert_accepted(self, r, ids):
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["accepted"], r.json["duplicate"]), (len(ids), 0), r)
        self.assertEqual(r.json["results"], [], r)

    def assert_all_duplicate(self, r, ids):
        """A 200 whose every event is a duplicate: final, nothing to send again."""
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("retry-after"), "a duplicate is final: no Retry-After")
        self.assertEqual((r.json["received"], r.json["accepted"], r.json["duplicate"],
                          r.json["retryable"]), (len(ids), 0, len(ids), 0), r)
        self.assertEqual([x["event_id"] for x in r.json["results"]], list(ids), r)
        for x in r.json["results"]:
            self.assertEqual(x["status"], "duplicate", r)
            self.assertEqual(x["code"], "duplicate_event_id", r)
            self.assertEqual(x["message"], DUPLICATE_MESSAGE, r)


class DedupeTest(DedupeCase):
    """The defaults: dedupe.window=1h."""

    def test_batch_posted_twice_lands_once(self):
        p = it.unique("dd")
        ids = [f"{p}-{i}" for i in range(5)]
        before = self.sluice.metrics()
        self.assert_accepted(self.post_ids(ids), ids)
        self.assert_all_duplicate(self.post_ids(ids), ids)
        self.assert_all_duplicate(self.post_ids(ids), ids)
        self.assertEqual(count_by_id(p), {i: 1 for i in ids}, "each id once in Kafka")
        after = self.sluice.metrics()
        delta = lambda k: after[k] - before[k]
        self.assertEqual(delta('sluice_events_total{outcome="duplicate"}'), 10)
        self.assertEqual(delta('sluice_events_total{outcome="accepted"}'), 5)
        self.assertGreaterEqual(after["sluice_dedupe_entries"], 5)
        self.assertEqual(after["sluice_dedupe_evictions_total"], 0)

    def test_some_new_some_repeated(self):
        p = it.unique("ddmix")
        self.assert_accepted(self.post_ids([f"{p}-0", f"{p}-1"]), [0, 1])
        r = self.post_ids([f"{p}-1", f"{p}-2", f"{p}-0", f"{p}-3"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["accepted"], r.json["duplicate"]), (2, 2), r)
        self.assertEqual([(x["index"], x["status"]) for x in r.json["results"]],
                         [(0, "duplicate"), (2, "duplicate")], r)
        self.assertEqual(count_by_id(p), {f"{p}-{i}": 1 for i in range(4)})

    def test_repeat_within_one_batch(self):
        p = it.unique("ddin")
        r = self.post_ids([f"{p}-a", f"{p}-b", f"{p}-a"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["accepted"], r.json["duplicate"]), (2, 1), r)
        (res,) = r.json["results"]
        self.assertEqual((res["index"], res["event_id"], res["status"], res["code"]),
                         (2, f"{p}-a", "duplicate", "duplicate_event_id"), r)
        self.assertIn("earlier in the same batch", res["message"], r)
        self.assertEqual(count_by_id(p), {f"{p}-a": 1, f"{p}-b": 1})

    def test_ids_are_per_tenant(self):
        p = it.unique("ddten")
        ids = [f"{p}-{i}" for i in range(3)]
        other = it.mint_token(it.unique("tenant-other"))
        self.assert_accepted(self.post_ids(ids), ids)
        self.assert_accepted(self.post_ids(ids, token=other), ids)
        self.assert_all_duplicate(self.post_ids(ids, token=other), ids)
        by_id = it.messages_by_event_id(prefix=p)
        self.assertEqual(sorted(by_id), ids)
        for eid in ids:
            tenants = sorted(m["headers"]["tenant"] for m in by_id[eid])
            self.assertEqual(len(tenants), 2, by_id[eid])
            self.assertEqual(tenants[0], "t1")
            self.assertTrue(tenants[1].startswith("tenant-other"), tenants)

    def test_invalid_event_is_not_remembered(self):
        p = it.unique("ddinv")
        bad = it.event(f"{p}-0", type="page_view", properties={})  # page_view needs url
        r = self.post(it.batch([bad]))
        self.assertEqual((r.status, r.json["invalid"]), (200, 1), r)
        self.assert_accepted(self.post_ids([f"{p}-0"]), [0])
        self.assertEqual(count_by_id(p), {f"{p}-0": 1})


class DedupeQueueFullTest(DedupeCase):
    """A producer queue of 3: what does not fit is answered retryable (queue_full) and was never
    handed to Kafka; sent again, those are accepted and the others are duplicates."""
    SETS = ("kafka.queue_max_messages=3", "kafka.linger=1000ms")

    def test_retryable_ids_are_accepted_on_retry(self):
        p = it.unique("ddqf")
        ids = [f"{p}-{i}" for i in range(5)]
        r = self.post_ids(ids)
        self.assertEqual(r.status, 207, r)
        self.assertEqual((r.json["accepted"], r.json["retryable"]), (3, 2), r)
        retryable = [x["event_id"] for x in r.json["results"]]
        self.assertEqual(retryable, ids[3:], r)
        self.assertEqual({x["code"] for x in r.json["results"]}, {"queue_full"}, r)

        # The client sends the whole batch again, as SDKs do.
        r = self.post_ids(ids)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["accepted"], r.json["duplicate"], r.json["retryable"]),
                         (2, 3, 0), r)
        self.assertEqual([(x["event_id"], x["status"]) for x in r.json["results"]],
                         [(i, "duplicate") for i in ids[:3]], r)
        self.assertEqual(count_by_id(p), {i: 1 for i in ids}, "each id once in Kafka")


class OutageCase(DedupeCase):
    def kill_broker_during_linger(self, ids):
        """Posts ids, kills the broker while they wait in the producer queue, and returns the
        answer (after kafka.delivery_timeout) with the broker resumed and sluice ready."""
        kafka_dir = it.env("KAFKA_DIR")
        first = {}

        def post_first():
            first["r"] = self.post_ids(ids)

        t = threading.Thread(target=post_first)
        try:
            t.start()
            deadline = time.monotonic() + 5
            while (self.sluice.metrics()["sluice_inflight_requests"] < 1
                   and time.monotonic() < deadline):
                time.sleep(0.01)
            self.assertGreaterEqual(self.sluice.metrics()["sluice_inflight_requests"], 1,
                                    "the batch never waited for Kafka")
            it.kafka_sh("kill", kafka_dir)  # within the 1 s linger: nothing was sent yet
            t.join(30)
            self.assertFalse(t.is_alive())
            r = first["r"]
            self.assertEqual(r.status, 503, r)
            self.assertEqual(r.json["retryable"], len(ids), r)
            codes = {x["code"] for x in r.json["results"]}
            self.assertTrue(codes <= it.RETRYABLE_CODES - {"queue_full", "kafka_unavailable"},
                            f"failed after the produce, not refused before it: {r}")
        finally:
            if not it.kafka_running():
                it.kafka_sh("resume", kafka_dir)
        self.sluice.wait_ready(timeout=120)
        return r


class DedupeDeliveryFailureTest(OutageCase):
    """A delivery that fails after the produce: the batch waits in the producer queue
    (kafka.linger=1s) when the broker is killed, and librdkafka gives it up with the request's
    deadline (kafka.message_timeout = kafka.delivery_timeout = 3s). Those ids were handed to the
    producer but not acknowledged: their claims are released, and sent again after the broker
    is back they are accepted, not duplicates."""
    SETS = ("kafka.linger=1000ms", "kafka.delivery_timeout=3s", "kafka.message_timeout=3s",
            "kafka.health_interval=200ms")

    def test_failed_delivery_is_retryable_and_accepted_on_retry(self):
        p = it.unique("dddr")
        ids = [f"{p}-{i}" for i in range(3)]
        self.kill_broker_during_linger(ids)
        r = self.post_ids(ids)
        self.assert_accepted(r, ids)
        self.assert_all_duplicate(self.post_ids(ids), ids)
        by_id = it.wait_for_event_ids(ids, prefix=p)
        self.assertEqual({k: len(v) for k, v in by_id.items()}, {i: 1 for i in ids})


class DedupeLateDeliveryTest(OutageCase):
    """The same outage with the default kafka.message_timeout (5m): the request is answered
    retryable delivery_pending at kafka.delivery_timeout while librdkafka keeps its events and
    delivers them once the broker is back. A retry is answered in_flight while they are under
    way and duplicate once they are in: never produced a second time."""
    SETS = ("kafka.linger=1000ms", "kafka.delivery_timeout=3s", "kafka.health_interval=200ms")

    def test_retry_of_a_late_delivery_is_a_duplicate(self):
        p = it.unique("ddlate")
        ids = [f"{p}-{i}" for i in range(3)]
        r = self.kill_broker_during_linger(ids)
        self.assertEqual({x["code"] for x in r.json["results"]}, {"delivery_pending"}, r)
        seen = set()
        deadline = time.monotonic() + 60
        while True:
            r = self.post_ids(ids)
            self.assertIn(r.status, (200, 503), r)
            statuses = {(x["status"], x["code"]) for x in r.json["results"]}
            seen |= statuses
            self.assertEqual(r.json["accepted"], 0, f"a retry was produced again: {r}")
            self.assertTrue(statuses <= {("retryable", "in_flight"),
                                         ("duplicate", "duplicate_event_id")}, r)
            if r.status == 200:
                break
            self.assertLess(time.monotonic(), deadline, f"never delivered: {r}")
            time.sleep(0.2)
        self.assert_all_duplicate(r, ids)
        by_id = it.wait_for_event_ids(ids, prefix=p)
        self.assertEqual({k: len(v) for k, v in by_id.items()}, {i: 1 for i in ids},
                         "each id once in Kafka")
        late = self.sluice.metrics()['sluice_late_deliveries_total{result="delivered"}']
        self.assertGreaterEqual(late, 3, "the late acknowledgements are counted")


class DedupeOffTest(DedupeCase):
    SETS = ("dedupe.window=0",)

    def test_window_zero_produces_repeats(self):
        p = it.unique("ddoff")
        ids = [f"{p}-0", f"{p}-1"]
        self.assert_accepted(self.post_ids(ids), ids)
        self.assert_accepted(self.post_ids(ids), ids)
        self.assert_accepted(self.post_ids([f"{p}-0", f"{p}-0"]), [0, 0])
        self.assertEqual(count_by_id(p), {f"{p}-0": 4, f"{p}-1": 2})


class DedupeShortWindowTest(DedupeCase):
    SETS = ("dedupe.window=2s",)

    def test_repeat_after_the_window_is_produced_again(self):
        p = it.unique("ddwin")
        ids = [f"{p}-0", f"{p}-1"]
        self.assert_accepted(self.post_ids(ids), ids)
        self.assert_all_duplicate(self.post_ids(ids), ids)
        time.sleep(3)
        self.assert_accepted(self.post_ids(ids), ids)
        self.assert_all_duplicate(self.post_ids(ids), ids)
        self.assertEqual(count_by_id(p), {i: 2 for i in ids})


if __name__ == "__main__":
    it.main()
