"""HTTP/2 over cleartext (prior knowledge) on listen.http, with real clients: curl
--http2-prior-knowledge, nghttp and h2load (nghttp2-client), and python3-h2 for many streams of
one connection. listen.http serves HTTP/1.1 on the same port at the same time.

Http2Test (dedupe.window=0, so the same batch is accepted again on every protocol):
  - the same request over HTTP/1.1 (curl --http1.1) and over h2c (curl, nghttp) gets the same
    status, the same body byte for byte and the same response headers that carry meaning
    (content-type, retry-after, allow, access-control-*); the events land as identical Kafka
    records (key, value bytes, headers except received_at);
  - the same for whole-request faults (401, 400, 404, 405, 413, 415);
  - many concurrent streams on one connection (python3-h2: 100 distinct batches at once; nghttp
    -m; h2load -m): every one answered 200 and every event in Kafka;
  - POST /v1/beacon and an OPTIONS preflight over h2, the same as over HTTP/1.1;
  - HTTP/1.1 requests on the same port are served while h2load loads it.
"""

import json
import os
import re
import subprocess
import tempfile
import threading
import time

import h2_it
import sluice_it as it

ORIGIN = "https://shop.example"
MEANINGFUL_HEADERS = ("content-type", "retry-after", "allow", "access-control-allow-origin",
                      "access-control-allow-methods", "access-control-allow-headers",
                      "access-control-max-age", "vary")


