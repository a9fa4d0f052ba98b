"""gRPC sluice.v1.Ingest with a real client: Debian's python3-grpcio (generic stubs,
channel.unary_unary / stream_stream, with the classes protoc generates from proto/), events
read back from the real Kafka broker.

GrpcPublishTest    unary Publish (events in Kafka, same value and headers as the same batch over
                   HTTP/1.1), per-event results equal to the JSON answer of the same batch over
                   HTTP/1.1, gzip compression (grpc.Compression.Gzip, and a hand-made compressed
                   message), an oversized message (RESOURCE_EXHAUSTED naming
                   limits.max_body_bytes), no / bad / expired token (UNAUTHENTICATED), an unknown
                   method (UNIMPLEMENTED), Health/Check SERVING, and grpc-timeout: a deadline that
                   passes before the request is complete is answered DEADLINE_EXCEEDED by sluice
                   and nothing of it is produced.
GrpcStreamTest     PublishStream: several batches on one call, each answered with its own
                   PublishResponse on the stream before the next one is sent.
GrpcStallTest      the broker's JVM stopped (SIGSTOP): a Publish waiting for Kafka runs out of
                   its grpc-timeout (DEADLINE_EXCEEDED); after SIGCONT what became of its events
                   is printed (they were handed to the producer before the deadline: at least
                   once), and a retry of the same batch is answered duplicate.
GrpcLateDeliveryTest
                   the broker stopped past kafka.delivery_timeout (2s): Publish is answered
                   UNAVAILABLE at the deadline, its events still in flight; a retry after SIGCONT
                   is answered in_flight or duplicate, never produced again: one copy in Kafka.
GrpcHealthTest     grpc.health.v1.Health/Check: SERVING while /readyz is 200, NOT_SERVING while
                   the broker is stopped (kafka.sh pause), SERVING again after kafka.sh resume.

The classes that need the same batch accepted twice (over gRPC and over HTTP/1.1) turn dedupe
off (dedupe.window=0)."""

import json
import os
import signal
import queue
import tempfile
import time

import grpc

import h2_it
import sluice_it as it

pb = None
E = None   # sluice.v1.envelope_pb2
RAW = None  # sluice.events.v1.raw_pb2
_pb_dir = None

PUBLISH = "/sluice.v1.Ingest/Publish"
STREAM = "/sluice.v1.Ingest/PublishStream"
HEALTH = "/grpc.health.v1.Health/Check"
STATUS_NAMES = {1: "accepted", 2: "invalid", 3: "consent_dropped", 4: "duplicate",
                5: "retryable", 6: "suppressed"}


def setUpModule():
    global pb, E, RAW, _pb_dir
    _pb_dir = tempfile.TemporaryDirectory(prefix="sluice-it-pb-")
    pb = it.compile_protos(_pb_dir.name)
    E = pb["sluice.v1.envelope_pb2"]
    RAW = pb["sluice.events.v1.raw_pb2"]


def tearDownModule():
    if _pb_dir is not None:
        _pb_dir.cleanup()


def pb_event(eid, occurred_at="2026-01-02T03:04:05.678Z", type_="page_view", url=None,
             user_id=None):
    ev = E.Event(event_id=eid, type=type_, user_id=user_id or ("u-" + eid[-6:]))
    if occurred_at:
        ev.occurred_at = occurred_at
    ev.properties = RAW.PageView(url=url or f"https://shop.example.com/p/{eid}").SerializeToString()
    return ev


def pb_batch(events, batch_id=None):
    return E.EventBatch(batch_id=batch_id or it.unique("gb"), sent_at="2026-01-02T03:04:06Z",
                        events=events)


def response_as_json(r):
    """A PublishResponse in the shape of the JSON answer of POST /v1/events."""
    return {"batch_id": r.batch_id, "received": r.received, "accepted": r.accepted,
            "invalid": r.invalid, "consent_dropped": r.consent_dropped,
            "duplicate": r.duplicate, "retryable": r.retryable, "suppressed": r.suppressed,
            "results": [{"index": x.index, "event_id": x.event_id,
                         "status": STATUS_NAMES.get(x.status, str(x.status)), "code": x.code,
                         "message": x.message} for x in r.results]}


