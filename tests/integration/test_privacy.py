"""The privacy policy (policies/policy.yaml, docs/policies.md) against a real broker: no raw
personal data reaches any topic, consent gates drop what is not granted, pseudonyms are stable
across requests and restarts and change with the key, the message key is the pseudonym, every
message names the policy that shaped it, and a policy reload is refused when invalid and applied
without a failed request when valid.

Every personal value posted here is made up per run (random user ids, e-mail, phone digits, IP
hosts, coordinates, a Luhn-valid card number), so the topics can be searched in full — keys,
values and every header of every message, whichever test produced it — for the raw strings."""

import base64
import decimal
import hashlib
import hmac
import ipaddress
import json
import os
import random
import re
import shutil
import subprocess
import threading
import time
import unittest
import uuid

import sluice_it as it

POLICIES = os.path.join(it.SOURCE_DIR, "policies")
TENANT = "acme"
KEY7 = b"privacy-it-k7-0123456789abcdefghijklmnop"  # 40 bytes, no trailing newline
KEY8 = b"privacy-it-k8-ZYXWVUTSRQPONMLKJIHGFEDCBA"  # 40 bytes
assert len(KEY7) == 40 and len(KEY8) == 40
TOPICS = ["sluice.raw", "sluice.identity", "sluice.consent", "sluice.decisions",
          "sluice.outcomes", "sluice.dead-letter"]
VERSION_RE = re.compile(r"^2026-11-27\.1\+sha256:[0-9a-f]{12}$")
ANA = {"purposes": ["analytics"]}
ANA_PERS = {"purposes": ["analytics", "personalization"]}
PERS = {"purposes": ["personalization"]}


# ------------------------------------------------------------------------ helpers ----

def pseudonym(value, key=KEY7, kid="k7"):
    """What hmac does (policy/actions.h): key id, ':', base64url of the first 16 bytes of
    HMAC-SHA256(key, value), no padding."""
    mac = hmac.new(key, value.encode(), hashlib.sha256).digest()[:16]
    return kid + ":" + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def file_version(path, declared):
    with open(path, "rb") as f:
        return declared + "+sha256:" + hashlib.sha256(f.read()).hexdigest()[:12]


def banner_version(sluice):
    for line in sluice.stdout_lines:
        m = re.match(r"\s*policy\s+(\S+)", line)
        if m:
            return m.group(1)
    raise AssertionError(f"no policy line in the banner: {sluice.stdout_lines}")


def mask(value, keep):
    return "*" * (len(value) - keep) + value[-keep:]


def coarsen(text, decimals):
    """The decimal text rounded half away from zero, as the double JSON reads back."""
    q = decimal.Decimal(1).scaleb(-decimals)
    return float(decimal.Decimal(text).quantize(q, rounding=decimal.ROUND_HALF_UP))


def coordinate(whole):
    """A coordinate with exactly 6 decimals, as text (the last one never 0)."""
    return f"{whole}.{random.randint(0, 99999):05d}{random.randint(1, 9)}"


def luhn_card():
    """A random 16-digit card number starting with 4 that passes the Luhn check."""
    digits = [4] + [random.randint(0, 9) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):  # the check digit goes right of these
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def digits(text):
    return re.sub(r"\D", "", text)