def parse_curl_headers(text):
    """Header lines of the last response curl -D wrote: (status, {name: [values]})."""
    blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    lines = blocks[-1].split("\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    return status, headers


class Http2Base(it.SluiceTestCase):
    SETS = ("dedupe.window=0", "limits.max_body_bytes=64KiB", f"cors.origins=t1={ORIGIN}")

    def tmpfile(self, data):
        fd, path = tempfile.mkstemp(dir=self.tmp.name)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path

    def curl(self, proto, method, path, body=None, headers=()):
        """(status, headers {name: [values]}, body bytes) of one curl request; proto is
        'http1.1' or 'h2c' (prior knowledge)."""
        hfile = os.path.join(self.tmp.name, "curl-headers")
        bfile = os.path.join(self.tmp.name, "curl-body")
        args = ["curl", "-sS", "-X", method, "-D", hfile, "-o", bfile, "-w", "%{http_version}",
                "--http1.1" if proto == "http1.1" else "--http2-prior-knowledge"]
        for h in headers:
            args += ["-H", h]
        if body is not None:
            args += ["--data-binary", "@" + self.tmpfile(body)]
        args.append(f"http://{self.sluice.public}{path}")
        p = subprocess.run(args, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "1.1" if proto == "http1.1" else "2", "protocol used")
        with open(hfile, encoding="latin-1") as f:
            status, hdrs = parse_curl_headers(f.read())
        with open(bfile, "rb") as f:
            return status, hdrs, f.read()

    def nghttp(self, path, body, headers=()):
        """(status, headers, body) of one nghttp request (h2c prior knowledge)."""
        har = os.path.join(self.tmp.name, "nghttp.har")
        args = ["nghttp", f"--har={har}", "-d", self.tmpfile(body)]
        for h in headers:
            args += ["-H", h]
        args.append(f"http://{self.sluice.public}{path}")
        p = subprocess.run(args, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(har, encoding="utf-8") as f:
            entry = json.load(f)["log"]["entries"][0]
        hdrs = {}
        for h in entry["response"]["headers"]:
            hdrs.setdefault(h["name"].lower(), []).append(h["value"])
        return entry["response"]["status"], hdrs, p.stdout

    def meaningful(self, headers):
        return {k: v for k, v in headers.items() if k in MEANINGFUL_HEADERS}

    def auth(self, ctype="application/json"):
        return [f"Authorization: Bearer {self.token}", f"Content-Type: {ctype}"]

    def copies(self, ids, prefix, n, timeout=30):
        """{event_id: [messages]} once each id has n copies (or timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            by_id = it.messages_by_event_id(prefix=prefix)
            if all(len(by_id.get(i, [])) >= n for i in ids) or time.monotonic() > deadline:
                return by_id
            time.sleep(0.5)


class Http2Test(Http2Base):
    def test_same_request_same_answer_and_records(self):
        p = it.unique("h2same")
        events = [it.event(f"{p}-0", user_id="u-1",
                           context={"traceparent":
                                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}),
                  it.event(f"{p}-1", anonymous_id="a-2"),
                  {k: v for k, v in it.event(f"{p}-2", user_id="u-3").items()
                   if k != "occurred_at"},   # invalid: missing_field
                  it.event(f"{p}-3", user_id="u-4", type="no_such_type")]
        body = json.dumps(it.batch(events)).encode()
        s1, h1, b1 = self.curl("http1.1", "POST", "/v1/events", body, self.auth())
        s2, h2, b2 = self.curl("h2c", "POST", "/v1/events", body, self.auth())
        s3, h3, b3 = self.nghttp("/v1/events", body,
                                 [n.lower() + ":" + v for n, v in
                                  (h.split(":", 1) for h in self.auth())])
        self.assertEqual(s1, 200, b1)
        self.assertEqual(json.loads(b1)["accepted"], 2, b1)
        self.assertEqual((s2, b2), (s1, b1), "curl h2c vs HTTP/1.1")
        self.assertEqual((s3, b3), (s1, b1), "nghttp vs HTTP/1.1")
        self.assertEqual(self.meaningful(h2), self.meaningful(h1))
        self.assertEqual(self.meaningful(h3), self.meaningful(h1))

        ids = [f"{p}-0", f"{p}-1"]
        by_id = self.copies(ids, p, 3)
        for eid in ids:
            ms = sorted(by_id.get(eid, []), key=lambda m: m["offset"])
            self.assertEqual(len(ms), 3, eid)
            for m in ms[1:]:
                self.assertEqual(m["key"], ms[0]["key"], eid)
                self.assertEqual(m["payload"], ms[0]["payload"], eid)
                strip = lambda h: [x for x in zip(h["headers_list"][::2], h["headers_list"][1::2])
                                   if x[0] != "received_at"]
                self.assertEqual(strip(m), strip(ms[0]), eid)
        dl = it.messages_by_event_id(it.DEAD_LETTER_TOPIC, prefix=p)
        for eid in (f"{p}-2", f"{p}-3"):
            self.assertEqual(len(dl.get(eid, [])), 3, f"dead letters of {eid}")
            self.assertEqual(len({m["payload"] for m in dl[eid]}), 1, eid)

    def test_whole_request_faults_same(self):
        good = json.dumps(it.batch([it.event(it.unique("h2f"))])).encode()
        cases = [
            ("no token", "POST", "/v1/events", good, ["Content-Type: application/json"]),
            ("bad token", "POST", "/v1/events", good,
             ["Authorization: Bearer abc.def.ghi", "Content-Type: application/json"]),
            ("malformed json", "POST", "/v1/events", b'{"events": [', self.auth()),
            ("media type", "POST", "/v1/events", good, self.auth("text/csv")),
            ("not found", "POST", "/v1/nope", good, self.auth()),
            ("method", "GET", "/v1/events", None, self.auth()),
            ("too large", "POST", "/v1/events",
             json.dumps(it.batch([it.event("x", properties={"url": "https://a.example/" +
                                                            "x" * 70000})])).encode(),
             self.auth()),
        ]
        for name, method, path, body, headers in cases:
            with self.subTest(name):
                s1, h1, b1 = self.curl("http1.1", method, path, body, headers)
                s2, h2, b2 = self.curl("h2c", method, path, body, headers)
                self.assertGreaterEqual(s1, 400, b1)
                self.assertEqual((s2, b2), (s1, b1))
                self.assertEqual(self.meaningful(h2), self.meaningful(h1))
                print(f"{name}: {s1} {b1[:120]!r}", flush=True)

    def test_many_streams_one_connection(self):
        p = it.unique("h2many")
        n = 100
        c = h2_it.H2Conn(self.sluice.public)
        try:
            sids = []
            for k in range(n):
                body = json.dumps(it.batch([it.event(f"{p}-{k}-{i}", user_id=f"u-{k}")
                                            for i in range(2)])).encode()
                sids.append(c.request("/v1/events", [("content-type", "application/json"),
                                                     ("authorization", f"Bearer {self.token}")],
                                      body))
            streams = c.wait(sids, timeout=120)
        finally:
            c.close()
        self.assertEqual([s.status for s in streams], [200] * n,
                         [s for s in streams if s.status != 200][:3])
        self.assertTrue(all(json.loads(bytes(s.data))["accepted"] == 2 for s in streams))
        ids = [f"{p}-{k}-{i}" for k in range(n) for i in range(2)]
        by_id = it.wait_for_event_ids(ids, prefix=p, timeout=60)
        self.assertEqual(sorted(by_id), sorted(ids))
        self.assertTrue(all(len(v) == 1 for v in by_id.values()))

        # nghttp: the same request 50 times at once on one connection.
        q = it.unique("h2m")
        body = json.dumps(it.batch([it.event(f"{q}-a"), it.event(f"{q}-b")])).encode()
        har = os.path.join(self.tmp.name, "m.har")
        pr = subprocess.run(["nghttp", "-m", "50", f"--har={har}", "-d", self.tmpfile(body),
                             "-H", f"authorization: Bearer {self.token}",
                             "-H", "content-type: application/json",
                             f"http://{self.sluice.public}/v1/events"],
                            capture_output=True, timeout=120)
        self.assertEqual(pr.returncode, 0, pr.stderr)
        with open(har, encoding="utf-8") as f:
            statuses = [e["response"]["status"] for e in json.load(f)["log"]["entries"]]
        self.assertEqual(statuses, [200] * 50)
        by_id = self.copies([f"{q}-a", f"{q}-b"], q, 50)
        self.assertEqual({k: len(v) for k, v in by_id.items()}, {f"{q}-a": 50, f"{q}-b": 50})

    def test_latency_like_http1(self):
        """An answer that needs no Kafka (an empty batch) comes as fast over h2c as over
        HTTP/1.1: no ~40 ms wait per response (Nagle holding the DATA frame behind the HEADERS
        frame until the client's delayed ACK)."""
        body = b'{"events":[]}'
        hdrs = [("content-type", "application/json"), ("authorization", f"Bearer {self.token}")]
        h2_ms, h1_ms = [], []
        c = h2_it.H2Conn(self.sluice.public)
        try:
            for _ in range(15):
                t0 = time.monotonic()
                st = c.wait(c.request("/v1/events", hdrs, body), 30)[0]
                h2_ms.append((time.monotonic() - t0) * 1000)
                self.assertEqual(st.status, 200, st)
        finally:
            c.close()
        for _ in range(15):
            t0 = time.monotonic()
            r = self.post(body)
            h1_ms.append((time.monotonic() - t0) * 1000)
            self.assertEqual(r.status, 200, r)
        med = lambda v: sorted(v)[len(v) // 2]
        print(f"empty batch, median latency: h2c {med(h2_ms):.1f} ms (one connection), "
              f"HTTP/1.1 {med(h1_ms):.1f} ms (a connection each)", flush=True)
        self.assertLess(med(h2_ms), med(h1_ms) + 20.0,
                        f"h2c answers wait: {sorted(h2_ms)} vs HTTP/1.1 {sorted(h1_ms)}")

    def h2load(self, body, n, m, c=1, extra=(), path="/v1/events", timeout=120):
        args = ["h2load", "-n", str(n), "-c", str(c), "-m", str(m), "-d", self.tmpfile(body),
                "-H", f"authorization: Bearer {self.token}", "-H",
                "content-type: application/json", *extra, f"http://{self.sluice.public}{path}"]
        pr = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        self.assertEqual(pr.returncode, 0, pr.stdout + pr.stderr)
        mm = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored", pr.stdout)
        codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", pr.stdout)
        self.assertIsNotNone(mm, pr.stdout)
        return [int(x) for x in mm.groups()], [int(x) for x in codes.groups()], pr.stdout

    def test_h2load_and_http1_meanwhile(self):
        p = it.unique("h2load")
        body = json.dumps(it.batch([it.event(f"{p}-{i}", user_id=f"u-{i}")
                                    for i in range(5)])).encode()
        results = {}

        def load():
            results["h2load"] = self.h2load(body, n=1500, m=50, c=2)

        t = threading.Thread(target=load)
        t.start()
        h1 = []
        q = it.unique("h2h1")
        k = 0
        while t.is_alive() or k < 5:
            r = self.post(it.batch([it.event(f"{q}-{k}")]))
            h1.append(r)
            k += 1
            time.sleep(0.05)
        t.join()
        (total, started, done, ok, failed, errored), codes, out = results["h2load"]
        print(f"h2load: {total} requests, {ok} succeeded, codes 2xx/3xx/4xx/5xx={codes}; "
              f"{len(h1)} HTTP/1.1 posts meanwhile", flush=True)
        self.assertEqual((done, ok, failed, errored), (1500, 1500, 0, 0), out)
        self.assertEqual(codes, [1500, 0, 0, 0], out)
        self.assertEqual([r.status for r in h1], [200] * len(h1), [r for r in h1 if
                                                                   r.status != 200][:3])
        ids = [f"{p}-{i}" for i in range(5)]
        by_id = self.copies(ids, p, 1500, timeout=60)
        self.assertEqual({i: len(by_id.get(i, [])) for i in ids}, {i: 1500 for i in ids})
        self.assertEqual(sorted(it.wait_for_event_ids([f"{q}-{j}" for j in range(k)], prefix=q)),
                         sorted(f"{q}-{j}" for j in range(k)))



class Http2BeaconTest(Http2Base):
    """A sluice of its own: answers without a body (beacon 204, preflight 204)."""

    def test_beacon_and_preflight(self):
        p = it.unique("h2beacon")
        b = it.batch([it.event(f"{p}-0"), it.event(f"{p}-1")])
        b["token"] = self.token
        body = json.dumps(b).encode()
        hdrs = ["Content-Type: text/plain;charset=UTF-8", f"Origin: {ORIGIN}"]
        s1, h1, b1 = self.curl("http1.1", "POST", "/v1/beacon", body, hdrs)
        s2, h2, b2 = self.curl("h2c", "POST", "/v1/beacon", body, hdrs)
        self.assertEqual(s1, 204, b1)
        self.assertEqual((s2, b2), (s1, b1))
        self.assertEqual(self.meaningful(h2), self.meaningful(h1))
        self.assertEqual(h2.get("access-control-allow-origin"), [ORIGIN])
        by_id = self.copies([f"{p}-0", f"{p}-1"], p, 2)
        self.assertEqual({k: len(v) for k, v in by_id.items()}, {f"{p}-0": 2, f"{p}-1": 2})

        # A beacon from an origin that is not listed: the same refusal on both.
        bad = ["Content-Type: text/plain", "Origin: https://evil.example"]
        s1, h1, b1 = self.curl("http1.1", "POST", "/v1/beacon", body, bad)
        s2, h2, b2 = self.curl("h2c", "POST", "/v1/beacon", body, bad)
        self.assertEqual(s1, 403, b1)
        self.assertEqual((s2, b2), (s1, b1))

        for path in ("/v1/events", "/v1/beacon"):
            for origin in (ORIGIN, "https://evil.example"):
                with self.subTest(path=path, origin=origin):
                    pre = [f"Origin: {origin}", "Access-Control-Request-Method: POST",
                           "Access-Control-Request-Headers: authorization, content-type"]
                    s1, h1, b1 = self.curl("http1.1", "OPTIONS", path, None, pre)
                    s2, h2, b2 = self.curl("h2c", "OPTIONS", path, None, pre)
                    self.assertEqual(s1, 204 if origin == ORIGIN else 403, b1)
                    self.assertEqual((s2, b2), (s1, b1))
                    self.assertEqual(self.meaningful(h2), self.meaningful(h1))


if __name__ == "__main__":
    it.main()
