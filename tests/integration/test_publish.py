"""POST /v1/events against a real broker: what is answered and what lands in Kafka."""

import calendar
import json
import re
import threading
import time

import sluice_it as it

RFC3339_MS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def rfc3339_ms_to_epoch_ms(s):
    # "2026-11-27T02:45:09.135Z"
    t = time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(t) * 1000 + int(s[20:23])


class PublishTest(it.SluiceTestCase):

    def test_valid_batch_lands_in_kafka(self):
        p = it.unique("pub")
        events = [
            it.event(f"{p}-0", type="page_view", user_id="user-1", anonymous_id="anon-1",
                     properties={"url": "https://shop.example.com/a", "title": "A",
                                 "referrer": None},
                     occurred_at="2026-01-02T03:04:05.678Z"),
            it.event(f"{p}-1", type="screen_view", anonymous_id="anon-2",
                     properties={"name": "Home"},
                     occurred_at=1767323045678),  # epoch milliseconds
            it.event(f"{p}-2", type="purchase",
                     context={"page": {"title": "d\u00e9j\u00e0 vu \u2713"}, "locale": "fr-FR"},
                     properties={"orderId": "o-1", "revenue": 19.0, "currency": "EUR",
                                 "items": [{"product_id": "p1", "quantity": 2, "price": 9.5}]}),
            it.event(f"{p}-3", type="page_view", user_id="user-1",
                     occurred_at="2026-01-02T04:04:05+01:00"),
            it.event(f"{p}-4", type="search", user_id="user-2", anonymous_id="anon-3",
                     properties={"query": "shoes", "resultCount": "12", "filters": []}),
        ]
        # keys.raw's default {tenant}:{user_id|anonymous_id|device_id}; none set: a key drawn
        # from the event_id (keys.missing=random), flagged by the key_source header.
        expected_key = {f"{p}-0": "t1:user-1", f"{p}-1": "t1:anon-2", f"{p}-2": f"t1:~{p}-2",
                        f"{p}-3": "t1:user-1", f"{p}-4": "t1:user-2"}
        before_ms = int(time.time() * 1000)
        r = self.post(it.batch(events, batch_id=f"{p}-batch"))
        after_ms = int(time.time() * 1000)

        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("content-type"), "application/json")
        self.assertIsNone(r.header("retry-after"), "no Retry-After on a 200")
        self.assertEqual(r.json["batch_id"], f"{p}-batch")
        self.assertEqual(r.json["received"], 5)
        self.assertEqual(r.json["accepted"], 5)
        for k in ("invalid", "consent_dropped", "duplicate", "retryable"):
            self.assertEqual(r.json[k], 0, k)
        self.assertEqual(r.json["results"], [])

        ids = [e["event_id"] for e in events]
        # Answered 200 only after every event was acknowledged: it is readable right away.
        by_id = it.messages_by_event_id(prefix=p)
        self.assertEqual(sorted(by_id), sorted(ids), "event ids in sluice.raw")
        sent = {e["event_id"]: e for e in events}
        # The canonical form: declared names in field-number order, occurred_at in UTC with
        # milliseconds, defaults (null, empty) left out, numbers in their shortest form.
        url3 = f"https://shop.example.com/p/{p}-3"
        canonical = {
            f"{p}-0": {"event_id": f"{p}-0", "type": "page_view",
                       "occurred_at": "2026-01-02T03:04:05.678Z", "user_id": "user-1",
                       "anonymous_id": "anon-1",
                       "properties": {"url": "https://shop.example.com/a", "title": "A"}},
            f"{p}-1": {"event_id": f"{p}-1", "type": "screen_view",
                       "occurred_at": "2026-01-02T03:04:05.678Z", "anonymous_id": "anon-2",
                       "properties": {"name": "Home"}},
            f"{p}-2": {"event_id": f"{p}-2", "type": "purchase",
                       "occurred_at": "2026-01-02T03:04:05.678Z",
                       "context": {"locale": "fr-FR",
                                   "page": {"title": "d\u00e9j\u00e0 vu \u2713"}},
                       "properties": {"order_id": "o-1",
                                      "items": [{"product_id": "p1", "quantity": 2,
                                                 "price": 9.5}],
                                      "revenue": 19, "currency": "EUR"}},
            f"{p}-3": {"event_id": f"{p}-3", "type": "page_view",
                       "occurred_at": "2026-01-02T03:04:05.000Z", "user_id": "user-1",
                       "properties": {"url": url3}},
            f"{p}-4": {"event_id": f"{p}-4", "type": "search",
                       "occurred_at": "2026-01-02T03:04:05.678Z", "user_id": "user-2",
                       "anonymous_id": "anon-3",
                       "properties": {"query": "shoes", "result_count": "12"}},
        }
        received_at = set()
        for eid, msgs in by_id.items():
            with self.subTest(event_id=eid):
                self.assertEqual(len(msgs), 1, f"{eid} produced exactly once")
                m = msgs[0]
                self.assertEqual(m["key"], expected_key[eid], "message key")
                # Exactly these headers, in that order.
                self.assertEqual(m["headers_list"][0::2],
                                 ["event_id", "type", "received_at", "contract", "content_type",
                                  "tenant", "policy_version", "occurred_at", "sent_at"] +
                                 (["key_source"] if eid == f"{p}-2" else []))
                self.assertEqual(m["headers"]["occurred_at"], canonical[eid]["occurred_at"])
                self.assertEqual(m["headers"]["sent_at"], "2026-01-02T03:04:06.000Z",
                                 "the batch's sent_at, normalized")
                if eid == f"{p}-2":
                    self.assertEqual(m["headers"]["key_source"], "random")
                self.assertEqual(m["headers"]["policy_version"], "none", "the policy is off here")
                self.assertEqual(m["headers"]["content_type"], "application/json")
                contract = {"page_view": "PageView", "screen_view": "ScreenView",
                            "purchase": "Purchase", "search": "Search"}[sent[eid]["type"]]
                self.assertEqual(m["headers"]["contract"], "sluice.events.v1." + contract)
                self.assertEqual(m["headers"]["event_id"], eid)
                self.assertEqual(m["headers"]["type"], sent[eid]["type"])
                ra = m["headers"]["received_at"]
                self.assertRegex(ra, RFC3339_MS_UTC)
                ra_ms = rfc3339_ms_to_epoch_ms(ra)
                self.assertGreaterEqual(ra_ms, before_ms - 1000)
                self.assertLessEqual(ra_ms, after_ms + 1000)
                self.assertEqual(m["ts"], ra_ms, "message timestamp = receive time")
                received_at.add(ra)
                want = json.dumps(canonical[eid], separators=(",", ":"), ensure_ascii=False)
                self.assertEqual(m["payload"], want, "value is the canonical form")
        self.assertEqual(len(received_at), 1, "one receive time per batch")
        # Same key, same partition.
        self.assertEqual(by_id[f"{p}-0"][0]["partition"], by_id[f"{p}-3"][0]["partition"])

    def test_invalid_events_are_reported_and_not_produced(self):
        p = it.unique("mix")
        tag = p + "-tag"
        too_long = f"{p}-" + "x" * 200  # limits.max_id_bytes defaults to 128
        ctx = {"page": {"title": tag}}  # carried into every produced value
        events = [
            it.event(f"{p}-ok0", context=ctx, user_id="u-mix"),                  # 0 valid
            {"event_id": f"{p}-noocc", "type": "page_view", "context": ctx},     # 1 missing
            {"event_id": 12345, "type": "page_view", "context": ctx,
             "occurred_at": "2026-01-02T03:04:05Z"},                             # 2 wrong type
            it.event(f"{p}-badts", occurred_at="yesterday at noon", context=ctx),  # 3 bad ts
            f"{tag} not an object",                                              # 4 not object
            it.event(f"{p}-ok5", context=ctx, anonymous_id="a-mix"),             # 5 valid
            it.event(too_long, context=ctx),                                     # 6 too long
            it.event(f"{p}-ok7", context=ctx),                                   # 7 valid
        ]
        r = self.post(it.batch(events, batch_id=f"{p}-batch"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["batch_id"], f"{p}-batch")
        self.assertEqual(r.json["received"], 8)
        self.assertEqual(r.json["accepted"], 3)
        self.assertEqual(r.json["invalid"], 5)
        self.assertEqual(r.json["retryable"], 0)
        results = {res["index"]: res for res in r.json["results"]}
        self.assertEqual(sorted(results), [1, 2, 3, 4, 6], r.json["results"])
        want = {
            1: (f"{p}-noocc", "missing_field", "occurred_at"),
            2: (None, "wrong_type", "event_id"),
            3: (f"{p}-badts", "invalid_timestamp", "occurred_at"),
            4: (None, "not_an_object", None),
            6: (None, "too_long", "event_id"),
        }
        for idx, (eid, code, field) in want.items():
            with self.subTest(index=idx):
                res = results[idx]
                self.assertEqual(res["status"], "invalid")
                self.assertEqual(res["code"], code)
                if eid is not None:
                    self.assertEqual(res["event_id"], eid)
                self.assertIn("event_id", res)
                self.assertIsInstance(res["message"], str)
                self.assertTrue(res["message"])
                if field is not None:
                    self.assertIn(field, res["message"])

        ok = [f"{p}-ok0", f"{p}-ok5", f"{p}-ok7"]
        by_id = it.messages_by_event_id(prefix=p)
        self.assertEqual(sorted(by_id), sorted(ok), "only the valid events are in Kafka")
        tagged = [m for m in it.read_topic() if tag in (m.get("payload") or "")]
        self.assertEqual(sorted(m["headers"]["event_id"] for m in tagged), sorted(ok),
                         "no invalid event reached Kafka under any id")
        self.assertEqual(by_id[f"{p}-ok0"][0]["key"], "t1:u-mix")
        self.assertEqual(by_id[f"{p}-ok5"][0]["key"], "t1:a-mix")
        self.assertEqual(by_id[f"{p}-ok7"][0]["key"], f"t1:~{p}-ok7")

    def test_contract_violations_name_the_field(self):
        p = it.unique("ct")
        events = [
            it.event(f"{p}-ok", type="purchase",
                     properties={"order_id": "o-9", "revenue": 5, "currency": "USD",
                                 "items": [{"productId": "a", "quantity": 1, "price": 5}]}),
            it.event(f"{p}-price", type="purchase",
                     properties={"order_id": "o-9", "revenue": 5, "currency": "USD",
                                 "items": [{"product_id": "a"}, {"product_id": "b"},
                                           {"product_id": "c", "price": "abc"}]}),
            it.event(f"{p}-cur", type="purchase",
                     properties={"order_id": "o-9", "revenue": 5, "currency": "usd"}),
            it.event(f"{p}-unk", type="no_such_type"),
            it.event(f"{p}-field", properties={"url": "https://a.example/", "colour": "red"}),
            it.event(f"{p}-req", type="screen_view", properties={}),
        ]
        r = self.post(it.batch(events))
        self.assertEqual(r.status, 200, r)
        got = {x["event_id"]: (x["code"], x["message"]) for x in r.json["results"]}
        self.assertEqual(got[f"{p}-price"],
                         ("wrong_type", 'properties.items[2].price: expected a number, got "abc"'))
        self.assertEqual(got[f"{p}-cur"][0], "invalid_format")
        self.assertTrue(got[f"{p}-cur"][1].startswith("properties.currency: "), got)
        self.assertEqual(got[f"{p}-unk"][0], "unknown_type")
        self.assertEqual(got[f"{p}-field"][0], "unknown_field")
        self.assertTrue(got[f"{p}-field"][1].startswith("properties.colour: "), got)
        self.assertEqual(got[f"{p}-req"], ("missing_field",
                                           "properties.name: required field is missing"))
        self.assertEqual(r.json["accepted"], 1, r)
        self.assertEqual(sorted(it.messages_by_event_id(prefix=p)), [f"{p}-ok"],
                         "only the valid event reached Kafka")

    def test_each_stage_has_its_topic(self):
        p = it.unique("stage")
        uuid = "123e4567-e89b-12d3-a456-426614174000"
        events = [
            it.event(f"{p}-raw"),
            it.event(f"{p}-id", type="identify", properties={"user_id": "u-7"}),
            it.event(f"{p}-consent", type="consent_update", user_id="u-7",
                     properties={"granted": ["analytics"]}),
            it.event(f"{p}-dec", type="recommendation_impression",
                     properties={"request_id": uuid, "model_version": "m1",
                                 "items": [{"item_id": "i1", "position": 0}]}),
            it.event(f"{p}-out", type="recommendation_outcome",
                     properties={"request_id": uuid, "item_id": "i1", "action": "click"}),
        ]
        r = self.post(it.batch(events))
        self.assertEqual((r.status, r.json["accepted"]), (200, 5), r)
        for topic, eid in [("sluice.raw", "raw"), ("sluice.identity", "id"),
                           ("sluice.consent", "consent"), ("sluice.decisions", "dec"),
                           ("sluice.outcomes", "out")]:
            with self.subTest(topic=topic):
                self.assertEqual(sorted(it.messages_by_event_id(topic=topic, prefix=p)),
                                 [f"{p}-{eid}"])

    def test_escapes_and_exact_numbers(self):
        p = it.unique("esc")
        # Written by hand: escaped ids and strings, an int64 no double can hold (2^62 + 1) and a
        # decimal longer than a double: canonical output keeps the integer exactly (as a string,
        # proto3 JSON's form for 64-bit) and writes the double in its shortest form.
        body = ('{"batch_id":"%s-b","events":[{"event_id":"%s-e\\u0031","type":"se\\u0061rch",'
                '"occurred_at":1767323045678,"user_id":"u\\u00e9\\/x",'
                '"properties":{"query":"caf\\u00e9 \\"noir\\"\\/","resultCount":4611686018427387905},'
                '"context":{"geo":{"lat":0.1000000000000000055511151231257827}}}]}'
                % (p, p))
        r = self.post(body.encode())
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["accepted"], 1, r)
        by_id = it.messages_by_event_id(prefix=p)
        self.assertEqual(sorted(by_id), [f"{p}-e1"], "event_id header is the decoded string")
        m = by_id[f"{p}-e1"][0]
        self.assertEqual(m["headers"]["type"], "search", "type header is the decoded string")
        self.assertEqual(m["key"], "t1:u\u00e9/x", "key is the decoded user_id")
        self.assertEqual(
            m["payload"],
            '{"event_id":"%s-e1","type":"search","occurred_at":"2026-01-02T03:04:05.678Z",'
            '"user_id":"u\u00e9/x","context":{"geo":{"lat":0.1}},'
            '"properties":{"query":"caf\u00e9 \\"noir\\"/","result_count":"4611686018427387905"}}'
            % p)

    def test_full_batch_at_default_limit(self):
        p = it.unique("full")
        ids = [f"{p}-{i:04d}" for i in range(1000)]  # limits.max_events_per_batch default
        events = [it.event(i, user_id=f"user-{n % 37}",
                           properties={"url": f"https://shop.example.com/{n}", "title": "x" * 100})
                  for n, i in enumerate(ids)]
        r = self.post(it.batch(events))
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["received"], r.json["accepted"]), (1000, 1000))
        by_id = it.messages_by_event_id(prefix=p)
        self.assertEqual(sorted(by_id), ids)
        self.assertTrue(all(len(m) == 1 for m in by_id.values()))
        r = self.post(it.batch(events + [it.event(f"{p}-extra")]))
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.error_code(), "too_many_events")

    def test_all_invalid_batch(self):
        p = it.unique("allbad")
        r = self.post(it.batch([{"event_id": f"{p}-a", "type": "x"},
                                {"event_id": f"{p}-b", "occurred_at": 1}]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["received"], r.json["accepted"], r.json["invalid"]), (2, 0, 2))
        self.assertEqual([(x["index"], x["code"]) for x in r.json["results"]],
                         [(0, "missing_field"), (1, "missing_field")])
        self.assertEqual(it.messages_by_event_id(prefix=p), {})