def write_atomically(path, data):
    with open(path + ".tmp", "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def topic_dump(topic):
    """Every key, value and header of every message of topic as kcat prints them (bytes)."""
    p = subprocess.run(["kcat", "-C", "-b", it.bootstrap(), "-t", topic, "-o", "beginning", "-e",
                        "-q", "-f", "key=%k\nvalue=%s\nheaders=%h\n"],
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"kcat {topic} failed ({p.returncode}): "
                           f"{p.stderr.decode(errors='replace')}")
    return p.stdout


def wait_for(ids, topic, prefix, timeout=30):
    """{event_id: [messages]} (read_topic_raw dicts, JSON value decoded as 'json') once every id
    is in the topic, or what is there at the timeout."""
    ids = set(ids)
    deadline = time.monotonic() + timeout
    while True:
        by_id = it.messages_by_event_id_raw(topic, prefix)
        if ids <= set(by_id) or time.monotonic() > deadline:
            for msgs in by_id.values():
                for m in msgs:
                    m["json"] = json.loads(m["value"]) if m["value"] else None
            return by_id
        time.sleep(0.3)


class PolicyCase(it.SluiceTestCase):
    """A sluice with the repo's policies/ (or cls.policies_dir), key k7 from a 40-byte file, and a
    token of tenant acme."""

    @classmethod
    def prepare(cls):
        cls.key7_file = os.path.join(cls.tmp.name, "k7.key")
        cls.key8_file = os.path.join(cls.tmp.name, "k8.key")
        write_atomically(cls.key7_file, KEY7)
        write_atomically(cls.key8_file, KEY8)
        cls.policies_dir = POLICIES

    @classmethod
    def policy_sets(cls, key_file=None, kid="k7"):
        return (f"policies.dir={cls.policies_dir}",
                f"policies.hmac_key_file={key_file or cls.key7_file}",
                f"policies.hmac_key_id={kid}")

    @classmethod
    def sluice_args(cls):
        return cls.policy_sets(), None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.token = it.mint_token(TENANT)
        except BaseException:
            cls.tearDownClass()
            raise

    def send(self, events, sluice=None):
        r = (sluice or self.sluice).post(it.batch(events), self.token)
        self.assertEqual(r.status, 200, r)
        return r

    def reload(self):
        r = it.admin_reload(self.sluice)
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["ok"], True, r)
        return r

    def other_sluice(self, sets):
        """Starts another sluice (stopped and checked by a cleanup)."""
        s = it.Sluice(sets)

        def stop():
            try:
                if s.proc is not None:
                    rc = s.stop()
                    it.check_sanitizer_output(self, s.stderr(), "second sluice")
                    self.assertEqual(rc, 0, s.stderr()[-4000:])
            finally:
                s.cleanup()

        self.addCleanup(stop)
        return s.start()


# -------------------------------------------------------------------------- tests ----

