"""POST /v1/privacy/erasure against a real broker: the erasure record, the suppression of the
user's later events, and the suppression list surviving a restart (reloaded from its topic)."""

import hashlib
import json
import os
import time

import sluice_it as it

PRIVACY_TOPIC = "sluice.privacy"
SUPPRESSION_TOPIC = "sluice.suppression"


def subject(tenant, user_id):
    return hashlib.sha256(tenant.encode() + b"\0" + user_id.encode()).hexdigest()


def erase(sluice, token, body, content_type="application/json"):
    headers = {"Authorization": f"Bearer {token}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    return it.http_request(sluice.public, "POST", "/v1/privacy/erasure", data, headers)


class ErasureTest(it.SluiceTestCase):

    @classmethod
    def prepare(cls):
        cls.key = os.path.join(cls.tmp.name, "hmac.key")
        with open(cls.key, "w") as f:
            f.write("erasure-test-hmac-key-0123456789abcdefghij\n")

    @classmethod
    def sets(cls):
        return ("policies.dir=" + os.path.join(it.SOURCE_DIR, "policies"),
                "policies.hmac_key_file=" + cls.key, "policies.hmac_key_id=e1")

    @classmethod
    def sluice_args(cls):
        return cls.sets(), None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.writer = it.mint_token("acme", extra_args=("--scope", "write:*"))
        cls.privacy = it.mint_token("acme", extra_args=("--scope", "privacy:erasure"))
        cls.beta = it.mint_token("beta", extra_args=("--scope", "write:*"))

    def event(self, eid, user_id):
        return it.event(eid, type="screen_view", user_id=user_id,
                        consent={"purposes": ["analytics"]}, properties={"name": "Home"})

    def test_erasure_suppresses_the_user_and_survives_a_restart(self):
        p = it.unique("er")
        user, other = f"{p}-user", f"{p}-other"
        r = self.post(it.batch([self.event(f"{p}-before", user)]), self.writer)
        self.assertEqual((r.status, r.json["accepted"]), (200, 1), r)
        before = it.wait_for_event_ids([f"{p}-before"], prefix=p)[f"{p}-before"][0]
        pseudonym = json.loads(before["payload"])["user_id"]
        self.assertTrue(pseudonym.startswith("e1:"), pseudonym)

        # Writing events does not allow erasing.
        r = erase(self.sluice, self.writer, {"user_id": user})
        self.assertEqual((r.status, r.error_code()), (403, "scope_missing"), r)

        r = erase(self.sluice, self.privacy,
                  {"user_id": user, "reason": "request by mail from jane@example.com"})
        self.assertEqual(r.status, 202, r)
        want = subject("acme", user)
        self.assertEqual(r.json, {"status": "accepted", "subject": want})

        # The records: keyed by the subject, with the pseudonym the topics carry, the reason
        # scrubbed, and never the raw id.
        for topic in (PRIVACY_TOPIC, SUPPRESSION_TOPIC):
            with self.subTest(topic=topic):
                recs = [m for m in it.read_topic(topic) if m["key"] == want]
                self.assertEqual(len(recs), 1, recs)
                value = json.loads(recs[0]["payload"])
                self.assertEqual(value["subject"], want)
                self.assertEqual(value["tenant"], "acme")
                self.assertEqual(value["pseudonym"], pseudonym)
                self.assertEqual(value["reason"], "request by mail from [email]")
                self.assertNotIn(user, recs[0]["payload"])
                self.assertEqual(recs[0]["headers"]["type"], "erasure_request")

        # Later events of that user are suppressed; the batch's others go on; the same user id
        # of another tenant is another person.
        r = self.post(it.batch([self.event(f"{p}-after", user), self.event(f"{p}-ok", other)]),
                      self.writer)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["accepted"], r.json["suppressed"]), (1, 1), r)
        self.assertEqual([(x["index"], x["status"], x["code"]) for x in r.json["results"]],
                         [(0, "suppressed", "subject_erased")])
        r = self.post(it.batch([self.event(f"{p}-beta", user)]), self.beta)
        self.assertEqual((r.status, r.json["accepted"]), (200, 1), r)
        got = it.wait_for_event_ids([f"{p}-ok", f"{p}-beta"], prefix=p)
        self.assertNotIn(f"{p}-after", got)

        # A new process reads the list back from its topic before taking events.
        old = self.sluice
        self.assertEqual(old.stop(), 0, old.stderr()[-2000:])
        old.cleanup()
        fresh = it.Sluice(self.sets())
        try:
            fresh.start()
            self.assertIn("suppression list: ", fresh.stderr())
            r = it.post_events(fresh.public, it.batch([self.event(f"{p}-restart", user)]),
                               self.writer)
            self.assertEqual((r.status, r.json["suppressed"]), (200, 1), r)
            r = erase(fresh, self.privacy, {"user_id": user})
            self.assertEqual(r.status, 202, r)  # erasing twice is harmless
        finally:
            self.assertEqual(fresh.stop(), 0, fresh.stderr()[-2000:])
            fresh.cleanup()
            self.__class__.sluice = it.Sluice(self.sets())
            self.__class__.sluice.start()
        time.sleep(1)
        self.assertNotIn(f"{p}-restart", it.messages_by_event_id(prefix=p))

    def test_bad_requests(self):
        cases = [({"reason": "x"}, 400, "bad_erasure_request"),
                 ({"user_id": 12}, 400, "bad_erasure_request"),
                 ({"user_id": "u", "extra": 1}, 400, "bad_erasure_request"),
                 ({"user_id": "x" * 500}, 400, "bad_erasure_request"),
                 (b"not json", 400, "malformed_json")]
        for body, status, code in cases:
            with self.subTest(body=body):
                r = erase(self.sluice, self.privacy, body)
                self.assertEqual((r.status, r.error_code()), (status, code), r)
        r = erase(self.sluice, self.privacy, {"user_id": "u"}, content_type="text/plain")
        self.assertEqual(r.status, 415, r)
        r = it.http_request(self.sluice.public, "GET", "/v1/privacy/erasure",
                            headers={"Authorization": f"Bearer {self.privacy}"})
        self.assertEqual(r.status, 405, r)
        r = erase(self.sluice, "not-a-token", {"user_id": "u"})
        self.assertEqual(r.status, 401, r)


if __name__ == "__main__":
    it.main()
