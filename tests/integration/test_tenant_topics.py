"""Per-tenant topic templates on the real broker: topics.raw = "<prefix>.{tenant}.{stage}". A
tenant's topic that does not exist yet makes its events retryable (topic_missing, naming the
topic) without making the gateway unready; once the topic is created the same events are
accepted and land in it. The static topics are still checked at start (/readyz)."""

import time

import sluice_it as it

PREFIX = it.unique("tt").replace("-", "")


class TenantTopicTest(it.SluiceTestCase):
    SETS = (f"topics.raw={PREFIX}.{{tenant}}.{{stage}}", "kafka.health_interval=200ms",
            "http.retry_after=1s")

    def test_missing_tenant_topic_is_retryable_until_created(self):
        topic = f"{PREFIX}.t1.raw"
        ev = it.event(it.unique("tt-ev"))
        r = self.post(it.batch([ev]))
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.header("retry-after"), "1", r)
        res = r.json["results"]
        self.assertEqual([(x["status"], x["code"]) for x in res], [("retryable", "topic_missing")])
        self.assertIn(topic, res[0]["message"])
        self.assertEqual(self.sluice.admin_get("/readyz").status, 200,
                         "a tenant's missing topic does not make the gateway unready")

        it.create_topic(topic, partitions=3)
        deadline = time.monotonic() + 20
        while True:
            r = self.post(it.batch([ev]))
            if r.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["accepted"], 1, r)
        by_id = it.wait_for_event_ids([ev["event_id"]], topic=topic)
        self.assertEqual(len(by_id[ev["event_id"]]), 1, "landed once, in the tenant's topic")
        self.assertEqual(by_id[ev["event_id"]][0]["headers"]["tenant"], "t1")


if __name__ == "__main__":
    it.main()
