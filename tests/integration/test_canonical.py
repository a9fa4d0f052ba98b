"""One canonical Kafka value per event, whichever form the client sent it in.

POST /v1/events takes a JSON batch (application/json) or a serialized sluice.v1.EventBatch
(application/x-protobuf). What is produced is the canonical encoding of the event, JSON or
protobuf per stage (encoding.<stage>), so the same event sent either way lands as the same
bytes. The protobuf classes are generated from proto/ at test time (protoc --python_out,
python3-protobuf) and serve as the independent reference:

  - protobuf values equal python protobuf's SerializeToString(deterministic=True) of the
    expected sluice.v1.Event (properties = the contract message, serialized the same way);
  - JSON values equal the canonical JSON written here from the same message by the documented
    rules (declared snake_case names, field-number order, proto3 defaults left out, 64-bit
    integers as strings, doubles in the shortest %g form that reads back, occurred_at as UTC
    "YYYY-MM-DDTHH:MM:SS.mmmZ", properties as an object), and read back with
    google.protobuf.json_format they give that message again.

How "the same event, sent twice" is compared: event_id is part of the value, so both posts use
the SAME event ids. The JSON batch is posted first and answered 200 (every event acknowledged by
Kafka) before the protobuf batch is posted, to the same sluice. Both classes turn dedupe off
(dedupe.window=0: it would answer the second post `duplicate` and produce nothing), so each id is
in its stage's topic exactly twice; every event is keyed (user_id or anonymous_id),
so both copies are in one partition and the lower offset is the JSON one (its received_at header
is not later). Nothing else in sluice differs between the two copies' values, so the assertion
is simply value(JSON copy) == value(protobuf copy) == the reference bytes.

CanonicalJsonTest runs with the default encoding (json) on the default topics;
CanonicalProtobufTest sets encoding.<stage>=protobuf for all five stages and produces to topics
of its own, created in prepare(), so that other tests reading the shared stage topics as UTF-8
text never meet a binary value."""

import json
import random
import tempfile

import sluice_it as it

pb = None            # {module name: generated module}, set by setUpModule
CLASSES = None       # {full message name: generated class}
_pb_dir = None

STAGES = ["raw", "identity", "consent", "decisions", "outcomes"]
TP1 = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TP2 = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
REQUEST_ID = "5f0c6e1a-3b2d-4c8e-9a7f-1e2d3c4b5a69"
HEADERS = ["event_id", "type", "received_at", "contract", "content_type", "tenant",
           "policy_version"]


def setUpModule():
    global pb, CLASSES, _pb_dir
    _pb_dir = tempfile.TemporaryDirectory(prefix="sluice-it-pb-")
    pb = it.compile_protos(_pb_dir.name)
    CLASSES = it.message_classes(pb)


def tearDownModule():
    if _pb_dir is not None:
        _pb_dir.cleanup()


def m(name):
    """The generated module of proto/sluice/<name>.proto, e.g. m('events/v1/raw')."""
    return pb["sluice." + name.replace("/", ".") + "_pb2"]


# ------------------------------------------------------------- the reference ----

def shortest_g(v):
    """A double in the shortest %g form that reads back to the same value."""
    for prec in range(1, 18):
        s = "%.*g" % (prec, v)
        if float(s) == v:
            return s
    raise AssertionError(v)


def json_string(s):
    # The strings used here hold no control characters: only '"' and '\\' are escaped.
    assert all(ord(c) >= 0x20 for c in s), s
    return json.dumps(s, ensure_ascii=False)


