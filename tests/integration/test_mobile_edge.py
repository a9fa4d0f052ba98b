"""The browser and mobile edge against the real broker: gzip bodies, POST /v1/beacon with CORS
per tenant, and clock-skew correction.

GzipTest         Content-Encoding: gzip JSON and protobuf batches land in Kafka byte-identical
                 to the same batches sent uncompressed (dedupe.window=0, so every copy lands);
                 a 1 GiB zero bomb (about 1 MB compressed, generated as a stream) is refused
                 with 413 while sluice's resident memory stays within tens of MB of where it
                 was (VmRSS and the peak VmHWM from /proc/PID/status, printed); malformed gzip
                 is 400, other encodings 415, and nothing of a refused body is produced.
BeaconTest       POST /v1/beacon with text/plain (what navigator.sendBeacon sends) and the
                 token in the body: 204 and the events in Kafka; an Origin that cors.origins
                 does not list for the token's tenant: 403 origin_not_allowed and nothing in
                 Kafka; a listed one is echoed in Access-Control-Allow-Origin (never with
                 credentials); a body over limits.max_beacon_bytes (64 KiB) 413; OPTIONS
                 preflights answered for listed origins only.
ClockSkewTest    a batch whose sent_at is 3 h behind the receive time: occurred_at moves by
                 exactly receive time - sent_at; headers client_occurred_at and client_sent_at
                 keep what the client said. Within clock.tolerance or beyond clock.max_skew
                 nothing moves.
"""

import datetime
import gzip
import json
import tempfile
import time
import zlib

import sluice_it as it

SHOP = "https://shop.example"
WWW = "https://www.shop.example"
OTHER = "https://other.example"     # listed for tenant t2 only
EVIL = "https://shop.example.evil"  # listed for nobody
CORS = f"t1={SHOP},{WWW} t2={OTHER}"

pb = None
_pb_dir = None


def setUpModule():
    global pb, _pb_dir
    _pb_dir = tempfile.TemporaryDirectory(prefix="sluice-it-pb-")
    pb = it.compile_protos(_pb_dir.name)


def tearDownModule():
    if _pb_dir is not None:
        _pb_dir.cleanup()


def gz(data):
    return gzip.compress(data, compresslevel=6)


def zero_bomb(total):
    """A gzip member of `total` zero bytes, compressed as a stream: it never exists inflated."""
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    out = []
    left = total
    while left > 0:
        n = min(left, len(chunk))
        out.append(c.compress(chunk[:n]))
        left -= n
    out.append(c.flush())
    return b"".join(out)


