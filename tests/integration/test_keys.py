"""Message keys, hot keys, dead letters and event-time timestamps against the real broker
(docs/keys.md).

  KeyTemplatesTest   keys.types keys add_to_cart and checkout_step by {tenant}:{properties.cart_id}
                     (one cart, one partition, whoever's events they are); the default
                     {tenant}:{user_id|anonymous_id|device_id} elsewhere, the same key and
                     partition in the raw and identity stages; keys.missing=random: a key drawn
                     from the event_id and the header key_source=random.  Every partition is
                     checked against Java's murmur2 partitioner (computed here; test_partitioning
                     checks that computation against the Java client itself).
  KeysRejectTest     keys.missing=reject: key_missing, and the event in the dead-letter topic with
                     dead_letter_code, dead_letter_reason, batch_id and batch_index.
  HotKeysTest        a skewed load (70% of the events from one user) on a fresh 8-partition topic,
                     three times: hot-key spreading off, detected (keys.hot_rate) and listed
                     (keys.hot).  Prints the per-partition load of each run; the largest
                     partition's share must drop, spread events carry original_key and key_spread,
                     grouping by original_key gives every event of the user back, and /metrics
                     counts the spread events of the key.
  EventTimeTest      kafka.timestamp=event: the message timestamp is occurred_at; headers
                     occurred_at and sent_at.
"""

import collections
import datetime
import json
import random
import time
import unittest

import sluice_it as it

PARTITIONS = 8
EVENTS = 2000
HOT_SHARE = 0.7
HOT_USER = "whale"
SPREAD = 8


def murmur2(data):
    """org.apache.kafka.common.utils.Utils.murmur2, as an unsigned 32-bit value."""
    length, m = len(data), 0x5BD1E995
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(length // 4):
        k = data[4 * i] | data[4 * i + 1] << 8 | data[4 * i + 2] << 16 | data[4 * i + 3] << 24
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail, rem = length & ~3, length % 4
    if rem == 3:
        h ^= data[tail + 2] << 16
    if rem >= 2:
        h ^= data[tail + 1] << 8
    if rem >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def java_partition(key, n):
    """The Java client's partition of a keyed record: toPositive(murmur2(key)) % n."""
    return (murmur2(key) & 0x7FFFFFFF) % n


def partition_count(topic):
    import subprocess
    p = subprocess.run(["kcat", "-b", it.bootstrap(), "-L", "-J", "-t", topic],
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"kcat -L failed: {p.stderr.decode(errors='replace')}")
    for t in json.loads(p.stdout)["topics"]:
        if t["topic"] == topic:
            return len(t["partitions"])
    raise RuntimeError(f"{topic} not in the metadata")


def wait_for(ids, topic, prefix, timeout=30):
    ids = set(ids)
    deadline = time.monotonic() + timeout
    while True:
        by_id = it.messages_by_event_id_raw(topic, prefix)
        if ids <= set(by_id) or time.monotonic() > deadline:
            return by_id
        time.sleep(0.5)


def rfc3339_ms(s):
    return int(datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp() * 1000 + 0.5)


class KeyTemplatesTest(it.SluiceTestCase):
    SETS = ("keys.types=add_to_cart={tenant}:{properties.cart_id} "
            "checkout_step={tenant}:{properties.cart_id}",)

    def test_templates_end_to_end(self):
        p = it.unique("ktpl")
        cart = f"cart-{p}"
        events = [
            it.event(f"{p}-cart-a", type="add_to_cart", user_id="u-A",
                     properties={"cart_id": cart, "product_id": "sku-1", "quantity": 1}),
            it.event(f"{p}-cart-b", type="checkout_step", user_id="u-B",
                     properties={"cart_id": cart, "step": 2}),
            it.event(f"{p}-view-a", user_id="u-A"),
            it.event(f"{p}-view-anon", anonymous_id="anon-9"),
            it.event(f"{p}-view-dev", device_id="dev-7"),
            it.event(f"{p}-view-none", session_id="s-1"),
            it.event(f"{p}-ident-a", type="identify", user_id="u-A",
                     properties={"user_id": "u-A"}),
        ]
        want = {f"{p}-cart-a": f"t1:{cart}", f"{p}-cart-b": f"t1:{cart}",
                f"{p}-view-a": "t1:u-A", f"{p}-view-anon": "t1:anon-9",
                f"{p}-view-dev": "t1:dev-7", f"{p}-view-none": f"t1:~{p}-view-none",
                f"{p}-ident-a": "t1:u-A"}
        r = self.post(it.batch(events))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["accepted"], len(events), r)

        got = {}
        for topic in ("sluice.raw", "sluice.identity"):
            for eid, msgs in wait_for([e for e in want if ("ident" in e) == (topic != "sluice.raw")],
                                      topic, p).items():
                self.assertEqual(len(msgs), 1, eid)
                got[eid] = msgs[0]
        self.assertEqual(sorted(got), sorted(want))
        counts = {t: partition_count(t) for t in ("sluice.raw", "sluice.identity")}
        for eid, m in got.items():
            with self.subTest(event=eid):
                self.assertEqual(m["key"], want[eid].encode())
                self.assertEqual(m["partition"],
                                 java_partition(m["key"], counts[m["topic"]]),
                                 "the Java client's partition for the key")
                if eid.endswith("-view-none"):
                    self.assertEqual(m["headers"].get("key_source"), "random")
                else:
                    self.assertNotIn("key_source", m["headers"])
        # One cart, one partition, whoever's events they are.
        self.assertEqual(got[f"{p}-cart-a"]["partition"], got[f"{p}-cart-b"]["partition"])
        # The stages co-partition: one user's raw and identity events on the same partition
        # number (with the same partition count).
        if counts["sluice.raw"] == counts["sluice.identity"]:
            self.assertEqual(got[f"{p}-view-a"]["partition"], got[f"{p}-ident-a"]["partition"])

        # Another tenant's same user is another key.
        other = it.mint_token("t2")
        r = self.post(it.batch([it.event(f"{p}-t2", user_id="u-A")]), token=other)
        self.assertEqual(r.status, 200, r)
        m = wait_for([f"{p}-t2"], "sluice.raw", p)[f"{p}-t2"][0]
        self.assertEqual(m["key"], b"t2:u-A")