def canonical_json(msg, properties=None):
    """The canonical JSON of a message, written from its descriptor. For a sluice.v1.Event,
    properties is the contract message, written as an object in place of the bytes."""
    from google.protobuf.descriptor import FieldDescriptor as F
    ints64 = {F.TYPE_INT64, F.TYPE_UINT64, F.TYPE_SINT64, F.TYPE_FIXED64, F.TYPE_SFIXED64}

    def scalar(f, v):
        if f.type == F.TYPE_MESSAGE:
            return canonical_json(v)
        if f.type == F.TYPE_STRING:
            return json_string(v)
        if f.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            return shortest_g(v)
        if f.type == F.TYPE_BOOL:
            return "true" if v else "false"
        if f.type == F.TYPE_ENUM:
            return json_string(f.enum_type.values_by_number[v].name)
        if f.type in ints64:
            return '"%d"' % v
        if f.type == F.TYPE_BYTES:
            raise AssertionError("no bytes fields expected here")
        return "%d" % v

    parts = []
    for f, v in msg.ListFields():  # present fields, in field-number order
        if properties is not None and f.name == "properties":
            parts.append('"properties":' + canonical_json(properties))
        elif f.label == F.LABEL_REPEATED:
            parts.append(json_string(f.name) + ":[" + ",".join(scalar(f, x) for x in v) + "]")
        else:
            parts.append(json_string(f.name) + ":" + scalar(f, v))
    return "{" + ",".join(parts) + "}"


# -------------------------------------------------------------- the scenario ----