class GrpcClient:
    def __init__(self, addr):
        self.channel = grpc.insecure_channel(addr)
        self.publish = self.channel.unary_unary(
            PUBLISH, request_serializer=E.EventBatch.SerializeToString,
            response_deserializer=E.PublishResponse.FromString)
        self.stream = self.channel.stream_stream(
            STREAM, request_serializer=E.EventBatch.SerializeToString,
            response_deserializer=E.PublishResponse.FromString)
        self.health = self.channel.unary_unary(HEALTH, request_serializer=lambda b: b,
                                               response_deserializer=lambda b: b)
        self.other = self.channel.unary_unary("/sluice.v1.Ingest/Nope",
                                              request_serializer=lambda b: b,
                                              response_deserializer=lambda b: b)

    def close(self):
        self.channel.close()


def md(token):
    return [("authorization", f"Bearer {token}")] if token else []


def health_status(raw):
    """grpc.health.v1.HealthCheckResponse.status from its bytes (field 1, varint)."""
    if raw == b"":
        return 0
    assert raw[0] == 0x08 and len(raw) == 2, raw
    return raw[1]


class GrpcBase(it.SluiceTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.client = GrpcClient(cls.sluice.public)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        super().tearDownClass()

    def call(self, batch, token=None, **kw):
        kw.setdefault("timeout", 60)
        return self.client.publish.with_call(batch, metadata=md(self.token if token is None
                                                                   else token), **kw)

    def assert_rpc_error(self, fn, code, *args, **kw):
        with self.assertRaises(grpc.RpcError) as cm:
            fn(*args, **kw)
        self.assertEqual(cm.exception.code(), code, cm.exception.details())
        return cm.exception

    def raw_call(self, path, message_frames, headers=(), timeout=30):
        """A gRPC call with python3-h2: message_frames (bytes, already framed) as the body."""
        c = h2_it.H2Conn(self.sluice.public)
        try:
            hdrs = [("content-type", "application/grpc"), ("te", "trailers"),
                    ("authorization", f"Bearer {self.token}"), *headers]
            sid = c.request(path, hdrs, message_frames)
            return c.wait(sid, timeout)[0]
        finally:
            c.close()

    def stop_broker(self, prefix):
        """SIGSTOPs the broker once a warm-up Publish shows the producer connected; its pid, for
        the caller to SIGCONT."""
        resp, _ = self.call(pb_batch([pb_event(f"{prefix}-warm")]))
        self.assertEqual(resp.accepted, 1)
        pid = it.broker_pid()
        os.kill(pid, signal.SIGSTOP)
        return pid

    def assert_once_in_kafka(self, ids, prefix):
        """Every one of ids in Kafka exactly once (a second later, for any late copy)."""
        it.wait_for_event_ids(ids, prefix=prefix, timeout=30)
        time.sleep(1.0)
        by_id = it.messages_by_event_id(prefix=prefix)
        self.assertEqual({i: len(by_id.get(i, [])) for i in ids}, {i: 1 for i in ids})

    def assert_absent(self, ids, prefix, wait=3.0):
        time.sleep(wait)
        by_id = it.messages_by_event_id(prefix=prefix)
        self.assertEqual(sorted(set(ids) & set(by_id)), [],
                         "events of a batch that was not taken are in Kafka")


class GrpcPublishTest(GrpcBase):
    SETS = ("dedupe.window=0", "limits.max_body_bytes=256KiB")

    def test_unary_publish_read_back(self):
        p = it.unique("gu")
        ids = [f"{p}-{i}" for i in range(5)]
        batch = pb_batch([pb_event(i) for i in ids])
        resp, call = self.call(batch)
        self.assertEqual(call.code(), grpc.StatusCode.OK)
        self.assertEqual((resp.batch_id, resp.received, resp.accepted, list(resp.results)),
                         (batch.batch_id, 5, 5, []))
        by_id = it.wait_for_event_ids(ids, prefix=p)
        self.assertEqual(sorted(by_id), sorted(ids))
        for eid in ids:
            self.assertEqual(len(by_id[eid]), 1, eid)
            m = by_id[eid][0]
            self.assertEqual(m["headers"]["tenant"], "t1")
            self.assertEqual(m["headers"]["type"], "page_view")
            self.assertEqual(m["headers"]["contract"], "sluice.events.v1.PageView")
            value = json.loads(m["payload"])
            self.assertEqual(value["event_id"], eid)
            self.assertEqual(value["properties"], {"url": f"https://shop.example.com/p/{eid}"})

        # The same batch over HTTP/1.1 (protobuf body, the same bytes as the gRPC message): the
        # same Kafka values and headers (received_at aside).
        r = self.post(batch.SerializeToString(), content_type="application/x-protobuf")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["accepted"], 5, r)
        by_id = it.wait_for_event_ids(ids, prefix=p)
        deadline = time.monotonic() + 20
        while any(len(by_id.get(i, [])) < 2 for i in ids) and time.monotonic() < deadline:
            time.sleep(0.5)
            by_id = it.messages_by_event_id(prefix=p)
        for eid in ids:
            copies = by_id[eid]
            self.assertEqual(len(copies), 2, eid)
            a, b = sorted(copies, key=lambda m: m["offset"])
            self.assertEqual(a["payload"], b["payload"], eid)
            self.assertEqual(a["key"], b["key"], eid)
            ha = {k: v for k, v in a["headers"].items() if k != "received_at"}
            hb = {k: v for k, v in b["headers"].items() if k != "received_at"}
            self.assertEqual(ha, hb, eid)

    def test_results_match_http1_json_answer(self):
        p = it.unique("gr")
        events = [pb_event(f"{p}-0"),
                  pb_event(f"{p}-1", occurred_at=""),                       # missing_field
                  pb_event(f"{p}-2", type_="no_such_type"),                 # unknown_type
                  pb_event(f"{p}-3", url="not a url"),                      # invalid_format
                  pb_event(f"{p}-4")]
        batch = pb_batch(events)
        resp, call = self.call(batch)
        self.assertEqual(call.code(), grpc.StatusCode.OK)
        got = response_as_json(resp)
        self.assertEqual((got["received"], got["accepted"], got["invalid"]), (5, 2, 3), got)
        self.assertEqual([x["index"] for x in got["results"]], [1, 2, 3], got)

        # The same bytes over HTTP/1.1 as application/x-protobuf: the JSON answer says the same.
        r = self.post(batch.SerializeToString(), content_type="application/x-protobuf")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(got, r.json)

        # The same batch as JSON: the same outcomes and codes for the same indices.
        jb = {"batch_id": batch.batch_id, "sent_at": batch.sent_at, "events": [
            it.event(f"{p}-0", user_id="u-" + f"{p}-0"[-6:]),
            {k: v for k, v in it.event(f"{p}-1", user_id="u-" + f"{p}-1"[-6:]).items()
             if k != "occurred_at"},
            it.event(f"{p}-2", type="no_such_type", user_id="u-" + f"{p}-2"[-6:],
                     properties={"url": f"https://shop.example.com/p/{p}-2"}),
            it.event(f"{p}-3", user_id="u-" + f"{p}-3"[-6:], properties={"url": "not a url"}),
            it.event(f"{p}-4", user_id="u-" + f"{p}-4"[-6:])]}
        r = self.post(jb)
        self.assertEqual(r.status, 200, r)
        strip = lambda d: [{k: v for k, v in x.items() if k != "message"} for x in d["results"]]
        self.assertEqual(strip(got), strip(r.json))
        print(f"gRPC results: {got['results']}", flush=True)
        print(f"HTTP/1.1 JSON results: {r.json['results']}", flush=True)

    def test_gzip_compression(self):
        p = it.unique("gz")
        ids = [f"{p}-{i}" for i in range(20)]
        batch = pb_batch([pb_event(i) for i in ids])
        resp, call = self.call(batch, compression=grpc.Compression.Gzip)
        self.assertEqual(call.code(), grpc.StatusCode.OK)
        self.assertEqual((resp.received, resp.accepted), (20, 20))
        # The same batch uncompressed: byte-identical values.
        resp, _ = self.call(batch)
        self.assertEqual(resp.accepted, 20)
        deadline = time.monotonic() + 20
        while True:
            by_id = it.messages_by_event_id(prefix=p)
            if all(len(by_id.get(i, [])) == 2 for i in ids) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        for eid in ids:
            self.assertEqual(len(by_id.get(eid, [])), 2, eid)
            a, b = by_id[eid]
            self.assertEqual(a["payload"], b["payload"])

        # A message compressed by hand (flag 1) with grpc-encoding: gzip.
        q = it.unique("gzraw")
        raw_ids = [f"{q}-{i}" for i in range(3)]
        msg = pb_batch([pb_event(i) for i in raw_ids]).SerializeToString()
        st = self.raw_call(PUBLISH, h2_it.grpc_frame(msg, compressed=True),
                           headers=[("grpc-encoding", "gzip")])
        self.assertEqual(st.grpc_status(), 0, st)
        resp = E.PublishResponse.FromString(h2_it.grpc_messages(st.data)[0])
        self.assertEqual(resp.accepted, 3)
        it.wait_for_event_ids(raw_ids, prefix=q)
        # Flag 1 without grpc-encoding: refused, nothing produced.
        r_ids = [f"{q}-x{i}" for i in range(2)]
        msg = pb_batch([pb_event(i) for i in r_ids]).SerializeToString()
        st = self.raw_call(PUBLISH, h2_it.grpc_frame(msg, compressed=True))
        self.assertNotIn(st.grpc_status(), (None, 0), st)
        self.assert_absent(r_ids, q, wait=1.0)

    def test_oversized_message(self):
        p = it.unique("gbig")
        ids = [f"{p}-{i}" for i in range(3)]
        batch = pb_batch([pb_event(i, url="https://shop.example.com/" + "x" * 2000)
                          for i in ids])
        batch.events[0].properties = RAW.PageView(
            url="https://shop.example.com/" + "y" * 300000).SerializeToString()
        self.assertGreater(batch.ByteSize(), 256 * 1024)
        e = self.assert_rpc_error(self.call, grpc.StatusCode.RESOURCE_EXHAUSTED, batch)
        self.assertIn("limits.max_body_bytes", e.details())
        # The channel (connection) still works.
        ok = pb_batch([pb_event(f"{p}-ok")])
        resp, _ = self.call(ok)
        self.assertEqual(resp.accepted, 1)
        self.assert_absent(ids, p)

    def test_unauthenticated(self):
        p = it.unique("gauth")
        cases = {
            "no token": None,
            "bad signature": it.make_jwt({"tenant": "t1", "exp": int(time.time()) + 600},
                                         secret="another-secret-0123456789abcdefghijkl"),
            "expired": it.make_jwt({"tenant": "t1", "exp": int(time.time()) - 3600}),
            "not a jwt": "xyz",
        }
        ids = []
        for name, token in cases.items():
            with self.subTest(name):
                eid = f"{p}-{len(ids)}"
                ids.append(eid)
                with self.assertRaises(grpc.RpcError) as cm:
                    self.client.publish(pb_batch([pb_event(eid)]), metadata=md(token),
                                        timeout=30)
                self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAUTHENTICATED,
                                 cm.exception.details())
                print(f"{name}: UNAUTHENTICATED {cm.exception.details()!r}", flush=True)
        self.assert_absent(ids, p)

    def test_unknown_method(self):
        self.assert_rpc_error(self.client.other, grpc.StatusCode.UNIMPLEMENTED, b"",
                              metadata=md(self.token), timeout=30)

    def test_health_serving(self):
        raw = self.client.health(b"", timeout=30)
        self.assertEqual(health_status(raw), 1)  # SERVING

    def test_deadline_tiny_timeout(self):
        """grpcio with a 1 ms timeout: the call ends DEADLINE_EXCEEDED. Whether sluice saw
        the request before the deadline is a race, so what reached Kafka is printed."""
        p = it.unique("gdl")
        ids = []
        for k in range(5):
            eid = f"{p}-{k}"
            ids.append(eid)
            self.assert_rpc_error(self.call, grpc.StatusCode.DEADLINE_EXCEEDED,
                                  pb_batch([pb_event(eid)]), timeout=0.001)
        time.sleep(3)
        landed = sorted(set(ids) & set(it.messages_by_event_id(prefix=p)))
        print(f"grpcio timeout=1ms: {len(landed)} of {len(ids)} events in Kafka "
              f"(produced before the deadline; the client gave up on the answer)", flush=True)

    def test_deadline_passes_before_request_complete(self):
        """grpc-timeout 50m; the message (and END_STREAM) arrives 80 ms after the headers: the
        deadline has passed before the request could be produced, so sluice answers
        DEADLINE_EXCEEDED (its own trailers) and none of the events may reach Kafka."""
        p = it.unique("gdl2")
        ids, answers = [], []
        for k in range(6):
            eid = f"{p}-{k}"
            ids.append(eid)
            msg = pb_batch([pb_event(eid)]).SerializeToString()
            c = h2_it.H2Conn(self.sluice.public)
            try:
                sid = c.request(PUBLISH, [("content-type", "application/grpc"),
                                          ("te", "trailers"), ("grpc-timeout", "50m"),
                                          ("authorization", f"Bearer {self.token}")],
                                end=False)
                time.sleep(0.08)
                c.send_body(sid, h2_it.grpc_frame(msg), end=True)
                st = c.wait(sid, 30)[0]
            finally:
                c.close()
            answers.append(st.grpc_status())
        time.sleep(3)
        landed = sorted(set(ids) & set(it.messages_by_event_id(prefix=p)))
        print(f"grpc-status per call: {answers}; in Kafka: {len(landed)} of {len(ids)}",
              flush=True)
        self.assertEqual(landed, [], f"produced after the request's grpc-timeout deadline had "
                                     f"passed (grpc-status per call: {answers})")
        self.assertEqual(answers, [4] * len(ids), "sluice's own grpc-status")


