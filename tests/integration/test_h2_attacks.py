"""The HTTP/2 attack classes against listen.http, with hand-made frames (python3-h2's hpack and
hyperframe over a plain socket): each attack must end with the attacking connection closed or
limited, sluice's resident memory (VmRSS, /proc/PID/status) bounded -- printed before, at the
peak and after -- and other clients served normally while it runs and after it (an HTTP/1.1
POST and an h2 POST on connections of their own succeed, their events in Kafka).

  rapid reset         HEADERS + RST_STREAM on thousands of streams: GOAWAY and close
                      (http2.max_resets_per_second, burst 1000), also with POST bodies that
                      reach the pipeline before the reset
  CONTINUATION flood  HEADERS without END_HEADERS, then CONTINUATION frames without end: closed
                      after http2.max_continuations
  HPACK bomb          a 4 KB header put in the dynamic table, then referenced by one-byte
                      indices thousands of times (hundreds of MB decoded): 431 /
                      RST_STREAM / GOAWAY, nothing stored
  PING flood          PINGs without reading the ACKs: the connection is closed
  SETTINGS flood      SETTINGS frames without reading the ACKs, and one with too many entries
  invalid frames      stream errors one after the other: GOAWAY after http2.max_invalid_frames
  slow body           DATA dribbled slower than http.request_timeout (2 s here): RST_STREAM,
                      nothing produced
  pending cap         (H2PendingCapTest) the broker stopped (SIGSTOP): one connection opens
                      more POST streams than http2.max_pending_requests; the extra ones get
                      REFUSED_STREAM, reset streams still count, SIGCONT frees the cap.
"""

import json
import os
import signal
import socket
import threading
import time

from hyperframe import frame as hf

import h2_it
import sluice_it as it