def scenario(p):
    """One event per stage (two raw ones), each as a JSON member (lowerCamel and snake_case
    names mixed, numbers in forms that are not canonical, occurred_at as epoch ms or with an
    offset) and as a protobuf sluice.v1.Event that means the same. Returns dicts with id, stage,
    json, pb (the Event to send), expected (the canonical Event), props (the contract message),
    contract (its full name), key, traceparent."""
    env, raw = m("v1/envelope"), m("events/v1/raw")
    ident, consent, dec, out = (m("events/v1/identity"), m("events/v1/consent"),
                                m("events/v1/decisions"), m("events/v1/outcomes"))
    cases = []

    def case(stage, json_ev, pb_kw, occurred, props, key, traceparent=None, props_bytes=None):
        ev = env.Event(**pb_kw)
        ev.properties = props_bytes if props_bytes is not None else props.SerializeToString()
        want = env.Event()
        want.CopyFrom(ev)
        want.occurred_at = occurred
        want.properties = props.SerializeToString(deterministic=True)
        cases.append({"id": json_ev["event_id"], "stage": stage, "json": json_ev, "pb": ev,
                      "expected": want, "props": props, "contract": props.DESCRIPTOR.full_name,
                      "key": key, "traceparent": traceparent})

    # raw: a purchase with line items and a full context.
    title = 'Kasse \u2013 "Best\u00e4tigung" \\ 2/2'
    purchase = raw.Purchase(order_id="o-1001", revenue=27.0, currency="EUR", coupon="WINTER10",
                            items=[raw.LineItem(product_id="p-1", sku="SKU-1", quantity=2,
                                                price=12.5),
                                   raw.LineItem(product_id="p-2", quantity=1, price=2.0)])
    # The protobuf copy's properties are written field by field in reverse field-number order
    # (valid protobuf, the same message): the canonical value is in field-number order.
    reverse = b"".join([
        raw.Purchase(coupon="WINTER10").SerializeToString(),
        raw.Purchase(currency="EUR").SerializeToString(),
        raw.Purchase(revenue=27.0).SerializeToString(),
        raw.Purchase(items=purchase.items).SerializeToString(),
        raw.Purchase(order_id="o-1001").SerializeToString()])
    assert raw.Purchase.FromString(reverse) == purchase
    case("raw",
         {"event_id": f"{p}-purchase", "type": "purchase", "occurred_at": 1767323045678,
          "user_id": "user-42", "sessionId": "sess-9",
          "context": {"traceparent": TP1, "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
                      "ip": "203.0.113.7", "locale": "de-DE",
                      "geo": {"lon": 13.405, "lat": 52.520, "accuracyM": 25.0},
                      "page": {"url": "https://shop.example.com/checkout",
                               "referrer": "https://shop.example.com/cart", "title": title},
                      "campaign": {"source": "newsletter", "medium": "email",
                                   "name": "winter", "term": ""}},
          "consent": {"purposes": ["analytics", "personalization"]},
          "properties": {"currency": "EUR", "revenue": 2.7e1, "orderId": "o-1001",
                         "coupon": "WINTER10",
                         "items": [{"price": 12.50, "quantity": 2.0, "productId": "p-1",
                                    "sku": "SKU-1"},
                                   {"product_id": "p-2", "quantity": 1, "price": 2.0,
                                    "sku": None}]}},
         dict(event_id=f"{p}-purchase", type="purchase",
              occurred_at="2026-01-02T04:04:05.678+01:00", user_id="user-42",
              session_id="sess-9",
              context=env.Context(ip="203.0.113.7", user_agent="Mozilla/5.0 (X11; Linux x86_64)",
                                  locale="de-DE",
                                  geo=env.Geo(lat=52.52, lon=13.405, accuracy_m=25.0),
                                  page=env.Page(url="https://shop.example.com/checkout",
                                                referrer="https://shop.example.com/cart",
                                                title=title),
                                  campaign=env.Campaign(source="newsletter", medium="email",
                                                        name="winter"),
                                  traceparent=TP1),
              consent=env.Consent(purposes=["analytics", "personalization"])),
         "2026-01-02T03:04:05.678Z", purchase, "user-42", TP1, props_bytes=reverse)

    # raw: a search, with an int64 (a JSON string in, a JSON string out) and a screen/app context.
    case("raw",
         {"event_id": f"{p}-search", "type": "search",
          "occurred_at": "2026-01-02T04:04:05+01:00", "anonymous_id": "anon-7",
          "user_id": None,
          "context": {"screen": {"name": "Suche"},
                      "app": {"name": "shop", "version": "3.2.1", "build": "321"}},
          "properties": {"query": "rote Schuhe", "resultCount": "12",
                         "filters": [{"field": "color", "value": "red"}]}},
         dict(event_id=f"{p}-search", type="search", occurred_at="2026-01-02T03:04:05Z",
              anonymous_id="anon-7",
              context=env.Context(screen=env.Screen(name="Suche"),
                                  app=env.App(name="shop", version="3.2.1", build="321"))),
         "2026-01-02T03:04:05.000Z",
         raw.Search(query="rote Schuhe", result_count=12,
                    filters=[raw.SearchFilter(field="color", value="red")]),
         "anon-7")

    # identity: identify, with traits (an explicit "" is a default, left out).
    case("identity",
         {"event_id": f"{p}-identify", "type": "identify",
          "occurred_at": "2026-01-02T02:04:05.250-01:00", "user_id": "user-42",
          "deviceId": "dev-1", "account_id": "acct-1",
          "context": {"locale": "de-DE", "ip": "203.0.113.7"},
          "properties": {"userId": "user-42", "email": "jane@example.com",
                         "phone": "+4915112345678",
                         "traits": [{"key": "plan", "value": "gold"},
                                    {"key": "nickname", "value": ""}]}},
         dict(event_id=f"{p}-identify", type="identify",
              occurred_at="2026-01-02T03:04:05.250Z", user_id="user-42", device_id="dev-1",
              account_id="acct-1", context=env.Context(locale="de-DE", ip="203.0.113.7")),
         "2026-01-02T03:04:05.250Z",
         ident.Identify(user_id="user-42", email="jane@example.com", phone="+4915112345678",
                        traits=[ident.Trait(key="plan", value="gold"),
                                ident.Trait(key="nickname")]),
         "user-42")

    # consent: consent_update, with the envelope's consent purposes.
    case("consent",
         {"event_id": f"{p}-consent", "type": "consent_update", "occurred_at": 1767323045000,
          "user_id": "user-42", "consent": {"purposes": ["analytics"]},
          "context": {"page": {"url": "https://shop.example.com/"}, "traceparent": TP2},
          "properties": {"granted": ["analytics", "personalization"], "denied": ["advertising"],
                         "source": "banner", "policyVersion": "2026-01",
                         "collected_at": "2026-01-02T03:00:00Z"}},
         dict(event_id=f"{p}-consent", type="consent_update",
              occurred_at="2026-01-02T03:04:05.000+00:00", user_id="user-42",
              consent=env.Consent(purposes=["analytics"]),
              context=env.Context(page=env.Page(url="https://shop.example.com/"),
                                  traceparent=TP2)),
         "2026-01-02T03:04:05.000Z",
         consent.ConsentUpdate(granted=["analytics", "personalization"], denied=["advertising"],
                               source="banner", policy_version="2026-01",
                               collected_at="2026-01-02T03:00:00Z"),
         "user-42", TP2)

    # decisions: recommendation_impression (position 0 is a default, left out).
    case("decisions",
         {"event_id": f"{p}-impression", "type": "recommendation_impression",
          "occurred_at": "2026-01-02T03:04:05.5Z", "anonymous_id": "anon-7",
          "context": {"geo": {"lat": -33.8688, "lon": 151.2093}},
          "properties": {"requestId": REQUEST_ID, "model_version": "m-2026.01",
                         "surface": "home_carousel",
                         "items": [{"itemId": "i-1", "position": 0, "score": 9.3e-1},
                                   {"item_id": "i-2", "position": 1, "score": 2.0},
                                   {"itemId": "i-3", "position": 2.0, "score": -1.5e-7}]}},
         dict(event_id=f"{p}-impression", type="recommendation_impression",
              occurred_at="2026-01-02T03:04:05.500Z", anonymous_id="anon-7",
              context=env.Context(geo=env.Geo(lat=-33.8688, lon=151.2093))),
         "2026-01-02T03:04:05.500Z",
         dec.RecommendationImpression(
             request_id=REQUEST_ID, model_version="m-2026.01", surface="home_carousel",
             items=[dec.RecommendedItem(item_id="i-1", position=0, score=0.93),
                    dec.RecommendedItem(item_id="i-2", position=1, score=2.0),
                    dec.RecommendedItem(item_id="i-3", position=2, score=-1.5e-7)]),
         "anon-7")

    # outcomes: recommendation_outcome.
    case("outcomes",
         {"event_id": f"{p}-outcome", "type": "recommendation_outcome",
          "occurred_at": "2026-01-02T03:04:06.001+00:00", "user_id": "user-42",
          "properties": {"request_id": REQUEST_ID, "itemId": "i-2", "action": "click",
                         "position": 1, "value": 12.50}},
         dict(event_id=f"{p}-outcome", type="recommendation_outcome",
              occurred_at="2026-01-02T03:04:06.001Z", user_id="user-42"),
         "2026-01-02T03:04:06.001Z",
         out.RecommendationOutcome(request_id=REQUEST_ID, item_id="i-2", action="click",
                                   position=1, value=12.5),
         "user-42")
    return cases