def proc_status(pid):
    """{'VmRSS': kB, 'VmHWM': kB} of pid."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def rfc3339(ms):
    return (datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z")


def parse_ms(s):
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    return round(d.timestamp() * 1000)


def post(addr, path, body, headers, method="POST", timeout=60):
    return it.http_request(addr, method, path, body, headers, timeout=timeout)


class GzipTest(it.SluiceTestCase):
    # dedupe off: the same ids are sent in several forms and every copy must land.
    # max_body_bytes: the 1 GiB bomb is about 1 MB compressed and must be admitted as a body.
    SETS = ("dedupe.window=0", "limits.max_body_bytes=4MiB")

    def events(self, p, n=6):
        return [it.event(f"{p}-{i}", user_id=f"u-{i % 3}",
                         properties={"url": f"https://shop.example.com/p/{i}",
                                     "title": "Sch\u00f6ne Schuhe " * (i + 1)})
                for i in range(n)]

    def pb_batch(self, p, evs):
        env, raw = (pb["sluice.v1.envelope_pb2"], pb["sluice.events.v1.raw_pb2"])
        return env.EventBatch(
            batch_id=f"{p}-pb", sent_at="2026-01-02T03:04:06Z",
            events=[env.Event(event_id=e["event_id"], type="page_view",
                              occurred_at=e["occurred_at"], user_id=e["user_id"],
                              properties=raw.PageView(
                                  url=e["properties"]["url"],
                                  title=e["properties"]["title"]).SerializeToString())
                    for e in evs]).SerializeToString()

    def post_ok(self, body, ctype, encoding=None):
        extra = {"Content-Encoding": encoding} if encoding else None
        r = self.post(body, content_type=ctype, extra_headers=extra)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["accepted"], r.json["results"]), (r.json["received"], []), r)
        return r

    def test_gzip_json_and_protobuf_land_as_uncompressed(self):
        p = it.unique("gz")
        evs = self.events(p)
        jbody = json.dumps(it.batch(evs, batch_id=f"{p}-json")).encode()
        pbody = self.pb_batch(p, evs)
        forms = [("json", jbody, "application/json", None),
                 ("json+gzip", gz(jbody), "application/json", "gzip"),
                 ("protobuf", pbody, "application/x-protobuf", None),
                 ("protobuf+gzip", gz(pbody), "application/x-protobuf", "gzip"),
                 ("json+GZIP", gz(jbody), "application/json", "GZIP"),
                 ("json+x-gzip", gz(jbody), "application/json", "x-gzip")]
        for what, body, ctype, enc in forms:
            with self.subTest(form=what):
                if enc is not None:
                    self.assertLess(len(body), len(jbody if "json" in what else pbody))
                self.post_ok(body, ctype, enc)
        by_id = it.wait_for_event_ids([e["event_id"] for e in evs], prefix=p)
        for e in evs:
            msgs = by_id.get(e["event_id"], [])
            self.assertEqual(len(msgs), len(forms), f"{e['event_id']}: one copy per form")
            values = {m["payload"] for m in msgs}
            self.assertEqual(len(values), 1, f"{e['event_id']}: values differ between forms:"
                                             f" {values}")
            v = json.loads(msgs[0]["payload"])
            self.assertEqual(v["event_id"], e["event_id"])
            self.assertEqual(v["properties"], e["properties"])
            self.assertEqual({m["key"] for m in msgs}, {f"t1:{e['user_id']}"})
            self.assertEqual({m["headers"]["content_type"] for m in msgs}, {"application/json"})

    def test_gzip_sent_chunked(self):
        """A streaming SDK: the gzip body with Transfer-Encoding: chunked, no Content-Length."""
        p = it.unique("gzchunk")
        evs = self.events(p, 3)
        body = gz(json.dumps(it.batch(evs)).encode())
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 100]), body[i:i + 100])
                          for i in range(0, len(body), 100)) + b"0\r\n\r\n"
        head = (f"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.token}\r\n"
                f"Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
                f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
        r = it.raw_exchange(self.sluice.public, head + chunks, timeout=30)
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["accepted"], 3, r)
        by_id = it.wait_for_event_ids([e["event_id"] for e in evs], prefix=p)
        self.assertEqual(sorted(by_id), sorted(e["event_id"] for e in evs))

    def test_gigabyte_zero_bomb_is_413_and_memory_stays(self):
        t0 = time.monotonic()
        bomb = zero_bomb(1 << 30)
        print(f"\nmobile_edge: 1 GiB zero bomb is {len(bomb)} bytes gzip "
              f"(made in {time.monotonic() - t0:.1f}s)", flush=True)
        self.assertLess(len(bomb), 4 << 20)
        pid = self.sluice.proc.pid
        # Settle: one ordinary request first, so lazily allocated state is not counted.
        p = it.unique("bomb")
        self.post_ok(json.dumps(it.batch(self.events(p, 2))).encode(), "application/json")
        mib = 1024.0
        base = proc_status(pid)
        # One bomb per media type; each inflated would be 1 GiB. What one may take: the
        # compressed body, and the inflate buffers up to the 8 MiB cap (s, 2s, cap: < 3 caps);
        # ASan's quarantine keeps freed blocks for a while, so resident memory may not shrink
        # back at once -- it must not grow by more than that per bomb.
        for ctype in ("application/json", "application/x-protobuf"):
            with self.subTest(content_type=ctype):
                before = proc_status(pid)
                r = self.post(bomb, content_type=ctype,
                              extra_headers={"Content-Encoding": "gzip"}, timeout=120)
                after = proc_status(pid)
                print(f"mobile_edge: {ctype} bomb: sluice VmRSS {before['VmRSS'] / mib:.1f} -> "
                      f"{after['VmRSS'] / mib:.1f} MiB "
                      f"(+{(after['VmRSS'] - before['VmRSS']) / mib:.1f}), peak VmHWM "
                      f"{before['VmHWM'] / mib:.1f} -> {after['VmHWM'] / mib:.1f} MiB",
                      flush=True)
                self.assertEqual(r.status, 413, r)
                # 8 MiB cap, ratio 200 of ~1 MB: the output cap is reached first.
                self.assertEqual(r.error_code(), "decompressed_too_large", r)
                self.assertLess(after["VmRSS"] - before["VmRSS"], 40 * 1024,
                                "resident memory grew by more than 40 MiB for one 1 GiB bomb")
                self.assertLess(after["VmHWM"] - before["VmRSS"], 48 * 1024,
                                "the peak resident memory went more than 48 MiB over what it "
                                "was before the bomb")
        end = proc_status(pid)
        print(f"mobile_edge: sluice VmRSS before the bombs {base['VmRSS'] / mib:.1f} MiB, after "
              f"{end['VmRSS'] / mib:.1f} MiB; peak {end['VmHWM'] / mib:.1f} MiB", flush=True)
        # Still serving.
        self.post_ok(gz(json.dumps(it.batch(self.events(p + "-after", 2))).encode()),
                     "application/json", "gzip")

    def test_ratio_bomb_is_413(self):
        """A small body far over limits.max_compression_ratio (200): refused as a bomb."""
        bomb = zero_bomb(16 << 20)  # 16 MiB in ~16 KB: ratio ~1000; 200x16 KB < the 8 MiB cap
        r = self.post(bomb, content_type="application/json",
                      extra_headers={"Content-Encoding": "gzip"})
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.error_code(), "compression_ratio", r)

    def test_malformed_gzip_is_400_and_nothing_lands(self):
        p = it.unique("gzbad")
        evs = self.events(p, 3)
        good = gz(json.dumps(it.batch(evs)).encode())
        bodies = {"truncated": good[:len(good) // 2],
                  "no trailer": good[:-8],
                  "garbage": b"this is not gzip at all, just text",
                  "plain JSON": json.dumps(it.batch(evs)).encode(),
                  "bad crc": good[:-8] + bytes([good[-8] ^ 0xFF]) + good[-7:],
                  "trailing bytes": good + b"\x00junk",
                  "two members": good + good,
                  "empty": b""}
        for what, body in bodies.items():
            with self.subTest(body=what):
                r = self.post(body, content_type="application/json",
                              extra_headers={"Content-Encoding": "gzip"})
                self.assertEqual(r.status, 400, r)
                self.assertEqual(r.error_code(), "malformed_gzip", r)
        self.assert_nothing_landed(p)

    def test_other_encodings_are_415(self):
        p = it.unique("gzenc")
        body = json.dumps(it.batch(self.events(p, 2))).encode()
        for enc in ("br", "deflate", "compress", "zstd", "gzip, br"):
            with self.subTest(encoding=enc):
                r = self.post(body, content_type="application/json",
                              extra_headers={"Content-Encoding": enc})
                self.assertEqual(r.status, 415, r)
                self.assertEqual(r.error_code(), "unsupported_content_encoding", r)
        self.assert_nothing_landed(p)

    def assert_nothing_landed(self, prefix):
        # A sentinel posted afterwards: once it is in Kafka, anything posted before would be.
        s = it.unique("sentinel")
        self.post_ok(json.dumps(it.batch([it.event(s, user_id="u")])).encode(),
                     "application/json")
        it.wait_for_event_ids([s], prefix=s)
        self.assertEqual(it.messages_by_event_id(prefix=prefix), {})


class BeaconTest(it.SluiceTestCase):
    SETS = (f"cors.origins={CORS}",)

    def beacon(self, body, origin=None, ctype="text/plain;charset=UTF-8", extra=None):
        headers = {"Content-Type": ctype}
        if origin is not None:
            headers["Origin"] = origin
        headers.update(extra or {})
        return post(self.sluice.public, "/v1/beacon", body, headers)

    def beacon_body(self, p, n=3, token=None, **extra):
        b = it.batch([it.event(f"{p}-{i}", user_id=f"u-{i}") for i in range(n)],
                     token=token or self.token, **extra)
        return json.dumps(b).encode()

    def wait_landed(self, p, n):
        ids = [f"{p}-{i}" for i in range(n)]
        by_id = it.wait_for_event_ids(ids, prefix=p)
        self.assertEqual(sorted(by_id), sorted(ids))
        for i in ids:
            self.assertEqual(len(by_id[i]), 1, i)
        return by_id

    def assert_nothing_landed(self, prefix):
        s = it.unique("sentinel")
        r = self.post(it.batch([it.event(s, user_id="u")]))
        self.assertEqual(r.status, 200, r)
        it.wait_for_event_ids([s], prefix=s)
        self.assertEqual(it.messages_by_event_id(prefix=prefix), {})

    def test_text_plain_with_token_in_body_is_204_and_lands(self):
        p = it.unique("beacon")
        r = self.beacon(self.beacon_body(p))
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.raw, b"")
        self.assertIsNone(r.header("access-control-allow-origin"), "no Origin, nothing echoed")
        by_id = self.wait_landed(p, 3)
        for msgs in by_id.values():
            m = msgs[0]
            self.assertEqual(m["headers"]["tenant"], "t1")
            self.assertNotIn(self.token, m["payload"], "the token is not produced")
            self.assertNotIn(self.token, json.dumps(m["headers"]))

    def test_allowed_origin_is_echoed(self):
        for origin in (SHOP, WWW):
            with self.subTest(origin=origin):
                p = it.unique("beacon-ok")
                r = self.beacon(self.beacon_body(p), origin=origin)
                self.assertEqual(r.status, 204, r)
                self.assertEqual(r.header("access-control-allow-origin"), origin)
                self.assertIn("origin", (r.header("vary") or "").lower())
                self.assertIsNone(r.header("access-control-allow-credentials"))
                self.wait_landed(p, 3)

    def test_json_beacon_for_fetch_keepalive(self):
        p = it.unique("beacon-json")
        r = self.beacon(self.beacon_body(p), origin=SHOP, ctype="application/json")
        self.assertEqual(r.status, 204, r)
        self.wait_landed(p, 3)

    def test_protobuf_beacon_with_token_in_batch(self):
        p = it.unique("beacon-pb")
        env, raw = (pb["sluice.v1.envelope_pb2"], pb["sluice.events.v1.raw_pb2"])
        body = env.EventBatch(
            batch_id=f"{p}-b", token=self.token,
            events=[env.Event(event_id=f"{p}-{i}", type="page_view",
                              occurred_at="2026-01-02T03:04:05Z", user_id="u",
                              properties=raw.PageView(url="https://shop.example.com/")
                              .SerializeToString()) for i in range(2)]).SerializeToString()
        r = self.beacon(body, origin=SHOP, ctype="application/x-protobuf")
        self.assertEqual(r.status, 204, r)
        self.wait_landed(p, 2)

    def test_origin_not_listed_is_403_and_nothing_lands(self):
        p = it.unique("beacon-evil")
        t2 = it.mint_token("t2")
        cases = [("unlisted origin", EVIL, self.token),
                 ("suffix of a listed one", SHOP + ".evil", self.token),
                 ("another tenant's origin", OTHER, self.token),
                 ("t1's origin with t2's token", SHOP, t2),
                 ("null origin", "null", self.token)]
        for k, (what, origin, token) in enumerate(cases):
            with self.subTest(case=what):
                r = self.beacon(self.beacon_body(f"{p}-{k}", token=token), origin=origin)
                self.assertEqual(r.status, 403, r)
                self.assertEqual(r.error_code(), "origin_not_allowed", r)
                self.assertIsNone(r.header("access-control-allow-origin"))
        # The same on /v1/events with the token in Authorization.
        r = self.post(it.batch([it.event(f"{p}-ev", user_id="u")]),
                      extra_headers={"Origin": EVIL})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.error_code(), "origin_not_allowed", r)
        self.assert_nothing_landed(p)

    def test_origins_of_the_token_claim(self):
        """cors.origins_claim (allowed_origins): a token may name origins beyond its tenant's
        list; only that token may send from them."""
        p = it.unique("beacon-claim")
        now = int(time.time())
        claimed = it.make_jwt({"tenant": "t1", "iat": now, "exp": now + 600,
                               "allowed_origins": [EVIL, "https://x.example"]})
        r = self.beacon(self.beacon_body(f"{p}-a", token=claimed), origin=EVIL)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.header("access-control-allow-origin"), EVIL)
        self.wait_landed(f"{p}-a", 3)
        r = self.beacon(self.beacon_body(f"{p}-b"), origin=EVIL)
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.error_code(), "origin_not_allowed", r)
        self.assertEqual(it.messages_by_event_id(prefix=f"{p}-b"), {})

    def test_events_endpoint_with_origin(self):
        p = it.unique("ev-origin")
        r = self.post(it.batch([it.event(f"{p}-0", user_id="u")]),
                      extra_headers={"Origin": WWW})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("access-control-allow-origin"), WWW)
        self.assertIsNone(r.header("access-control-allow-credentials"))
        r = self.post(it.batch([it.event(f"{p}-1", user_id="u")]))
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("access-control-allow-origin"), "servers send no Origin")
        self.wait_landed(p, 2)

    def test_body_over_64k_is_413(self):
        p = it.unique("beacon-big")
        body = self.beacon_body(p, n=1)
        # Pad with JSON whitespace (still a valid batch) to exactly the limit, then one more.
        at = body[:-1] + b" " * (65536 - len(body)) + b"}"
        self.assertEqual(len(at), 65536)
        r = self.beacon(at, origin=SHOP)
        self.assertEqual(r.status, 204, f"exactly 64 KiB: {r!r}")
        self.wait_landed(p, 1)
        q = it.unique("beacon-big")
        body = self.beacon_body(q, n=1)
        over = body[:-1] + b" " * (65537 - len(body)) + b"}"
        r = self.beacon(over, origin=SHOP)
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.error_code(), "body_too_large", r)
        self.assertIn("max_beacon_bytes", r.json["error"]["message"])
        # The same bytes are fine on /v1/events (limits.max_body_bytes, 1 MiB).
        r = self.post(json.loads(over))
        self.assertEqual(r.status, 200, r)

    def test_beacon_without_token_is_401(self):
        p = it.unique("beacon-anon")
        b = json.dumps(it.batch([it.event(f"{p}-0", user_id="u")])).encode()
        r = self.beacon(b, origin=SHOP)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.error_code(), "token_missing", r)
        r = self.beacon(self.beacon_body(p, token=it.mint_token("t1", secret="x" * 40)),
                        origin=SHOP)
        self.assertEqual(r.status, 401, r)
        self.assert_nothing_landed(p)

    def test_invalid_event_goes_to_dead_letter(self):
        p = it.unique("beacon-dl")
        b = it.batch([it.event(f"{p}-0", user_id="u"),
                      {"event_id": f"{p}-bad", "type": "page_view", "user_id": "u"}],
                     token=self.token)
        r = self.beacon(json.dumps(b).encode(), origin=SHOP)
        self.assertEqual(r.status, 204, r)
        self.wait_landed(p, 1)
        dl = it.wait_for_event_ids([f"{p}-bad"], topic=it.DEAD_LETTER_TOPIC, prefix=p)
        self.assertIn(f"{p}-bad", dl)
        self.assertEqual(dl[f"{p}-bad"][0]["headers"]["dead_letter_code"], "missing_field")

    def test_preflight(self):
        for path in ("/v1/beacon", "/v1/events"):
            for origin in (SHOP, WWW, OTHER):
                with self.subTest(path=path, origin=origin):
                    r = post(self.sluice.public, path, None,
                             {"Origin": origin, "Access-Control-Request-Method": "POST",
                              "Access-Control-Request-Headers": "authorization, content-type"},
                             method="OPTIONS")
                    self.assertEqual(r.status, 204, r)
                    self.assertEqual(r.header("access-control-allow-origin"), origin)
                    self.assertIn("POST", r.header("access-control-allow-methods") or "")
                    allowed = (r.header("access-control-allow-headers") or "").lower()
                    for h in ("authorization", "content-type", "content-encoding"):
                        self.assertIn(h, allowed)
                    self.assertIsNone(r.header("access-control-allow-credentials"))
            for origin in (EVIL, "null", None):
                with self.subTest(path=path, refused=origin):
                    h = {"Access-Control-Request-Method": "POST"}
                    if origin is not None:
                        h["Origin"] = origin
                    r = post(self.sluice.public, path, None, h, method="OPTIONS")
                    self.assertEqual(r.status, 403, r)
                    self.assertEqual(r.error_code(), "origin_not_allowed", r)
                    self.assertIsNone(r.header("access-control-allow-origin"))


class ClockSkewTest(it.SluiceTestCase):
    SETS = ("clock.max_skew=24h", "clock.tolerance=2s")

    def send(self, p, sent_ms, occurred_ms):
        b = {"batch_id": f"{p}-b", "sent_at": rfc3339(sent_ms),
             "events": [it.event(f"{p}-{i}", user_id="u", occurred_at=rfc3339(o))
                        for i, o in enumerate(occurred_ms)]}
        r = self.post(b)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["accepted"], len(occurred_ms), r)
        ids = [f"{p}-{i}" for i in range(len(occurred_ms))]
        by_id = it.wait_for_event_ids(ids, prefix=p)
        self.assertEqual(sorted(by_id), sorted(ids))
        return [by_id[i][0] for i in ids]

    def test_three_hours_behind_is_corrected(self):
        p = it.unique("skew")
        now = int(time.time() * 1000)
        sent = now - 3 * 3600 * 1000
        occurred = [sent - 5 * 60 * 1000, sent - 1234, sent]
        for m, occ in zip(self.send(p, sent, occurred), occurred):
            h = m["headers"]
            received = parse_ms(h["received_at"])
            skew = received - sent
            self.assertGreater(skew, 3 * 3600 * 1000 - 1)
            self.assertLess(skew, 3 * 3600 * 1000 + 30000)
            value = json.loads(m["payload"])
            self.assertEqual(parse_ms(value["occurred_at"]), occ + skew,
                             f"occurred_at moved by receive - sent_at: {m}")
            self.assertEqual(h["occurred_at"], value["occurred_at"])
            self.assertEqual(h["client_occurred_at"], rfc3339(occ), "the client's occurred_at")
            self.assertEqual(h["client_sent_at"], rfc3339(sent), "the client's sent_at")

    def test_clock_ahead_is_corrected_back(self):
        p = it.unique("skew-ahead")
        sent = int(time.time() * 1000) + 2 * 3600 * 1000
        occurred = [sent - 60000]
        m = self.send(p, sent, occurred)[0]
        skew = parse_ms(m["headers"]["received_at"]) - sent
        self.assertLess(skew, -2 * 3600 * 1000 + 30000)
        self.assertEqual(parse_ms(json.loads(m["payload"])["occurred_at"]), occurred[0] + skew)
        self.assertEqual(m["headers"]["client_occurred_at"], rfc3339(occurred[0]))

    def test_within_tolerance_or_beyond_bound_is_left(self):
        now = int(time.time() * 1000)
        for what, sent in (("right clock", now), ("48 h behind", now - 48 * 3600 * 1000)):
            with self.subTest(case=what):
                p = it.unique("noskew")
                occurred = [sent - 60000]
                m = self.send(p, sent, occurred)[0]
                value = json.loads(m["payload"])
                self.assertEqual(parse_ms(value["occurred_at"]), occurred[0])
                self.assertNotIn("client_occurred_at", m["headers"])
                self.assertNotIn("client_sent_at", m["headers"])


if __name__ == "__main__":
    it.main()