class EndToEndTest(PolicyCase):

    def test_no_raw_personal_data_reaches_any_topic(self):
        p = it.unique("priv")
        tag = uuid.uuid4().hex[:10]
        uid, anon, acct = f"usr-{uuid.uuid4().hex}", f"anon-{uuid.uuid4().hex}", \
            f"acct-{uuid.uuid4().hex}"
        email = f"jane.{tag}@example.com"
        phone = "+33 6 " + " ".join(f"{random.randint(10, 99)}" for _ in range(4))
        text_phone = f"+49 151 {random.randint(1000, 9999)} {random.randint(1000, 9999)}"
        card = luhn_card()
        card_spaced = " ".join(card[i:i + 4] for i in range(0, 16, 4))
        hosts = random.sample(range(100, 255), 3)
        ipv4 = f"203.0.113.{hosts[0]}"
        mapped_v4 = f"203.0.113.{hosts[1]}"
        mapped = f"::ffff:{mapped_v4}"
        groups = [f"{random.randint(0x1000, 0xffff):x}" for _ in range(6)]
        ipv6 = "2001:db8:" + ":".join(groups)
        ipv6_48 = str(ipaddress.IPv6Network((ipv6, 48), strict=False).network_address)
        lat, lon = coordinate(52), coordinate(13)       # screen_view context.geo
        lat2, lon2 = coordinate(48), coordinate(2)      # location_change properties
        lat3, lon3 = coordinate(40), coordinate(-3)     # recommendation_impression context.geo
        # What only the consent-dropped events carry: none of it may show up anywhere.
        d_uid, d_email = f"usr-{uuid.uuid4().hex}", f"drop.{tag}@example.org"
        d_phone = "+44 7700 " + f"{random.randint(100000, 999999)}"
        d_ip = f"203.0.113.{hosts[2]}"
        d_lat, d_lon = coordinate(51), coordinate(0)
        req = str(uuid.uuid4())
        # What only the invalid events carry (dead-letter topic): none of it either.
        x_uid, x_email = f"usr-{uuid.uuid4().hex}", f"bad.{tag}@example.net"
        x_phone = "+44 7700 " + f"{random.randint(100000, 999999)}"
        x_ip = f"198.51.100.{random.randint(10, 250)}"
        x_lat, x_lon = coordinate(45), coordinate(7)

        def ev(name, **kw):
            return it.event(f"{p}-{name}", **kw)

        items = [{"item_id": "i1", "position": 0, "score": 0.5}]
        events = [
            ev("identify", type="identify", user_id=uid, account_id=acct, consent=ANA,
               context={"ip": ipv4, "user_agent": "it-agent/1.0"},
               properties={"user_id": uid, "email": email, "phone": phone,
                           "traits": [{"key": "note",
                                       "value": f"reach me at {email} or {text_phone}"}]}),
            ev("screen-v4", type="screen_view", user_id=uid, consent=ANA_PERS,
               context={"ip": ipv4, "geo": {"lat": float(lat), "lon": float(lon),
                                            "accuracy_m": 12}},
               properties={"name": "Home"}),
            ev("screen-v6", type="screen_view", user_id=uid, consent=ANA,
               context={"ip": ipv6, "geo": {"lat": float(lat), "lon": float(lon)}},
               properties={"name": "Cart"}),
            ev("screen-mapped", type="screen_view", anonymous_id=anon, consent=ANA,
               context={"ip": mapped}, properties={"name": "Search"}),
            ev("search", type="search", user_id=uid, consent=ANA,
               properties={"query": f"shoes for {email} call {text_phone} card {card_spaced}",
                           "result_count": 3}),
            ev("location", type="location_change", user_id=uid, consent=ANA_PERS,
               properties={"lat": float(lat2), "lon": float(lon2), "accuracy_m": 30,
                           "country": "FR"}),
            ev("impression", type="recommendation_impression", user_id=uid, consent=ANA_PERS,
               context={"ip": ipv4, "geo": {"lat": float(lat3), "lon": float(lon3)}},
               properties={"request_id": req, "model_version": "m7", "items": items}),
            ev("outcome", type="recommendation_outcome", user_id=uid, consent=PERS,
               context={"ip": ipv6},
               properties={"request_id": req, "item_id": "i1", "action": "click"}),
            ev("consent", type="consent_update", user_id=uid,
               properties={"granted": ["analytics"], "denied": ["advertising"],
                           "source": "banner"}),
            # consent_dropped from here on.
            ev("pv-none", user_id=d_uid, context={"ip": d_ip}),
            ev("identify-none", type="identify", user_id=d_uid,
               properties={"user_id": d_uid, "email": d_email, "phone": d_phone}),
            ev("location-ana", type="location_change", user_id=d_uid, consent=ANA,
               context={"ip": d_ip}, properties={"lat": float(d_lat), "lon": float(d_lon)}),
            ev("impression-ana", type="recommendation_impression", user_id=d_uid, consent=ANA,
               context={"geo": {"lat": float(d_lat), "lon": float(d_lon)}},
               properties={"request_id": req, "model_version": "m7", "items": items}),
            ev("outcome-none", type="recommendation_outcome", user_id=d_uid,
               context={"ip": d_ip},
               properties={"request_id": req, "item_id": "i1", "action": "click"}),
            # invalid from here on: they go to the dead-letter topic, redacted all the same.
            ev("bad-unknown-member", type="identify", user_id=x_uid, consent=ANA,
               context={"ip": x_ip},
               properties={"user_id": x_uid, "email": x_email, "nickname": x_email}),
            ev("bad-wrong-kind", type="screen_view", user_id=x_uid, consent=ANA_PERS,
               context={"ip": x_ip, "geo": {"lat": str(x_lat), "lon": str(x_lon)}},
               properties={"name": "Home"}),
            ev("bad-url", type="page_view", anonymous_id=x_uid, consent=ANA,
               context={"ip": x_ip}, properties={"url": f"tel:{x_phone}"}),
            ev("bad-type", type="no_such_type", user_id=x_email, consent=ANA,
               context={"ip": x_ip}, properties={"email": x_email, "phone": x_phone}),
        ]
        accepted_n, dropped = 9, {9: "analytics", 10: "analytics", 11: "personalization",
                                  12: "personalization", 13: "personalization"}
        invalid = {14: "unknown_field", 15: "wrong_type", 16: "invalid_format",
                   17: "unknown_type"}
        r = self.send(events)
        self.assertEqual((r.json["received"], r.json["accepted"], r.json["consent_dropped"],
                          r.json["invalid"]), (18, accepted_n, 5, 4), r)
        self.assertEqual(sorted(x["index"] for x in r.json["results"]),
                         sorted(dropped) + sorted(invalid), r)
        for res in r.json["results"]:
            if res["index"] in invalid:
                self.assertEqual((res["status"], res["code"]), ("invalid", invalid[res["index"]]),
                                 res)
                continue
            with self.subTest(dropped=res["event_id"]):
                self.assertEqual((res["status"], res["code"]), ("consent_dropped",
                                                                 "consent_missing"), res)
                self.assertEqual(res["event_id"], events[res["index"]]["event_id"])
                self.assertIn(dropped[res["index"]], res["message"], res)

        # Where each accepted event lands.
        where = {"identify": "sluice.identity", "screen-v4": "sluice.raw",
                 "screen-v6": "sluice.raw", "screen-mapped": "sluice.raw",
                 "search": "sluice.raw", "location": "sluice.raw",
                 "impression": "sluice.decisions", "outcome": "sluice.outcomes",
                 "consent": "sluice.consent"}
        got = {}
        for topic in sorted(set(where.values())):
            want = {f"{p}-{n}" for n, t in where.items() if t == topic}
            by_id = wait_for(want, topic, p)
            self.assertEqual(sorted(by_id), sorted(want), f"{topic}: exactly the accepted events")
            for eid, msgs in by_id.items():
                self.assertEqual(len(msgs), 1, eid)
                got[eid[len(p) + 1:]] = msgs[0]

        # The invalid events are in the dead-letter topic, with their reason, redacted.
        want = {f"{p}-{events[i]['event_id'][len(p) + 1:]}": code for i, code in invalid.items()}
        dead = wait_for(set(want), it.DEAD_LETTER_TOPIC, p)
        self.assertEqual(sorted(dead), sorted(want), "every invalid event, once")
        for eid, msgs in dead.items():
            with self.subTest(dead_letter=eid):
                self.assertEqual(len(msgs), 1)
                self.assertEqual(msgs[0]["headers"]["dead_letter_code"], want[eid])
                self.assertEqual(msgs[0]["headers"]["tenant"], TENANT)
                self.assertEqual(msgs[0]["key"], TENANT.encode())
        ps_x = pseudonym(x_uid)
        self.assertEqual(dead[f"{p}-bad-unknown-member"][0]["json"]["user_id"], ps_x)
        self.assertEqual(dead[f"{p}-bad-unknown-member"][0]["json"]["properties"],
                         {"user_id": ps_x, "email": pseudonym(x_email)},
                         "declared members redacted, the undeclared one left out")
        self.assertEqual(dead[f"{p}-bad-url"][0]["json"]["properties"], {"url": "tel:[phone]"},
                         "a kept string is scrubbed")
        self.assertNotIn("properties", dead[f"{p}-bad-type"][0]["json"],
                         "properties of an unknown type say nothing of what they hold")

        version = banner_version(self.sluice)
        self.assertRegex(version, VERSION_RE)
        for name, m in got.items():
            with self.subTest(headers=name):
                self.assertEqual(m["headers_list"].count("policy_version"), 1, m["headers_list"])
                self.assertEqual(m["headers"]["policy_version"], version)
                self.assertEqual(m["headers"]["tenant"], TENANT)

        ps_uid = pseudonym(uid)
        v = got["identify"]["json"]
        self.assertEqual(v["user_id"], ps_uid)
        self.assertEqual(v["account_id"], pseudonym(acct))
        self.assertEqual(v["context"], {"ip": "203.0.113.0", "user_agent": "it-agent/1.0"})
        self.assertEqual(v["properties"], {
            "user_id": ps_uid, "email": pseudonym(email), "phone": mask(phone, 4),
            "traits": [{"key": "note", "value": "reach me at [email] or [phone]"}]})
        self.assertEqual(got["identify"]["key"], f"{TENANT}:{ps_uid}".encode())

        v = got["screen-v4"]["json"]
        self.assertEqual(v["context"], {"ip": "203.0.113.0",
                                        "geo": {"lat": coarsen(lat, 2), "lon": coarsen(lon, 2),
                                                "accuracy_m": 12}})
        self.assertEqual(v["user_id"], ps_uid)
        # Without personalization context.geo is removed, the rest goes on.
        v = got["screen-v6"]["json"]
        self.assertEqual(v["context"], {"ip": ipv6_48})
        self.assertEqual(v["properties"], {"name": "Cart"})
        v = got["screen-mapped"]["json"]
        self.assertEqual(v["context"], {"ip": "::ffff:203.0.113.0"})
        self.assertEqual(v["anonymous_id"], pseudonym(anon))
        self.assertEqual(got["screen-mapped"]["key"], f"{TENANT}:{pseudonym(anon)}".encode())
        v = got["search"]["json"]
        self.assertEqual(v["properties"]["query"], "shoes for [email] call [phone] card [card]")
        v = got["location"]["json"]
        self.assertEqual(v["properties"], {"lat": coarsen(lat2, 2), "lon": coarsen(lon2, 2),
                                           "accuracy_m": 30, "country": "FR"})
        # Decisions: 1 decimal (the staged rule), and the rest of the impression as sent.
        v = got["impression"]["json"]
        self.assertEqual(v["context"], {"ip": "203.0.113.0",
                                        "geo": {"lat": coarsen(lat3, 1), "lon": coarsen(lon3, 1)}})
        self.assertEqual(v["properties"]["items"], [{"item_id": "i1", "score": 0.5}])
        self.assertEqual(v["properties"]["request_id"], req)
        v = got["outcome"]["json"]
        self.assertEqual(v["context"], {"ip": ipv6_48})
        self.assertEqual(v["user_id"], ps_uid)
        v = got["consent"]["json"]
        self.assertEqual(v["user_id"], ps_uid)
        self.assertEqual(v["properties"], {"granted": ["analytics"], "denied": ["advertising"],
                                           "source": "banner"})
        self.assertEqual(got["consent"]["key"], f"{TENANT}:{ps_uid}".encode())
        for name in ("screen-v4", "screen-v6", "search", "location", "impression", "outcome"):
            self.assertEqual(got[name]["key"], f"{TENANT}:{ps_uid}".encode(), name)

        # Every topic in full: no raw personal value in any key, value or header.
        raw = {
            "user id": uid, "anonymous id": anon, "account id": acct, "e-mail": email,
            "phone": phone, "phone digits": digits(phone), "phone E.164": "+" + digits(phone),
            "free-text phone": text_phone, "free-text phone digits": digits(text_phone),
            "card": card, "card with spaces": card_spaced, "IPv4": ipv4, "IPv6": ipv6,
            "IPv4-mapped": mapped, "IPv4 inside the mapped address": mapped_v4,
            "dropped user id": d_uid, "dropped e-mail": d_email, "dropped phone": d_phone,
            "dropped phone digits": digits(d_phone), "dropped IP": d_ip,
            "invalid user id": x_uid, "invalid e-mail": x_email, "invalid phone": x_phone,
            "invalid phone digits": digits(x_phone), "invalid IP": x_ip,
        }
        for i, c in enumerate((lat, lon, lat2, lon2, lat3, lon3, d_lat, d_lon, x_lat, x_lon)):
            raw[f"coordinate {i}"] = c
        topics = TOPICS + [t for t in it.ALL_TOPICS if t not in TOPICS]
        for topic in topics:
            try:
                dump = topic_dump(topic)
            except RuntimeError:
                if topic in TOPICS:
                    raise
                continue  # a topic of another feature that this broker does not have
            if topic in where.values():  # the dump does show this run's keys and values
                self.assertIn(ps_uid.encode(), dump, topic)
                self.assertIn(f"policy_version={version}".encode(), dump, topic)
            for what, value in raw.items():
                with self.subTest(topic=topic, raw=what):
                    self.assertNotIn(value.encode(), dump, f"raw {what} {value!r} in {topic}")
        bad = {events[i]["event_id"][len(p) + 1:] for i in invalid}
        for topic in topics[:len(TOPICS)]:
            by_id = it.messages_by_event_id_raw(topic, p)
            for eid in by_id:
                self.assertIn(eid[len(p) + 1:], bad if topic == it.DEAD_LETTER_TOPIC else where,
                              f"{eid} in {topic}: consent-dropped")

    def test_key_is_the_pseudonym_one_user_one_partition(self):
        p = it.unique("pkey")
        uid = f"usr-{uuid.uuid4().hex}"
        others = [f"usr-{uuid.uuid4().hex}" for _ in range(6)]
        self.send([it.event(f"{p}-a", type="screen_view", user_id=uid, consent=ANA,
                            properties={"name": "A"})])
        self.send([it.event(f"{p}-b", type="search", user_id=uid, consent=ANA,
                            properties={"query": "boots"})] +
                  [it.event(f"{p}-o{i}", type="screen_view", user_id=o, consent=ANA,
                            properties={"name": "O"}) for i, o in enumerate(others)])
        ids = [f"{p}-a", f"{p}-b"] + [f"{p}-o{i}" for i in range(len(others))]
        by_id = wait_for(ids, "sluice.raw", p)
        self.assertEqual(sorted(by_id), sorted(ids))
        a, b = by_id[f"{p}-a"][0], by_id[f"{p}-b"][0]
        self.assertEqual(a["key"], f"{TENANT}:{pseudonym(uid)}".encode())
        self.assertEqual(b["key"], a["key"])
        self.assertEqual(a["partition"], b["partition"], "one user, one partition")
        for i, o in enumerate(others):
            m = by_id[f"{p}-o{i}"][0]
            self.assertEqual(m["key"], f"{TENANT}:{pseudonym(o)}".encode())
            self.assertNotIn(o.encode(), m["key"] + m["value"])

    def test_pseudonyms_stable_across_requests_and_instances_new_key_new_pseudonyms(self):
        p = it.unique("pstable")
        uid = f"usr-{uuid.uuid4().hex}"

        def one(name, sluice=None):
            self.send([it.event(f"{p}-{name}", type="identify", user_id=uid, consent=ANA,
                                properties={"user_id": uid})], sluice)
            m = wait_for([f"{p}-{name}"], "sluice.identity", p)[f"{p}-{name}"][0]
            self.assertEqual(m["json"]["user_id"], m["json"]["properties"]["user_id"])
            self.assertEqual(m["key"], f"{TENANT}:{m['json']['user_id']}".encode())
            return m["json"]["user_id"]

        first, again = one("first"), one("again")
        self.assertEqual(first, again, "the same user id, the same pseudonym")
        self.assertEqual(first, pseudonym(uid), "HMAC-SHA256 with the key file, id k7")
        self.assertTrue(first.startswith("k7:"), first)

        second = self.other_sluice(self.policy_sets())
        self.assertEqual(one("second-instance", second), first,
                         "another instance with the same key gives the same pseudonym")
        rotated = self.other_sluice(self.policy_sets(self.key8_file, "k8"))
        k8 = one("rotated", rotated)
        self.assertTrue(k8.startswith("k8:"), k8)
        self.assertNotEqual(k8.split(":", 1)[1], first.split(":", 1)[1])
        self.assertEqual(k8, pseudonym(uid, KEY8, "k8"))

    def test_policy_version_in_banner_and_reload_answer(self):
        want = file_version(os.path.join(POLICIES, "policy.yaml"), "2026-11-27.1")
        self.assertRegex(want, VERSION_RE)
        self.assertEqual(banner_version(self.sluice), want)
        r = self.reload()
        self.assertEqual(r.json["policy_version"], want, r)

    def test_info_shows_policy_version(self):
        r = self.sluice.admin_get("/info")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["policy"]["policy_version"], banner_version(self.sluice), r)