# ------------------------------------------------------------------- the tests ----

class _SameBytes:
    """The checks both encodings share. ENCODING is the value encoding of every stage, TOPICS
    the stage -> topic map of the class's sluice."""

    ENCODING = None
    TOPICS = {s: "sluice." + s for s in STAGES}

    def post_both(self, p):
        """Posts the scenario as JSON, then (after its 200) as protobuf; returns the cases and
        {stage: {event_id: [messages in offset order]}}."""
        cases = scenario(p)
        jbody = {"batch_id": f"{p}-json", "sent_at": "2026-01-02T03:04:07Z",
                 "events": [c["json"] for c in cases]}
        env = m("v1/envelope")
        pbody = env.EventBatch(batch_id=f"{p}-pb", sent_at="2026-01-02T03:04:07Z",
                               events=[c["pb"] for c in cases]).SerializeToString()
        for what, body, ctype in (("JSON", jbody, "application/json"),
                                  ("protobuf", pbody, "application/x-protobuf")):
            r = self.post(body, content_type=ctype)
            self.assertEqual(r.status, 200, f"{what}: {r!r}")
            self.assertEqual((r.json["received"], r.json["accepted"], r.json["results"]),
                             (len(cases), len(cases), []), f"{what}: {r!r}")
        landed = {stage: it.messages_by_event_id_raw(self.TOPICS[stage], prefix=p)
                  for stage in STAGES}
        return cases, landed

    def test_json_and_protobuf_land_as_the_same_bytes(self):
        p = it.unique("canon-" + self.ENCODING)
        cases, landed = self.post_both(p)
        for stage in STAGES:
            want = sorted(c["id"] for c in cases if c["stage"] == stage)
            self.assertEqual(sorted(landed[stage]), want, f"event ids in {self.TOPICS[stage]}")
        for c in cases:
            with self.subTest(event=c["id"]):
                msgs = landed[c["stage"]][c["id"]]
                self.assertEqual(len(msgs), 2, "once from the JSON post, once from protobuf")
                first, second = msgs
                self.assertEqual(first["partition"], second["partition"], "same key")
                self.assertLess(first["offset"], second["offset"])
                self.assertLessEqual(first["headers"]["received_at"],
                                     second["headers"]["received_at"])
                for msg in msgs:
                    want_key = None if c["key"] is None else f"t1:{c['key']}".encode()
                    self.assertEqual(msg["key"], want_key, "message key")
                self.assertEqual(first["value"], second["value"],
                                 "JSON-sent and protobuf-sent values are byte-identical")
                self.check_value(c, first)
                for msg in msgs:
                    self.check_headers(c, msg)

    def check_headers(self, c, msg):
        h = msg["headers"]
        names = HEADERS + ["occurred_at", "sent_at"] + (["traceparent"] if c["traceparent"]
                                                        else [])
        self.assertEqual(msg["headers_list"][0::2], names, "headers, in this order")
        self.assertEqual(h["occurred_at"], c["expected"].occurred_at, "normalized, as the value")
        self.assertEqual(h["event_id"], c["id"])
        self.assertEqual(h["type"], c["json"]["type"])
        self.assertEqual(h["contract"], c["contract"])
        self.assertEqual(h["tenant"], "t1")
        self.assertEqual(h["content_type"], "application/x-protobuf"
                         if self.ENCODING == "protobuf" else "application/json")
        if c["traceparent"]:
            self.assertEqual(h["traceparent"], c["traceparent"])
        # The contract header names the message whose (contract) option has this type/stage.
        opts = m("options/v1/options")
        contract = CLASSES[h["contract"]].DESCRIPTOR.GetOptions().Extensions[opts.contract]
        self.assertEqual(contract.type, h["type"])
        self.assertEqual(opts.Stage.Name(contract.stage), "STAGE_" + c["stage"].upper())