class GrpcStreamTest(GrpcBase):
    def test_publish_stream_several_batches(self):
        p = it.unique("gs")
        n_batches, per = 4, 3
        batches = [pb_batch([pb_event(f"{p}-{b}-{i}") for i in range(per)],
                   batch_id=f"{p}-b{b}") for b in range(n_batches)]
        # Last batch holds one invalid event: it is answered in its own response.
        batches[-1].events.append(pb_event(f"{p}-{n_batches - 1}-bad", occurred_at=""))
        answered = queue.Queue()
        sent_before_answer = []

        def requests():
            for k, b in enumerate(batches):
                yield b
                # The next batch only once this one's response came back on the stream.
                r = answered.get(timeout=60)
                sent_before_answer.append((k, r.batch_id))

        call = self.client.stream(requests(), metadata=md(self.token), timeout=120)
        responses = []
        for r in call:
            responses.append(r)
            answered.put(r)
        self.assertEqual(call.code(), grpc.StatusCode.OK)
        self.assertEqual([r.batch_id for r in responses], [b.batch_id for b in batches])
        self.assertEqual([(k, b.batch_id) for k, b in enumerate(batches)], sent_before_answer)
        for r in responses[:-1]:
            self.assertEqual((r.received, r.accepted, list(r.results)), (per, per, []))
        last = responses[-1]
        self.assertEqual((last.received, last.accepted, last.invalid), (per + 1, per, 1))
        self.assertEqual([(x.index, x.event_id, x.code) for x in last.results],
                         [(per, f"{p}-{n_batches - 1}-bad", "missing_field")])
        ids = [e.event_id for b in batches for e in b.events if not e.event_id.endswith("bad")]
        by_id = it.wait_for_event_ids(ids, prefix=p)
        self.assertEqual(sorted(by_id), sorted(ids))
        self.assertTrue(all(len(v) == 1 for v in by_id.values()))

        # All batches at once, the client half-closing after the last: every one answered.
        q = it.unique("gs2")
        batches = [pb_batch([pb_event(f"{q}-{b}-{i}") for i in range(per)], batch_id=f"{q}-b{b}")
                   for b in range(6)]
        responses = list(self.client.stream(iter(batches), metadata=md(self.token),
                                            timeout=120))
        self.assertEqual(sorted(r.batch_id for r in responses),
                         sorted(b.batch_id for b in batches))
        self.assertTrue(all(r.accepted == per for r in responses), responses)
        ids = [e.event_id for b in batches for e in b.events]
        self.assertEqual(sorted(it.wait_for_event_ids(ids, prefix=q)), sorted(ids))