class ReloadTest(PolicyCase):
    """A copy of policies/ in cls.tmp that the test rewrites and reloads."""

    @classmethod
    def prepare(cls):
        super().prepare()
        cls.policies_dir = os.path.join(cls.tmp.name, "policies")
        shutil.copytree(POLICIES, cls.policies_dir)
        cls.policy_file = os.path.join(cls.policies_dir, "policy.yaml")

    def identify(self, eid, phone):
        return it.event(eid, type="identify", user_id=f"usr-{eid}", consent=ANA,
                        properties={"user_id": f"usr-{eid}", "email": f"{eid}@example.com",
                                    "phone": phone})

    def test_invalid_policy_refused_valid_one_applied_under_traffic(self):
        p = it.unique("preload")
        phone = "+33 6 " + " ".join(f"{random.randint(10, 99)}" for _ in range(4))
        with open(self.policy_file) as f:
            original = f.read()
        v1 = file_version(self.policy_file, "2026-11-27.1")
        self.assertEqual(banner_version(self.sluice), v1)

        # 1. An invalid policy is refused with file and line; the running one keeps serving.
        bad_line = original.count("\n") + 1
        write_atomically(self.policy_file, original + "retention: 30d\n")
        r = it.admin_reload(self.sluice)
        self.assertEqual(r.status, 400, r)
        self.assertIs(r.json["ok"], False, r)
        self.assertEqual(r.json["error"]["code"], "policy_invalid", r)
        self.assertIn(f"policy.yaml:{bad_line}:1:", r.json["error"]["message"], r)
        self.assertIn("retention", r.json["error"]["message"], r)
        self.send([self.identify(f"{p}-after-bad", phone)])
        m = wait_for([f"{p}-after-bad"], "sluice.identity", p)[f"{p}-after-bad"][0]
        self.assertEqual(m["headers"]["policy_version"], v1)
        self.assertEqual(m["json"]["properties"]["phone"], mask(phone, 4))

        # 2. A valid change, while a client keeps posting.
        changed = original.replace("version: 2026-11-27.1", "version: 2026-11-27.2", 1)
        changed = changed.replace("    - {pii: phone, action: {mask: 4}}",
                                  "    - {pii: phone, action: drop}", 1)
        self.assertNotIn("{mask: 4}", changed, "the policy's phone rule moved; update the test")
        v2 = "2026-11-27.2+sha256:" + hashlib.sha256(changed.encode()).hexdigest()[:12]
        stop = threading.Event()
        results = []

        def client():
            i = 0
            while not stop.is_set():
                eid = f"{p}-bg-{i}"
                try:
                    r = self.sluice.post(it.batch([self.identify(eid, phone)]), self.token)
                    results.append((eid, r.status, r.json and r.json.get("accepted")))
                except Exception as e:  # noqa: BLE001 - recorded, asserted below
                    results.append((eid, None, repr(e)))
                i += 1

        t = threading.Thread(target=client, daemon=True)
        t.start()
        try:
            time.sleep(0.5)
            write_atomically(self.policy_file, changed)
            r = self.reload()
            self.assertEqual(r.json["policy_version"], v2, r)
            for _ in range(2):  # the same policy again, under traffic
                time.sleep(0.2)
                self.assertEqual(self.reload().json["policy_version"], v2)
            time.sleep(0.5)
        finally:
            stop.set()
            t.join(30)
        self.assertGreater(len(results), 10, "the client kept posting across the reloads")
        self.assertEqual([x for x in results if x[1:] != (200, 1)], [],
                         "requests failed during the reload")

        self.send([self.identify(f"{p}-after", phone)])
        ids = [f"{p}-after-bad", f"{p}-after"] + [eid for eid, _, _ in results]
        by_id = wait_for(ids, "sluice.identity", p)
        self.assertEqual(sorted(set(ids) - set(by_id)), [])
        after = by_id[f"{p}-after"][0]
        self.assertEqual(after["headers"]["policy_version"], v2)
        self.assertNotIn("phone", after["json"]["properties"])
        seen = {v1: 0, v2: 0}
        for eid, msgs in by_id.items():
            with self.subTest(event=eid):
                self.assertEqual(len(msgs), 1)
                m = msgs[0]
                version = m["headers"]["policy_version"]
                self.assertIn(version, seen)
                seen[version] += 1
                props = m["json"]["properties"]
                # The header names exactly the policy that redacted the value.
                if version == v1:
                    self.assertEqual(props.get("phone"), mask(phone, 4))
                else:
                    self.assertNotIn("phone", props)
                self.assertEqual(props["email"], pseudonym(f"{eid}@example.com"))
                self.assertNotIn(phone.encode(), m["value"])
                self.assertNotIn(digits(phone).encode(), m["value"])
        self.assertGreater(seen[v2], 1, "messages after the reload carry the new version")
        self.assertEqual(banner_version(self.sluice), v1, "the banner is the start's")


if __name__ == "__main__":
    it.main()