class CanonicalJsonTest(_SameBytes, it.SluiceTestCase):
    """encoding.<stage>=json (the default), and the failures of protobuf batches."""

    ENCODING = "json"
    SETS = ("dedupe.window=0",)

    def check_value(self, c, msg):
        from google.protobuf import json_format
        value = msg["value"]
        self.assertEqual(value.decode("utf-8"), canonical_json(c["expected"], c["props"]),
                         "the canonical JSON of the expected message")
        # Read back as proto3 JSON, it is the expected message again.
        doc = json.loads(value)
        props = doc.pop("properties")
        ev = json_format.ParseDict(doc, m("v1/envelope").Event())
        pr = json_format.ParseDict(props, CLASSES[msg["headers"]["contract"]]())
        self.assertEqual(json_format.MessageToDict(ev, preserving_proto_field_name=True), doc)
        self.assertEqual(json_format.MessageToDict(pr, preserving_proto_field_name=True), props)
        self.assertEqual(pr, c["props"])
        ev.properties = pr.SerializeToString(deterministic=True)
        self.assertEqual(ev, c["expected"])

    def test_protobuf_failures_are_per_event(self):
        p = it.unique("canon-fail")
        env, raw = m("v1/envelope"), m("events/v1/raw")
        events = [
            env.Event(event_id=f"{p}-ok", type="page_view", occurred_at="2026-01-02T03:04:05Z",
                      user_id="u-1",
                      properties=raw.PageView(url="https://shop.example.com/").SerializeToString()),
            env.Event(event_id=f"{p}-nocur", type="purchase",
                      occurred_at="2026-01-02T03:04:05Z", user_id="u-1",
                      properties=raw.Purchase(order_id="o-1", revenue=5.0).SerializeToString()),
            env.Event(event_id=f"{p}-unk", type="no_such_type",
                      occurred_at="2026-01-02T03:04:05Z", user_id="u-1",
                      properties=raw.PageView(url="https://shop.example.com/").SerializeToString()),
        ]
        r = self.post(env.EventBatch(batch_id=f"{p}-b", events=events).SerializeToString(),
                      content_type="application/x-protobuf")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("content-type"), "application/json")
        self.assertEqual(r.json["batch_id"], f"{p}-b")
        self.assertEqual((r.json["received"], r.json["accepted"], r.json["invalid"],
                          r.json["retryable"]), (3, 1, 2, 0), r)
        res = {x["index"]: x for x in r.json["results"]}
        self.assertEqual(sorted(res), [1, 2], r.json["results"])
        self.assertEqual((res[1]["event_id"], res[1]["status"], res[1]["code"]),
                         (f"{p}-nocur", "invalid", "missing_field"))
        self.assertTrue(res[1]["message"].startswith("properties."), res[1])
        self.assertIn("currency", res[1]["message"])
        self.assertEqual((res[2]["event_id"], res[2]["status"], res[2]["code"]),
                         (f"{p}-unk", "invalid", "unknown_type"))
        landed = {}
        for topic in it.STAGE_TOPICS:
            for eid, msgs in it.messages_by_event_id_raw(topic, prefix=p).items():
                landed.setdefault(eid, []).extend(msgs)
        self.assertEqual(sorted(landed), [f"{p}-ok"], "only the valid event is in a stage topic")
        dead = it.messages_by_event_id_raw(it.DEAD_LETTER_TOPIC, prefix=p)
        self.assertEqual({eid: [m["headers"]["dead_letter_code"] for m in msgs]
                          for eid, msgs in dead.items()},
                         {f"{p}-nocur": ["missing_field"], f"{p}-unk": ["unknown_type"]},
                         "the invalid ones are in the dead-letter topic, with their reason")
        self.assertEqual(len(landed[f"{p}-ok"]), 1)
        self.assertEqual(landed[f"{p}-ok"][0]["topic"], "sluice.raw")

    def test_not_protobuf_is_400(self):
        bodies = {
            "random bytes": random.Random(20261127).randbytes(256),
            "text": b"this is not a protobuf message",
            "JSON": json.dumps(it.batch([it.event("x")])).encode(),
            "truncated": b"\x1a\x10abc",
        }
        for what, body in bodies.items():
            with self.subTest(body=what):
                r = self.post(body, content_type="application/x-protobuf")
                self.assertEqual(r.status, 400, r)
                self.assertIn(r.error_code(), ("malformed_protobuf", "unknown_batch_field"), r)

    def test_other_media_type_is_415(self):
        r = self.post(b"event_id,type\nx,page_view\n", content_type="text/csv")
        self.assertEqual(r.status, 415, r)
        self.assertEqual(r.error_code(), "unsupported_media_type", r)


