"""policies.shadow_dir: a candidate policy judged beside the active one, counted, never applied."""

import json
import os

import sluice_it as it


class ShadowTest(it.SluiceTestCase):

    @classmethod
    def prepare(cls):
        cls.key = os.path.join(cls.tmp.name, "hmac.key")
        with open(cls.key, "w") as f:
            f.write("shadow-test-hmac-key-0123456789abcdefghijk\n")

    @classmethod
    def sluice_args(cls):
        # tests/policy/changed drops IPs (the active policy truncates them) and needs
        # advertising for the decisions stage.
        return ("policies.dir=" + os.path.join(it.SOURCE_DIR, "policies"),
                "policies.shadow_dir=" + os.path.join(it.SOURCE_DIR, "tests", "policy",
                                                      "changed"),
                "policies.hmac_key_file=" + cls.key), None

    def counters(self):
        m = self.sluice.metrics()
        return (m.get("sluice_policy_shadow_events_total", 0),
                m.get("sluice_policy_shadow_differences_total", 0))

    def test_differences_are_counted_and_not_applied(self):
        p = it.unique("shadow")
        token = it.mint_token("acme")
        consent = {"purposes": ["analytics", "personalization"]}
        events = [
            # same output under both: counted, not different
            it.event(f"{p}-same", type="screen_view", consent=consent,
                     properties={"name": "Home"}),
            # the IP: truncated now, dropped by the candidate
            it.event(f"{p}-ip", type="screen_view", consent=consent,
                     context={"ip": "203.0.113.9"}, properties={"name": "Home"}),
            # a decision without advertising: produced now, dropped by the candidate
            it.event(f"{p}-dec", type="recommendation_impression", consent=consent,
                     properties={"request_id": "123e4567-e89b-12d3-a456-426614174000",
                                 "model_version": "m1",
                                 "items": [{"item_id": "i", "position": 1}]}),
        ]
        before = self.counters()
        r = self.post(it.batch(events), token)
        self.assertEqual((r.status, r.json["accepted"]), (200, 3), r)
        after = self.counters()
        self.assertEqual(after[0] - before[0], 3, (before, after))
        self.assertEqual(after[1] - before[1], 2, (before, after))
        # What landed follows the active policy only.
        got = it.wait_for_event_ids([f"{p}-same", f"{p}-ip"], prefix=p)
        value = json.loads(got[f"{p}-ip"][0]["payload"])
        self.assertEqual(value["context"]["ip"], "203.0.113.0")
        self.assertEqual(got[f"{p}-ip"][0]["headers"]["policy_version"][:13], "2026-11-27.1+")


if __name__ == "__main__":
    it.main()