class KeysRejectTest(it.SluiceTestCase):
    SETS = ("keys.missing=reject",)

    def test_missing_key_rejected_and_dead_lettered(self):
        p = it.unique("krej")
        events = [it.event(f"{p}-ok", user_id="u-1"),
                  it.event(f"{p}-nokey", session_id="s-1"),
                  it.event(f"{p}-ok2", anonymous_id="a-1")]
        r = self.post(it.batch(events, batch_id=f"{p}-batch"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["accepted"], r.json["invalid"]), (2, 1), r)
        res = r.json["results"][0]
        self.assertEqual((res["index"], res["status"], res["code"]), (1, "invalid", "key_missing"),
                         res)
        self.assertIn("{user_id|anonymous_id|device_id}", res["message"])
        self.assertIn("keys.missing is reject", res["message"])

        ok = wait_for([f"{p}-ok", f"{p}-ok2"], "sluice.raw", p)
        self.assertEqual(sorted(ok), [f"{p}-ok", f"{p}-ok2"], "the rejected one is not produced")
        # kcat -J here: the reason header holds commas, which read_topic_raw cannot carry.
        deadline = time.monotonic() + 30
        while True:
            dead = it.messages_by_event_id(it.DEAD_LETTER_TOPIC, p)
            if dead or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(sorted(dead), [f"{p}-nokey"])
        self.assertEqual(len(dead[f"{p}-nokey"]), 1)
        m = dead[f"{p}-nokey"][0]
        self.assertEqual(m["key"], "t1", "dead letters are keyed by tenant")
        h = m["headers"]
        self.assertEqual(h["dead_letter_code"], "key_missing")
        self.assertEqual(h["dead_letter_reason"], res["message"])
        self.assertEqual(h["batch_id"], f"{p}-batch")
        self.assertEqual(h["batch_index"], "1")
        self.assertEqual(h["tenant"], "t1")
        self.assertEqual(h["type"], "page_view")
        self.assertEqual(json.loads(m["payload"])["session_id"], "s-1",
                         "the event as received (no policy in this test)")


