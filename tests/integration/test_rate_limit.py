"""Per-tenant and per-subject rate limits (limits.tenant_rate/_burst, limits.subject_rate/_burst)
against a real broker: 429 rate_limited with Retry-After, nothing of a refused batch in Kafka,
other tenants and subjects unaffected, and the limit applied before the body is decoded.

Each test uses tenants of its own (it.unique), so the buckets of one test never see another's
requests. With rate 2/s and burst 3, three requests pass at once and a fourth sent within
~500 ms of the first is refused; the passing requests are answered after Kafka acknowledges
their events (milliseconds on loopback), far inside that window."""

import time

import sluice_it as it


def token(tenant, sub=None):
    return it.mint_token(tenant, extra_args=("--sub", sub) if sub else ())


class RateLimitCase(it.SluiceTestCase):

    def post_one(self, tok, eid):
        return self.post(it.batch([it.event(eid)]), token=tok)

    def assert_rate_limited(self, r, what):
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.error_code(), "rate_limited", r)
        self.assertIn(what, r.json["error"]["message"], r)
        ra = r.header("retry-after")
        self.assertIsNotNone(ra, "429 carries Retry-After")
        self.assertRegex(ra, r"^\d+$", "Retry-After is whole seconds")
        self.assertGreaterEqual(int(ra), 1)
        # rate 2/s: the next token is at most 500 ms away, rounded up to 1 s.
        self.assertLessEqual(int(ra), 1)
        return int(ra)

    def burst_then_refusal(self, tok, p, what):
        """Three requests pass, the fourth is refused. Returns (passed ids, refused id,
        Retry-After)."""
        passed = []
        start = time.monotonic()
        for i in range(3):
            eid = f"{p}-{i}"
            r = self.post_one(tok, eid)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["accepted"], 1, r)
            self.assertIsNone(r.header("retry-after"))
            passed.append(eid)
        elapsed = time.monotonic() - start
        refused = f"{p}-3"
        r = self.post_one(tok, refused)
        if r.status == 200:
            self.fail(f"the 4th request passed; the first three took {elapsed:.3f}s (over "
                      f"~0.5s the bucket refills a token and this test cannot decide)")
        return passed, refused, self.assert_rate_limited(r, what)

    def assert_not_in_kafka(self, p, accepted, refused):
        by_id = it.wait_for_event_ids(accepted, prefix=p)
        self.assertEqual(sorted(set(accepted) - set(by_id)), [], "accepted events in Kafka")
        for eid in refused:
            self.assertNotIn(eid, by_id, "an event of a refused batch reached Kafka")
        for eid in accepted:
            self.assertEqual(len(by_id[eid]), 1, eid)


class TenantRateLimitTest(RateLimitCase):
    SETS = ("limits.tenant_rate=2", "limits.tenant_burst=3")

    def test_tenant_over_limit(self):
        p = it.unique("rlt")
        tenant, other = it.unique("tenant-a"), it.unique("tenant-b")
        tok, tok_other = token(tenant, "alice"), token(other, "alice")
        passed, refused, retry_after = self.burst_then_refusal(
            tok, p, f'tenant "{tenant}" is over limits.tenant_rate (2 requests/s)')

        # Still refused right after (a refusal takes no token: it does not push the wait out).
        r = self.post_one(tok, f"{p}-again")
        self.assertLessEqual(self.assert_rate_limited(r, tenant), retry_after)

        # Another tenant is unaffected (the same subject name too).
        r = self.post_one(tok_other, f"{p}-other")
        self.assertEqual(r.status, 200, r)
        passed.append(f"{p}-other")

        # After Retry-After a request passes.
        time.sleep(retry_after)
        r = self.post_one(tok, f"{p}-later")
        self.assertEqual(r.status, 200, r)
        passed.append(f"{p}-later")
        self.assert_not_in_kafka(p, passed, [refused, f"{p}-again"])

    def test_limit_applies_before_decoding(self):
        tenant = it.unique("tenant-bad")
        tok = token(tenant)
        # A malformed body within the limit is a 400 from the decoder, and counts: the
        # request was counted before its body was looked at.
        for i in range(3):
            r = self.post(b"{oops", token=tok)
            self.assertEqual(r.status, 400, r)
            self.assertNotEqual(r.error_code(), "rate_limited", r)
        # Over the limit the same body is refused by the limit, not by the decoder.
        r = self.post(b"{oops", token=tok)
        self.assert_rate_limited(r, tenant)
        r = self.post(b"\x00\xff not even text", token=tok, content_type="application/json")
        self.assertEqual(r.status, 429, r)

    def test_unauthenticated_requests_are_not_counted(self):
        tenant = it.unique("tenant-auth")
        tok = token(tenant)
        for _ in range(5):
            r = self.post(it.batch([it.event(it.unique("rla"))]), token="not-a-token")
            self.assertEqual(r.status, 401, r)
        p = it.unique("rla")
        passed, refused, _ = self.burst_then_refusal(tok, p, tenant)
        self.assert_not_in_kafka(p, passed, [refused])


class SubjectRateLimitTest(RateLimitCase):
    SETS = ("limits.subject_rate=2", "limits.subject_burst=3")

    def test_subject_over_limit(self):
        p = it.unique("rls")
        tenant, other = it.unique("tenant-a"), it.unique("tenant-b")
        alice, bob = token(tenant, "alice"), token(tenant, "bob")
        other_alice = token(other, "alice")
        passed, refused, retry_after = self.burst_then_refusal(
            alice, p, f'subject "alice" of tenant "{tenant}" is over limits.subject_rate '
                      f'(2 requests/s)')
        # Before decoding: over the limit, a malformed body is a 429 too.
        r = self.post(b"{oops", token=alice)
        self.assert_rate_limited(r, "alice")

        # Another subject of the same tenant, and the same subject in another tenant, pass.
        for name, tok in (("bob", bob), ("other", other_alice)):
            r = self.post_one(tok, f"{p}-{name}")
            self.assertEqual(r.status, 200, (name, r))
            passed.append(f"{p}-{name}")

        # A token without `sub` is limited by the tenant limit only (off here).
        no_sub = token(tenant)
        for i in range(5):
            r = self.post_one(no_sub, f"{p}-nosub-{i}")
            self.assertEqual(r.status, 200, r)
            passed.append(f"{p}-nosub-{i}")

        time.sleep(retry_after)
        r = self.post_one(alice, f"{p}-later")
        self.assertEqual(r.status, 200, r)
        passed.append(f"{p}-later")
        self.assert_not_in_kafka(p, passed, [refused])


if __name__ == "__main__":
    it.main()