class QueueFullTest(it.SluiceTestCase):
    """A producer queue of 3 messages: the events that do not fit are answered retryable
    (207 when some were taken, 503 when none), the others are in Kafka."""
    SETS = ("kafka.queue_max_messages=3", "kafka.linger=1000ms")

    def test_partial_batch_is_207(self):
        p = it.unique("qfull")
        before = self.sluice.metrics()
        events = [it.event(f"{p}-{i}") for i in range(3)] + [{"event_id": f"{p}-bad"}] + \
                 [it.event(f"{p}-{i}") for i in range(4, 6)]
        r = self.post(it.batch(events))
        self.assertEqual(r.status, 207, r)
        self.assertEqual(r.header("retry-after"), "1")
        self.assertEqual((r.json["received"], r.json["accepted"], r.json["invalid"],
                          r.json["retryable"]), (6, 3, 1, 2), r)
        res = {x["index"]: x for x in r.json["results"]}
        self.assertEqual(sorted(res), [3, 4, 5])
        self.assertEqual(res[3]["status"], "invalid")
        for i in (4, 5):
            self.assertEqual(res[i]["status"], "retryable")
            self.assertEqual(res[i]["code"], "queue_full")
            self.assertEqual(res[i]["event_id"], f"{p}-{i}")
        self.assertEqual(sorted(it.messages_by_event_id(prefix=p)), [f"{p}-{i}" for i in range(3)])
        after = self.sluice.metrics()
        self.assertEqual(after['sluice_http_requests_total{code="207"}'] -
                         before['sluice_http_requests_total{code="207"}'], 1)
        self.assertEqual(after['sluice_events_total{outcome="retryable"}'] -
                         before['sluice_events_total{outcome="retryable"}'], 2)

    def test_nothing_fits_is_503(self):
        p = it.unique("qfull503")
        first = {}

        def fill():
            first["r"] = self.post(it.batch([it.event(f"{p}-a{i}") for i in range(3)]))

        t = threading.Thread(target=fill)
        t.start()
        # Wait until the first batch is in the producer queue (where linger keeps it ~1s).
        deadline = time.monotonic() + 5
        while (self.sluice.metrics()["sluice_inflight_requests"] < 1
               and time.monotonic() < deadline):
            time.sleep(0.02)
        time.sleep(0.1)
        r = self.post(it.batch([it.event(f"{p}-b{i}") for i in range(2)]))
        t.join(30)
        self.assertEqual(first["r"].status, 200, first["r"])
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.header("retry-after"), "1")
        self.assertEqual((r.json["accepted"], r.json["retryable"]), (0, 2), r)
        self.assertEqual({x["code"] for x in r.json["results"]}, {"queue_full"})
        self.assertEqual(sorted(it.messages_by_event_id(prefix=p)),
                         [f"{p}-a{i}" for i in range(3)])


if __name__ == "__main__":
    it.main()