class HotKeysTest(unittest.TestCase):
    """One topic, three runs, each with its own sluice and event_id prefix."""

    @classmethod
    def setUpClass(cls):
        cls.topic = it.unique("keys-hot")
        it.create_topic(cls.topic, PARTITIONS)
        cls.token = it.mint_token("t1")
        rng = random.Random(20261127)
        n_hot = int(EVENTS * HOT_SHARE)
        users = [HOT_USER] * n_hot + [f"user-{rng.randrange(600)}" for _ in range(EVENTS - n_hot)]
        rng.shuffle(users)
        cls.users = users
        cls.loads = {}

    def run_load(self, name, sets):
        s = it.Sluice([f"topics.raw={self.topic}", *sets])
        self.addCleanup(s.cleanup)
        s.start()
        p = it.unique(f"hot-{name}")
        events = [it.event(f"{p}-{i:05d}", user_id=u) for i, u in enumerate(self.users)]
        for i in range(0, len(events), 250):
            r = s.post(it.batch(events[i:i + 250]), self.token)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["accepted"], len(events[i:i + 250]), r)
        # A cold event a second later: the hot-key metrics are published at most once a second.
        time.sleep(1.2)
        r = s.post(it.batch([it.event(f"{p}-late", user_id="late-user")]), self.token)
        self.assertEqual(r.status, 200, r)
        metrics = s.metrics()
        self.assertEqual(s.stop(), 0)
        it.check_sanitizer_output(self, s.stderr())
        by_id = it.messages_by_event_id_raw(self.topic, p)
        self.assertEqual(len(by_id), EVENTS + 1, "every event once")
        msgs = [by_id[e.get("event_id")][0] for e in events]
        for m in msgs:
            self.assertEqual(len(by_id[m["headers"]["event_id"]]), 1)
        load = [0] * PARTITIONS
        for m in msgs:
            load[m["partition"]] += 1
            # Wherever the key came from, the partition is the Java client's for it.
            self.assertEqual(m["partition"], java_partition(m["key"], PARTITIONS), m["key"])
        share = max(load) / len(msgs)
        self.loads[name] = (load, share)
        print(f"hot keys [{name}]: partition load {load}; max share {share:.2f}", flush=True)
        return events, msgs, metrics

    def check_spread(self, events, msgs, metrics, all_spread):
        hot_ids = {e["event_id"] for e in events if e["user_id"] == HOT_USER}
        spread = [m for m in msgs if "original_key" in m["headers"]]
        self.assertTrue(spread, "some events were spread")
        sub_keys = collections.Counter()
        for m in spread:
            h = m["headers"]
            self.assertEqual(h["original_key"], f"t1:{HOT_USER}")
            n, _, total = h["key_spread"].partition("/")
            self.assertEqual(total, str(SPREAD))
            self.assertTrue(0 <= int(n) < SPREAD, h["key_spread"])
            self.assertEqual(m["key"], f"t1:{HOT_USER}#{n}".encode(), "key is <key>#<n>")
            sub_keys[int(n)] += 1
        self.assertEqual(sorted(sub_keys), list(range(SPREAD)), f"every sub-key used: {sub_keys}")
        # Only the hot user's events are spread ...
        self.assertEqual({m["headers"]["event_id"] for m in spread} - hot_ids, set())
        if all_spread:
            self.assertEqual(len(spread), len(hot_ids), "a listed key: every event spread")
        else:
            # ... detected: all but the first keys.hot_rate (20) of the first second (the first
            # request's events are counted in one second).
            self.assertEqual(len(spread), len(hot_ids) - 20)
        # A consumer merging by original_key (else the key) gets every event of the user back.
        merged = collections.defaultdict(set)
        for m in msgs:
            k = m["headers"].get("original_key", m["key"].decode())
            merged[k].add(m["headers"]["event_id"])
        self.assertEqual(merged[f"t1:{HOT_USER}"], hot_ids)
        # The metrics count them.
        self.assertEqual(metrics.get("sluice_keys_spread_events_total"), float(len(spread)))
        if not all_spread:
            self.check_hot_key_metrics(metrics, len(spread))
        return len(spread)

    def check_hot_key_metrics(self, metrics, n_spread):
        label = f'sluice_hot_key_spread_events_total{{key="t1:{HOT_USER}"}}'
        self.assertEqual(metrics.get("sluice_hot_keys"), 1.0,
                         "sluice_hot_keys: keys spread now (keys.hot and those detected)")
        self.assertEqual(metrics.get(label), float(n_spread), label)

    def test_a_off(self):
        events, msgs, metrics = self.run_load("off", [])
        self.assertFalse([m for m in msgs if "original_key" in m["headers"]], "nothing spread")
        self.assertEqual(metrics.get("sluice_keys_spread_events_total"), 0.0)
        self.assertGreaterEqual(self.loads["off"][1], HOT_SHARE, "one partition takes the whale")

    def test_b_detected(self):
        events, msgs, metrics = self.run_load("detected", ["keys.hot_rate=20",
                                                           f"keys.hot_spread={SPREAD}"])
        n = self.check_spread(events, msgs, metrics, all_spread=False)
        self.compare("detected", n)

    def test_c_listed(self):
        events, msgs, metrics = self.run_load("listed", [f"keys.hot=t1:{HOT_USER}",
                                                         f"keys.hot_spread={SPREAD}"])
        n = self.check_spread(events, msgs, metrics, all_spread=True)
        self.compare("listed", n)
        type(self).listed_metrics = (metrics, n)

    def test_d_listed_key_in_hot_key_metrics(self):
        """A listed key is spread as much as a detected one, and /metrics says sluice_hot_keys
        counts "keys.hot and those detected over keys.hot_rate"."""
        if getattr(type(self), "listed_metrics", None) is None:
            self.skipTest("needs test_c_listed's run")
        metrics, n = type(self).listed_metrics
        self.check_hot_key_metrics(metrics, n)

    def compare(self, name, n_spread):
        if "off" not in self.loads:
            self.skipTest("needs test_a_off's distribution")
        before, after = self.loads["off"], self.loads[name]
        print(f"hot keys: partition load before: {before[0]} after ({name}): {after[0]}; "
              f"max share {before[1]:.2f} -> {after[1]:.2f} ({n_spread} events spread over "
              f"{SPREAD} sub-keys)", flush=True)
        self.assertLess(after[1], before[1] / 2, "the largest partition's share halves at least")