class GrpcStallTest(GrpcBase):
    # The health check must not notice the stalled broker (it would refuse with UNAVAILABLE
    # before produce); the delivery timeout is long so the events are delivered after SIGCONT.
    SETS = ("kafka.health_interval=60s", "kafka.delivery_timeout=60s")

    def test_deadline_while_broker_stalled(self):
        p = it.unique("gst")
        ids = [f"{p}-{i}" for i in range(4)]
        batch = pb_batch([pb_event(i) for i in ids])
        pid = self.stop_broker(p)
        try:
            t0 = time.monotonic()
            self.assert_rpc_error(self.call, grpc.StatusCode.DEADLINE_EXCEEDED, batch,
                                  timeout=2.0)
            took = time.monotonic() - t0
            self.assertLess(took, 5.0)
            # sluice's own answer at the deadline (python3-h2 shows the trailers it sent).
            q = it.unique("gst2")
            raw_ids = [f"{q}-{i}" for i in range(2)]
            st = self.raw_call(PUBLISH, h2_it.grpc_frame(
                pb_batch([pb_event(i) for i in raw_ids]).SerializeToString()),
                headers=[("grpc-timeout", "1500m")], timeout=20)
            self.assertEqual(st.grpc_status(), 4, st)
            time.sleep(1.0)
        finally:
            os.kill(pid, signal.SIGCONT)
        # What became of the events handed to the producer before the deadline.
        by_id = it.wait_for_event_ids(ids + raw_ids, timeout=30)
        landed = sorted((set(ids) | set(raw_ids)) & set(by_id))
        print(f"broker stalled, call ended DEADLINE_EXCEEDED after {took:.2f}s; after SIGCONT "
              f"{len(landed)} of {len(ids) + len(raw_ids)} of those events are in Kafka "
              f"(handed to the producer before the deadline: at least once)", flush=True)
        # A client retries after DEADLINE_EXCEEDED with the same event_ids: the ones that
        # landed are answered duplicate, the others accepted; none is lost, none doubled.
        resp, _ = self.call(batch)
        print(f"retry of the batch: accepted={resp.accepted} duplicate={resp.duplicate}",
              flush=True)
        self.assertEqual(resp.accepted + resp.duplicate, len(ids), resp)
        self.assert_once_in_kafka(ids, p)