RSS_GROWTH_LIMIT_KIB = 64 * 1024
# In the ASan build (the ci preset) freed memory waits in ASan's quarantine (256 MB by
# default), which would show in VmRSS as growth: a small quarantine keeps VmRSS close to what
# sluice really holds. (No effect on builds without ASan.)
os.environ["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"
REQUEST_TIMEOUT_S = 2
MAX_INVALID = 20
MAX_CONTINUATIONS = 8


class OtherClients(threading.Thread):
    """Normal clients next to the attack: an HTTP/1.1 POST and an h2 POST, in turn, on fresh
    connections; every answer is recorded."""

    def __init__(self, addr, token, prefix):
        super().__init__(daemon=True)
        self.addr, self.token, self.prefix = addr, token, prefix
        self.answers = []   # (event_id, protocol, status or exception)
        self.stop_event = threading.Event()
        self.n = 0

    def one(self, proto):
        eid = f"{self.prefix}-{self.n}"
        self.n += 1
        body = json.dumps(it.batch([it.event(eid)])).encode()
        try:
            if proto == "http1.1":
                status = it.post_events(self.addr, body, self.token, timeout=30).status
            else:
                c = h2_it.H2Conn(self.addr, timeout=30)
                try:
                    sid = c.request("/v1/events", [("content-type", "application/json"),
                                                   ("authorization", f"Bearer {self.token}")],
                                    body)
                    status = c.wait(sid, 30)[0].status
                finally:
                    c.close()
        except Exception as e:  # noqa: BLE001 -- reported by the test
            status = e
        self.answers.append((eid, proto, status))

    def run(self):
        while not self.stop_event.is_set():
            self.one("http1.1")
            self.one("h2")
            time.sleep(0.1)

    def finish(self):
        self.stop_event.set()
        self.join(60)


class AttackBase(it.SluiceTestCase):

    def rss(self):
        return it.rss_kib(self.sluice.proc.pid)

    def attack(self, name, fn):
        """Runs fn() (the attack; returns a description) with other clients and an RSS sampler
        around it, then checks sluice is unharmed."""
        before = self.rss()
        peak = [before]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    peak[0] = max(peak[0], self.rss())
                except (OSError, RuntimeError):
                    return
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        others = OtherClients(self.sluice.public, self.token, it.unique("other"))
        others.start()
        t0 = time.monotonic()
        try:
            what = fn()
        finally:
            time.sleep(0.3)
            others.finish()
            stop.set()
            sampler.join(5)
        took = time.monotonic() - t0
        # After the attack: served normally.
        others.one("http1.1")
        others.one("h2")
        after = self.rss()
        print(f"{name}: {what}; {took:.1f}s; VmRSS before {before} KiB, peak {peak[0]} KiB, "
              f"after {after} KiB; {len(others.answers)} normal requests meanwhile and after",
              flush=True)
        self.assertEqual(self.sluice.proc.poll(), None, "sluice exited")
        bad = [a for a in others.answers if a[2] != 200]
        self.assertEqual(bad, [], "another client was not served normally")
        self.assertGreaterEqual(len(others.answers), 4)
        self.assertLess(peak[0] - before, RSS_GROWTH_LIMIT_KIB, "VmRSS grew too much")
        ids = [a[0] for a in others.answers]
        by_id = it.wait_for_event_ids(ids, prefix=others.prefix, timeout=30)
        self.assertEqual(sorted(set(ids) - set(by_id)), [], "other clients' events missing")

    def post_headers(self, conn, extra=()):
        return h2_it.request_headers(conn.addr, "/v1/events", "POST",
                                     [("content-type", "application/json"),
                                      ("authorization", f"Bearer {self.token}"), *extra])

    def assert_closed_with_goaway(self, c, timeout=10, codes=None):
        c.read(timeout, until=None) if not c.closed else None
        self.assertTrue(c.closed, "the connection is still open")
        self.assertIsNotNone(c.goaway, "closed without GOAWAY")
        if codes is not None:
            self.assertIn(c.goaway.error_code, codes, c.goaway)


class H2AttackTest(AttackBase):
    SETS = (f"http.request_timeout={REQUEST_TIMEOUT_S}s",
            f"http2.max_invalid_frames={MAX_INVALID}",
            f"http2.max_continuations={MAX_CONTINUATIONS}")

    def test_rapid_reset(self):
        def run():
            c = h2_it.RawConn(self.sluice.public)
            try:
                sent = 0
                hdrs = h2_it.request_headers(self.sluice.public, "/v1/events", "GET")
                for chunk in range(10):
                    frames = []
                    for _ in range(1000):
                        sid = 1 + 2 * sent
                        frames.append(c.headers(sid, hdrs, end_stream=True))
                        frames.append(hf.RstStreamFrame(sid, error_code=h2_it.CANCEL))
                        sent += 1
                    # Read between the writes: a GOAWAY must not be lost to the TCP reset that
                    # writing on a closed connection brings.
                    if not c.send_frames(frames) or not c.read(0.05) and c.closed:
                        break
                c.read(10)
                self.assertTrue(c.closed, "connection still open after 10000 rapid resets")
                self.assertIsNotNone(c.goaway, "closed without GOAWAY")
                return (f"{sent} HEADERS+RST_STREAM written, GOAWAY error "
                        f"{c.goaway.error_code} last_stream_id {c.goaway.last_stream_id}")
            finally:
                c.close()

        self.attack("rapid reset (GET)", run)

        p = it.unique("rr")

        def run_post():
            c = h2_it.RawConn(self.sluice.public)
            try:
                sent = 0
                for chunk in range(10):
                    frames = []
                    for _ in range(500):
                        sid = 1 + 2 * sent
                        body = json.dumps(it.batch([it.event(f"{p}-{sent}")])).encode()
                        frames.append(c.headers(sid, self.post_headers(c), end_stream=False))
                        frames.append(hf.DataFrame(sid, data=body, flags=["END_STREAM"]))
                        frames.append(hf.RstStreamFrame(sid, error_code=h2_it.CANCEL))
                        sent += 1
                    if not c.send_frames(frames) or not c.read(0.05) and c.closed:
                        break
                c.read(10)
                self.assertTrue(c.closed, "connection still open after 5000 rapid resets")
                self.assertIsNotNone(c.goaway, "closed without GOAWAY")
                return f"{sent} POST+RST_STREAM written, GOAWAY error {c.goaway.error_code}"
            finally:
                c.close()

        self.attack("rapid reset (POST with body)", run_post)
        time.sleep(2)
        produced = len(it.messages_by_event_id(prefix=p))
        print(f"rapid reset (POST): {produced} of the reset streams' events were produced "
              f"(their requests had reached the pipeline)", flush=True)
        self.assertLessEqual(produced, 1100, "the reset rate limit did not bound the work")

    def test_continuation_flood(self):
        def run():
            c = h2_it.RawConn(self.sluice.public)
            try:
                block = c.encoder.encode(self.post_headers(c))
                frames = [hf.HeadersFrame(1, data=block, flags=[])]
                filler = c.encoder.encode([(f"x-fill-{i}", "v" * 100) for i in range(20)])
                written = 0
                ok = c.send_frames(frames)
                while ok and written < 20000:
                    ok = c.send_frames([hf.ContinuationFrame(1, data=filler)
                                        for _ in range(10)])
                    written += 10 if ok else 0
                    c.read(0.02)
                    ok = ok and not c.closed
                c.read(10)
                self.assertTrue(c.closed, "connection open after an endless CONTINUATION run")
                self.assertIsNotNone(c.goaway, "closed without GOAWAY")
                self.assertLessEqual(written, MAX_CONTINUATIONS + 10)
                return (f"{written} CONTINUATION frames accepted by the socket before it closed; "
                        f"GOAWAY {c.goaway.error_code if c.goaway else None}")
            finally:
                c.close()

        self.attack("CONTINUATION flood", run)

        def run_empty():
            c = h2_it.RawConn(self.sluice.public)
            try:
                block = c.encoder.encode(self.post_headers(c))
                ok = c.send_frames([hf.HeadersFrame(1, data=block, flags=[])])
                written = 0
                while ok and written < 100000:
                    ok = c.send_frames([hf.ContinuationFrame(1, data=b"") for _ in range(10)])
                    written += 10 if ok else 0
                    c.read(0.02)
                    ok = ok and not c.closed
                c.read(10)
                self.assertTrue(c.closed, "connection open after empty CONTINUATION frames")
                self.assertIsNotNone(c.goaway, "closed without GOAWAY")
                self.assertLessEqual(written, MAX_CONTINUATIONS + 10)
                return (f"{written} empty CONTINUATION frames written before it closed; "
                        f"GOAWAY {c.goaway.error_code if c.goaway else None}")
            finally:
                c.close()

        self.attack("CONTINUATION flood (empty frames)", run_empty)

    def test_hpack_bomb(self):
        p = it.unique("bomb")

        def run():
            c = h2_it.RawConn(self.sluice.public)
            try:
                big = "b" * 4000
                block = c.encoder.encode(self.post_headers(c) + [("x-bomb", big)])
                # x-bomb is now the newest entry of the dynamic table: index 62, one byte 0xbe.
                refs = 16384 * (MAX_CONTINUATIONS + 1) - len(block) - 64
                block += b"\xbe" * refs
                decoded = refs * (4000 + 6)
                frames, pos, first = [], 0, True
                while pos < len(block):
                    part = block[pos:pos + 16384]
                    pos += len(part)
                    flags = ["END_HEADERS"] if pos >= len(block) else []
                    if first:
                        frames.append(hf.HeadersFrame(1, data=part, flags=flags))
                        first = False
                    else:
                        frames.append(hf.ContinuationFrame(1, data=part, flags=flags))
                body = json.dumps(it.batch([it.event(f"{p}-0")])).encode()
                frames.append(hf.DataFrame(1, data=body, flags=["END_STREAM"]))
                c.send_frames(frames)
                c.read(10, until=lambda f: f.stream_id == 1 and (
                    isinstance(f, hf.RstStreamFrame) or "END_STREAM" in f.flags))
                status = None
                for f in c.frames:
                    if isinstance(f, hf.HeadersFrame) and f.stream_id == 1:
                        status = dict(c.decode_headers(f)).get(":status")
                limited = status == "431" or 1 in c.resets or c.goaway is not None
                self.assertTrue(limited, f"no 431, RST_STREAM or GOAWAY: {c.frames}")
                return (f"{len(block)} header block bytes = {decoded >> 20} MiB decoded; "
                        f"answer :status {status}, reset {c.resets.get(1)}, "
                        f"GOAWAY {c.goaway.error_code if c.goaway else None}")
            finally:
                c.close()

        self.attack("HPACK bomb", run)
        time.sleep(1)
        self.assertEqual(it.messages_by_event_id(prefix=p), {}, "the bomb's request was produced")

    def flood(self, make_frames, what, total):
        """Writes frames from make_frames(n) without reading anything until the server closes
        the connection (or total frames are written); returns a description."""
        host, port = self.sluice.public.rsplit(":", 1)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # ACKs back up quickly
        s.connect((host, int(port)))
        s.settimeout(10)
        written, closed = 0, False
        try:
            s.sendall(h2_it.PREFACE + hf.SettingsFrame(0).serialize())
            t0 = time.monotonic()
            while written < total and time.monotonic() - t0 < 60:
                try:
                    s.sendall(make_frames(1000))
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                except socket.timeout:
                    break   # the server stopped reading: it is limited, check it closes
                written += 1000
            if not closed:
                # Now read: the server must have closed (EOF or reset after its GOAWAY).
                s.settimeout(10)
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    try:
                        data = s.recv(1 << 20)
                    except ConnectionResetError:
                        closed = True
                        break
                    except socket.timeout:
                        break
                    if not data:
                        closed = True
                        break
            self.assertTrue(closed, f"{what}: the connection is still open after {written} "
                                    f"frames")
            return f"{written} {what} frames written before the connection closed"
        finally:
            s.close()

    def test_ping_flood(self):
        ping = hf.PingFrame(0, opaque_data=b"12345678").serialize()
        self.attack("PING flood", lambda: self.flood(lambda n: ping * n, "PING", 2_000_000))

    def test_settings_flood(self):
        settings = hf.SettingsFrame(0, settings={hf.SettingsFrame.INITIAL_WINDOW_SIZE: 65535}) \
            .serialize()
        self.attack("SETTINGS flood",
                    lambda: self.flood(lambda n: settings * n, "SETTINGS", 2_000_000))

        def too_many_entries():
            c = h2_it.RawConn(self.sluice.public)
            try:
                f = hf.SettingsFrame(0)
                payload = b"".join(
                    (0x4).to_bytes(2, "big") + (65535 + i).to_bytes(4, "big") for i in range(100))
                raw = len(payload).to_bytes(3, "big") + b"\x04\x00" + (0).to_bytes(4, "big") + \
                    payload
                c.send(raw)
                c.read(10)
                self.assertTrue(c.closed, "open after a SETTINGS frame of 100 entries")
                return f"GOAWAY {c.goaway.error_code if c.goaway else None}"
            finally:
                c.close()

        self.attack("SETTINGS with 100 entries", too_many_entries)

    def test_invalid_frame_storm(self):
        def run():
            c = h2_it.RawConn(self.sluice.public)
            try:
                sent = 0
                for k in range(MAX_INVALID * 5):
                    sid = 1 + 2 * k
                    # A stream error (RFC 9113 8.2.1: upper-case field name): RST_STREAM
                    # PROTOCOL_ERROR for the stream, the connection goes on.
                    hdrs = h2_it.request_headers(self.sluice.public, "/v1/events", "POST",
                                                 [("X-Upper", "1")])
                    if not c.send_frames([c.headers(sid, hdrs, end_stream=True)]):
                        break
                    sent += 1
                    c.read(0.02)
                    if c.closed:
                        break
                c.read(10)
                self.assertTrue(c.closed, f"open after {sent} invalid HEADERS")
                self.assertIsNotNone(c.goaway, "closed without GOAWAY")
                resets = len(c.resets)
                self.assertLessEqual(sent, MAX_INVALID + 10,
                                     f"GOAWAY came only after {sent} invalid frames")
                return (f"{sent} invalid HEADERS sent, {resets} RST_STREAM, GOAWAY error "
                        f"{c.goaway.error_code}")
            finally:
                c.close()

        self.attack("invalid-frame storm", run)

    def test_slow_body(self):
        p = it.unique("slow")
        result = {}

        def run():
            c = h2_it.RawConn(self.sluice.public)
            try:
                body = json.dumps(it.batch([it.event(f"{p}-0")])).encode()
                c.send_frames([c.headers(1, self.post_headers(c), end_stream=False)])
                t0 = time.monotonic()
                pos = 0
                while pos < len(body) - 1 and not c.closed and 1 not in c.resets:
                    c.send_frames([hf.DataFrame(1, data=body[pos:pos + 4])])
                    pos += 4
                    c.read(0.5)
                    if time.monotonic() - t0 > REQUEST_TIMEOUT_S * 5:
                        break
                took = time.monotonic() - t0
                result["reset"] = c.resets.get(1)
                self.assertIsNotNone(c.resets.get(1),
                                     f"the stream was not reset within {took:.1f}s")
                self.assertLess(took, REQUEST_TIMEOUT_S + 2.0)
                self.assertGreater(took, REQUEST_TIMEOUT_S - 0.5)
                return f"RST_STREAM {c.resets.get(1)} after {took:.1f}s, {pos} body bytes sent"
            finally:
                c.close()

        self.attack("slow body", run)
        time.sleep(1)
        self.assertEqual(it.messages_by_event_id(prefix=p), {}, "the slow request was produced")


class H2PendingCapTest(AttackBase):
    CAP = 8
    # The stalled broker must not be noticed by the health check (requests would be refused
    # before the pipeline instead of waiting for Kafka).
    SETS = (f"http2.max_pending_requests={CAP}", "kafka.health_interval=60s",
            "kafka.delivery_timeout=60s")

    def test_pending_cap(self):
        p = it.unique("cap")
        self.assertEqual(self.post(it.batch([it.event(f"{p}-warm")])).status, 200)
        pid = it.broker_pid()
        hdrs = [("content-type", "application/json"), ("authorization", f"Bearer {self.token}")]
        before = self.rss()
        os.kill(pid, signal.SIGSTOP)
        try:
            c = h2_it.H2Conn(self.sluice.public)
            sids = []
            for k in range(3 * self.CAP):
                body = json.dumps(it.batch([it.event(f"{p}-{k}")])).encode()
                sids.append(c.request("/v1/events", hdrs, body))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                c.pump(0.2)
                if sum(c.streams[s].reset is not None for s in sids) >= 2 * self.CAP:
                    break
            refused = [s for s in sids if c.streams[s].reset == h2_it.REFUSED_STREAM]
            waiting = [s for s in sids if not c.streams[s].done]
            print(f"pending cap: {len(sids)} streams opened with the broker stopped: "
                  f"{len(waiting)} waiting for Kafka, {len(refused)} REFUSED_STREAM",
                  flush=True)
            self.assertEqual(len(waiting), self.CAP)
            self.assertEqual(len(refused), 2 * self.CAP)
            # Resetting the waiting streams does not free the cap: their Kafka work goes on.
            for s in waiting:
                c.h2.reset_stream(s, h2_it.CANCEL)
            c.flush()
            more = [c.request("/v1/events", hdrs, json.dumps(it.batch(
                [it.event(f"{p}-more-{k}")])).encode()) for k in range(3)]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not all(c.streams[s].done for s in more):
                c.pump(0.2)
            self.assertEqual([c.streams[s].reset for s in more], [h2_it.REFUSED_STREAM] * 3)
            # Another connection has a cap of its own: its request waits for Kafka (not
            # refused).
            other = h2_it.H2Conn(self.sluice.public)
            osid = other.request("/v1/events", hdrs, json.dumps(it.batch(
                [it.event(f"{p}-other")])).encode())
            other.pump(1.0)
            self.assertFalse(other.streams[osid].done, other.streams[osid])
            peak = self.rss()
        finally:
            os.kill(pid, signal.SIGCONT)
        st = other.wait(osid, 90)[0]
        self.assertEqual(st.status, 200, st)
        other.close()
        # The cap is free again once Kafka answered: new streams on the first connection pass.
        deadline = time.monotonic() + 60
        while True:
            sid = c.request("/v1/events", hdrs, json.dumps(it.batch(
                [it.event(f"{p}-after-{deadline}")])).encode())
            st = c.wait(sid, 60)[0]
            if st.reset != h2_it.REFUSED_STREAM or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(st.status, 200, st)
        c.close()
        print(f"pending cap: VmRSS before {before} KiB, while stalled {peak} KiB", flush=True)
        ids = [f"{p}-{k}" for k in range(3 * self.CAP)]
        time.sleep(2)
        by_id = it.messages_by_event_id(prefix=p)
        in_kafka = sorted(set(ids) & set(by_id))
        # The waiting ones (reset by the client or not) were produced; the refused ones not.
        self.assertEqual(len(in_kafka), self.CAP, in_kafka)
        self.assertEqual([i for i in by_id if "-more-" in i], [])

        self.attack("after the stall", lambda: "normal traffic only")


if __name__ == "__main__":
    it.main()