class EventTimeTest(it.SluiceTestCase):
    SETS = ("kafka.timestamp=event",)

    def test_message_timestamp_is_occurred_at(self):
        p = it.unique("evtime")
        now_ms = int(time.time() * 1000)
        day = 86400000
        events = [
            it.event(f"{p}-rfc", user_id="u-1", occurred_at="2026-03-04T05:06:07.089Z"),
            it.event(f"{p}-offset", user_id="u-1", occurred_at="2026-03-04T07:06:07.5+02:00"),
            it.event(f"{p}-epoch", user_id="u-1", occurred_at=now_ms - 3 * day),
        ]
        want = {f"{p}-rfc": rfc3339_ms("2026-03-04T05:06:07.089Z"),
                f"{p}-offset": rfc3339_ms("2026-03-04T05:06:07.500Z"),
                f"{p}-epoch": now_ms - 3 * day}
        # sent_at is now: a batch whose sent_at is off the receive time by more than
        # clock.tolerance has its occurred_at corrected by the difference (clock skew).
        sent = datetime.datetime.now(datetime.timezone.utc)
        sent_at = sent.strftime("%Y-%m-%dT%H:%M:%S.") + f"{sent.microsecond // 1000:03d}Z"
        r = self.post(it.batch(events, sent_at=sent_at))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["accepted"], 3, r)
        by_id = wait_for(want, "sluice.raw", p)
        self.assertEqual(sorted(by_id), sorted(want))
        for eid, ts in want.items():
            with self.subTest(event=eid):
                m = by_id[eid][0]
                self.assertEqual(m["ts"], ts, "the message timestamp is occurred_at")
                self.assertEqual(rfc3339_ms(m["headers"]["occurred_at"]), ts)
                self.assertEqual(m["headers"]["sent_at"], sent_at)
                received = rfc3339_ms(m["headers"]["received_at"])
                self.assertLess(abs(received - int(time.time() * 1000)), 120000)

    def test_client_clock_ahead_is_not_retryable_forever(self):
        """An occurred_at from a client clock far ahead. Kafka 4 brokers refuse timestamps more
        than log.message.timestamp.after.max.ms (1 h by default) in the future; whatever sluice
        does with such an event, the answer must be final (accepted, or invalid with a reason)
        -- `retryable` would have the client resend an event that can never be taken."""
        p = it.unique("evfuture")
        future = int(time.time() * 1000) + 2 * 86400000
        # The same user's event of a correct clock beside it: one partition, one produce batch.
        r = self.post(it.batch([it.event(f"{p}-future", user_id="u-1", occurred_at=future),
                                it.event(f"{p}-ok", user_id="u-1")]))
        statuses = {x["event_id"]: (x["status"], x["code"]) for x in r.json.get("results", [])}
        print(f"event time 2 days ahead: HTTP {r.status}, results {statuses}", flush=True)
        self.assertNotEqual(statuses.get(f"{p}-future", ("accepted",))[0], "retryable",
                            f"a retry can never succeed: {r!r}")
        self.assertNotIn(f"{p}-ok", statuses, f"an event with a correct occurred_at: {r!r}")
        self.assertIn(r.status, (200,), r)


if __name__ == "__main__":
    it.main()