class GrpcLateDeliveryTest(GrpcBase):
    # The health check must not notice the stalled broker (it would refuse before produce).
    SETS = ("kafka.health_interval=60s", "kafka.delivery_timeout=2s")

    def test_answered_at_the_delivery_timeout_then_duplicate(self):
        p = it.unique("glate")
        ids = [f"{p}-{i}" for i in range(3)]
        batch = pb_batch([pb_event(i) for i in ids])
        pid = self.stop_broker(p)
        try:
            t0 = time.monotonic()
            err = self.assert_rpc_error(self.call, grpc.StatusCode.UNAVAILABLE, batch)
            took = time.monotonic() - t0
            self.assertIn("delivery_pending", err.details())
            self.assertGreater(took, 1.5, "answered before kafka.delivery_timeout")
            self.assertLess(took, 6.0, "not answered at kafka.delivery_timeout")
            # Still in flight: a retry now is not produced.
            err = self.assert_rpc_error(self.call, grpc.StatusCode.UNAVAILABLE, batch)
            self.assertIn("in_flight", err.details())
        finally:
            os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + 60
        while True:
            try:
                resp, _ = self.call(batch)
                break
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE, e.details())
                self.assertLess(time.monotonic(), deadline, e.details())
                time.sleep(0.2)
        self.assertEqual((resp.accepted, resp.duplicate), (0, len(ids)), resp)
        self.assert_once_in_kafka(ids, p)


class GrpcHealthTest(GrpcBase):
    SETS = ("kafka.health_interval=200ms",)

    def test_health_follows_readiness(self):
        self.assertEqual(health_status(self.client.health(b"", timeout=30)), 1)
        kafka_dir = it.env("KAFKA_DIR")
        try:
            it.kafka_sh("pause", kafka_dir)
            self.sluice.wait_ready(timeout=30, want=503)
            deadline = time.monotonic() + 10
            while True:
                s = health_status(self.client.health(b"", timeout=30))
                if s == 2 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            self.assertEqual(s, 2)  # NOT_SERVING
            # A Publish meanwhile: UNAVAILABLE, nothing taken.
            self.assert_rpc_error(self.call, grpc.StatusCode.UNAVAILABLE,
                                  pb_batch([pb_event(it.unique("gh"))]))
        finally:
            if not it.kafka_running():
                it.kafka_sh("resume", kafka_dir)
        self.sluice.wait_ready(timeout=90)
        self.assertEqual(health_status(self.client.health(b"", timeout=30)), 1)
        resp, _ = self.call(pb_batch([pb_event(it.unique("gh"))]))
        self.assertEqual(resp.accepted, 1)


if __name__ == "__main__":
    it.main()
