"""Whole-request faults of POST /v1/events: status, error code, and that nothing of a refused
request reaches Kafka while the gateway keeps serving."""

import json
import socket
import threading
import time
import unittest

import sluice_it as it

MAX_BODY = 64 * 1024
MAX_EVENTS = 10
MAX_DEPTH = 5
MAX_HEADER = 4096
MAX_TOKEN = 512


class FaultTest(it.SluiceTestCase):
    SETS = (f"limits.max_body_bytes={MAX_BODY}", f"limits.max_events_per_batch={MAX_EVENTS}",
            f"limits.max_json_depth={MAX_DEPTH}", f"limits.max_header_bytes={MAX_HEADER}",
            f"limits.max_token_bytes={MAX_TOKEN}",
            # Padding and nesting live in members no contract declares: stripped, not refused.
            "contracts.unknown_fields=strip")

    prefix = it.unique("fault")
    refused_ids = []  # event ids sent in refused requests: none may reach Kafka
    seq = 0

    @classmethod
    def new_id(cls, refused=True):
        cls.seq += 1
        eid = f"{cls.prefix}-{cls.seq}"
        if refused:
            cls.refused_ids.append(eid)
        return eid

    def one_event_batch(self):
        return it.batch([it.event(self.new_id())])

    def head(self, extra, auth=True):
        h = "POST /v1/events HTTP/1.1\r\nHost: sluice\r\nContent-Type: application/json\r\n"
        if auth:
            h += f"Authorization: Bearer {self.token}\r\n"
        return (h + extra + "\r\n").encode()

    def assertFault(self, r, status, code):
        self.assertIsNotNone(r, "the connection closed without an answer")
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.error_code(), code, r)
        self.assertIsInstance(r.json["error"].get("message"), str)
        self.assertTrue(r.json["error"]["message"])
        self.assertNotIn("accepted", r.json)

    # ------------------------------------------------------------ body faults ----

    def test_malformed_json(self):
        body = json.dumps(self.one_event_batch())[:-3]  # truncated
        self.assertFault(self.post(body), 400, "malformed_json")
        self.assertFault(self.post(b"not json at all"), 400, "malformed_json")
        self.assertFault(self.post(b""), 400, "malformed_json")

    def test_array_instead_of_batch(self):
        r = self.post([it.event(self.new_id()), it.event(self.new_id())])
        self.assertFault(r, 400, "not_a_batch")
        r = self.post({"batch_id": "b", "events": {"event_id": self.new_id()}})
        self.assertFault(r, 400, "not_a_batch")

    def test_bad_batch_fields(self):
        r = self.post(it.batch([it.event(self.new_id())], sent_at="last tuesday"))
        self.assertFault(r, 400, "invalid_timestamp")
        self.assertIn("sent_at", r.json["error"]["message"])
        r = self.post(it.batch([it.event(self.new_id())], batch_id=17))
        self.assertFault(r, 400, "not_a_batch")
        r = self.post({"batch_id": "no-events"})
        self.assertFault(r, 400, "not_a_batch")
        # Not UTF-8.
        body = json.dumps(it.batch([it.event(self.new_id(), name="NAME")])).encode()
        self.assertFault(self.post(body.replace(b"NAME", b"\xff\xfe")), 400, "malformed_json")

    def test_unknown_batch_field(self):
        r = self.post(it.batch([it.event(self.new_id())], colour="blue"))
        self.assertFault(r, 400, "unknown_batch_field")
        self.assertIn("colour", r.json["error"]["message"])

    def test_duplicate_keys(self):
        eid = self.new_id()
        body = ('{"batch_id":"dup","events":[{"event_id":"%s","type":"a","type":"b",'
                '"occurred_at":1}]}' % eid)
        self.assertFault(self.post(body), 400, "duplicate_key")
        body = ('{"events":[],"events":[{"event_id":"%s","type":"a","occurred_at":1}]}'
                % self.new_id())
        self.assertFault(self.post(body), 400, "duplicate_key")

    def test_too_deep(self):
        # batch {(1) > events [(2) > event {(3) > a's value {(4) > b's value {}(5): at the
        # limit ...
        ok_id = self.new_id(refused=False)
        r = self.post(it.batch([it.event(ok_id, a={"b": {}})]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["accepted"], 1)
        # ... one more level is refused before parsing.
        r = self.post(it.batch([it.event(self.new_id(), a={"b": {"c": {}}})]))
        self.assertFault(r, 400, "too_deep")
        r = self.post(it.batch([it.event(self.new_id(), a=[[[[[[[[1]]]]]]]])]))
        self.assertFault(r, 400, "too_deep")
        self.assertIn(ok_id, it.wait_for_event_ids([ok_id], prefix=self.prefix))

    def test_wrong_content_type(self):
        for ct in ("text/plain", "application/x-www-form-urlencoded", None):
            with self.subTest(content_type=ct):
                r = self.post(self.one_event_batch(), content_type=ct)
                self.assertFault(r, 415, "unsupported_media_type")
        # Parameters and case do not matter.
        ok_id = self.new_id(refused=False)
        r = self.post(it.batch([it.event(ok_id)]), content_type="Application/JSON; charset=utf-8")
        self.assertEqual(r.status, 200, r)

    def test_content_length_over_limit_answered_from_headers(self):
        # Only the head is sent: the 413 must come without the body.
        t0 = time.monotonic()
        host, port = self.sluice.public.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(self.head("Content-Length: 1073741824\r\n"))
            r = it.read_http_response(s, timeout=10)
        self.assertFault(r, 413, "body_too_large")
        self.assertLess(time.monotonic() - t0, 10)
        # Just over the limit, still from the head alone.
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(self.head(f"Content-Length: {MAX_BODY + 1}\r\n"))
            r = it.read_http_response(s, timeout=10)
        self.assertFault(r, 413, "body_too_large")

    def test_body_at_limit_accepted(self):
        ok_id = self.new_id(refused=False)
        b = it.batch([it.event(ok_id)])
        b["events"][0]["pad"] = ""
        size = len(json.dumps(b).encode())
        b["events"][0]["pad"] = "p" * (MAX_BODY - size)
        body = json.dumps(b).encode()
        self.assertEqual(len(body), MAX_BODY)
        r = self.post(body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["accepted"], 1)

    def test_chunked_body_over_limit(self):
        eid = self.new_id()
        ev = it.event(eid, pad="x" * (2 * MAX_BODY))
        body = json.dumps(it.batch([ev])).encode()
        host, port = self.sluice.public.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=20)
        errors = []

        def send_all():
            try:
                s.sendall(self.head("Transfer-Encoding: chunked\r\n"))
                for i in range(0, len(body), 4000):
                    piece = body[i:i + 4000]
                    s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                s.sendall(b"0\r\n\r\n")
            except OSError as e:  # the server may stop reading once it has answered
                errors.append(e)

        sender = threading.Thread(target=send_all)
        sender.start()
        try:
            r = it.read_http_response(s, timeout=20)
        finally:
            sender.join(20)
            s.close()
        self.assertFault(r, 413, "body_too_large")

    def test_chunked_body_under_limit_accepted(self):
        ok_id = self.new_id(refused=False)
        body = json.dumps(it.batch([it.event(ok_id)])).encode()
        chunks = b"".join(b"%x\r\n" % len(body[i:i + 10]) + body[i:i + 10] + b"\r\n"
                          for i in range(0, len(body), 10))
        r = it.raw_exchange(self.sluice.public,
                            self.head("Transfer-Encoding: chunked\r\n") + chunks + b"0\r\n\r\n")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["accepted"], 1)

    def test_too_many_events(self):
        r = self.post(it.batch([it.event(self.new_id()) for _ in range(MAX_EVENTS + 1)]))
        self.assertFault(r, 413, "too_many_events")
        ids = [self.new_id(refused=False) for _ in range(MAX_EVENTS)]
        r = self.post(it.batch([it.event(i) for i in ids]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["accepted"], MAX_EVENTS)

    # ------------------------------------------------------------ head faults ----

    def test_content_length_with_transfer_encoding(self):
        body = json.dumps(self.one_event_batch()).encode()
        chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
        r = it.raw_exchange(self.sluice.public, self.head(
            f"Content-Length: {len(chunked)}\r\nTransfer-Encoding: chunked\r\n") + chunked)
        self.assertFault(r, 400, "content_length_with_transfer_encoding")

    def test_unsupported_transfer_encoding(self):
        # Only chunked is implemented: any other coding must be refused at once (RFC 9112
        # 6.1: 501; 400 is as good), not read until the idle timeout.
        for te in ("gzip", "gzip, chunked", "identity"):
            with self.subTest(transfer_encoding=te):
                eid = self.new_id()
                body = json.dumps(it.batch([it.event(eid)])).encode()
                if te.endswith("chunked"):
                    body = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
                try:
                    r = it.raw_exchange(self.sluice.public,
                                        self.head(f"Transfer-Encoding: {te}\r\n") + body,
                                        timeout=5)
                except (TimeoutError, socket.timeout):
                    self.fail(f"Transfer-Encoding: {te}: no answer within 5s")
                self.assertIsNotNone(r, f"Transfer-Encoding: {te}: closed without an answer")
                self.assertIn(r.status, (400, 501), r)

    @unittest.expectedFailure
    def test_malformed_content_length_single_answer(self):
        """libmicrohttpd 0.9.75 (Debian 12) answers a non-numeric Content-Length with its
        400 head written twice (reproduced with a minimal MHD daemon, so upstream). Expected
        to fail until libmicrohttpd is upgraded; an unexpected success flags the fix."""
        host, port = self.sluice.public.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(self.head("Content-Length: abc\r\n") + b"{}")
            r = it.read_http_response(s, timeout=10)
            s.settimeout(2)
            rest = b""
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    rest += d
            except OSError:
                pass
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 400, r)
        self.assertFalse(r.raw.startswith(b"HTTP/1.1"), f"a second head as the body: {r.raw!r}")
        self.assertEqual(rest, b"", "bytes after the response")

    def test_conflicting_content_length(self):
        body = json.dumps(self.one_event_batch()).encode()
        r = it.raw_exchange(self.sluice.public, self.head(
            f"Content-Length: {len(body)}\r\nContent-Length: {len(body) + 5}\r\n") + body)
        self.assertFault(r, 400, "conflicting_content_length")

    def test_missing_token(self):
        r = it.post_events(self.sluice.public, self.one_event_batch(), token=None)
        self.assertFault(r, 401, "token_missing")
        r = it.post_events(self.sluice.public, self.one_event_batch(), token=None,
                           extra_headers={"Authorization": "Basic dXNlcjpwYXNz"})
        self.assertFault(r, 401, "token_missing")

    def test_bad_tokens(self):
        now = int(time.time())
        cases = {
            "bad_signature": it.make_jwt({"tenant": "t1", "iat": now, "exp": now + 3600},
                                         secret="another-secret-another-secret-0000"),
            "token_expired": it.make_jwt({"tenant": "t1", "iat": now - 7200,
                                          "exp": now - 3600}),
            "alg_none": it.make_jwt({"tenant": "t1", "exp": now + 3600},
                                    header={"alg": "none", "typ": "JWT"}).rsplit(".", 1)[0]
            + ".",
            "tenant_missing": it.make_jwt({"sub": "s", "iat": now, "exp": now + 3600}),
            "token_malformed": "not-a-jwt",
            # Correctly signed, but longer than limits.max_token_bytes.
            "token_too_large": it.make_jwt({"tenant": "t1", "iat": now, "exp": now + 3600,
                                            "sub": "s" * MAX_TOKEN}),
        }
        for code, token in cases.items():
            with self.subTest(code=code):
                r = self.post(self.one_event_batch(), token=token)
                self.assertFault(r, 401, code)
        # The same claims, correctly signed, are accepted: the checks above are the token's.
        good = it.make_jwt({"tenant": "t1", "iat": now, "exp": now + 3600})
        r = self.post(it.batch([it.event(self.new_id(refused=False))]), token=good)
        self.assertEqual(r.status, 200, r)

    def test_head_over_max_header_bytes(self):
        body = json.dumps(self.one_event_batch()).encode()
        big = "X-Padding: " + "p" * (3 * MAX_HEADER) + "\r\n"
        r = it.raw_exchange(self.sluice.public,
                            self.head(big + f"Content-Length: {len(body)}\r\n") + body)
        self.assertIsNotNone(r, "connection closed without an answer")
        self.assertEqual(r.status, 431, r)

    def test_head_under_max_header_bytes_accepted(self):
        ok_id = self.new_id(refused=False)
        body = json.dumps(it.batch([it.event(ok_id)])).encode()
        pad = "X-Padding: " + "p" * (MAX_HEADER // 4) + "\r\n"
        r = it.raw_exchange(self.sluice.public,
                            self.head(pad + f"Content-Length: {len(body)}\r\n") + body)
        self.assertEqual(r.status, 200, r)

    def test_get_events_method_not_allowed(self):
        r = it.http_request(self.sluice.public, "GET", "/v1/events",
                            headers={"Authorization": f"Bearer {self.token}"})
        self.assertFault(r, 405, "method_not_allowed")
        self.assertEqual(r.header("allow"), "POST, OPTIONS", "OPTIONS: CORS preflights")

    def test_unknown_path(self):
        for method, path in (("POST", "/v1/event"), ("GET", "/"), ("POST", "/v2/events"),
                             ("GET", "/metrics")):
            with self.subTest(path=path):
                body = json.dumps(self.one_event_batch()).encode() if method == "POST" else None
                r = it.http_request(self.sluice.public, method, path, body=body,
                                    headers={"Authorization": f"Bearer {self.token}",
                                             "Content-Type": "application/json"})
                self.assertFault(r, 404, "not_found")

    # Runs last (unittest orders methods by name).
    def test_zz_valid_batch_after_faults_and_nothing_refused_in_kafka(self):
        ids = [self.new_id(refused=False) for _ in range(3)]
        r = self.post(it.batch([it.event(i, user_id="after") for i in ids]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["accepted"], 3)
        by_id = it.wait_for_event_ids(ids, prefix=self.prefix)
        for i in ids:
            self.assertEqual(len(by_id.get(i, [])), 1, f"{i} in Kafka once")
        self.assertTrue(self.refused_ids)
        leaked = sorted(set(self.refused_ids) & set(by_id))
        self.assertEqual(leaked, [], "events of refused requests reached Kafka")
        # The server is still healthy after all of it.
        self.assertEqual(self.sluice.admin_get("/readyz").status, 200)


if __name__ == "__main__":
    it.main()