class CanonicalProtobufTest(_SameBytes, it.SluiceTestCase):
    """encoding.<stage>=protobuf for all five stages, on topics of its own."""

    ENCODING = "protobuf"

    @classmethod
    def prepare(cls):
        run = it.unique("canon")
        cls.TOPICS = {s: f"{run}.{s}" for s in STAGES}
        for topic in cls.TOPICS.values():
            it.create_topic(topic)

    @classmethod
    def sluice_args(cls):
        sets = [f"encoding.{s}=protobuf" for s in STAGES] + ["dedupe.window=0"]
        sets += [f"topics.{s}={t}" for s, t in cls.TOPICS.items()]
        return sets, None

    def check_value(self, c, msg):
        value = msg["value"]
        want = c["expected"].SerializeToString(deterministic=True)
        self.assertEqual(value, want, "python protobuf's deterministic serialization")
        ev = m("v1/envelope").Event.FromString(value)
        self.assertEqual(ev.SerializeToString(deterministic=True), value)
        self.assertEqual(ev, c["expected"])
        pr = CLASSES[msg["headers"]["contract"]].FromString(ev.properties)
        self.assertEqual(pr.SerializeToString(deterministic=True), ev.properties)
        self.assertEqual(pr, c["props"])


if __name__ == "__main__":
    it.main()
