"""The admin port (/healthz, /readyz, /info, /metrics) of a running sluice, and the
configuration front end (`serve --check`, `--set`, `config docs`)."""

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import sluice_it as it


class AdminTest(it.SluiceTestCase):

    def test_healthz(self):
        r = self.sluice.admin_get("/healthz")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.raw.strip(), b"ok")

    def test_readyz(self):
        r = self.sluice.admin_get("/readyz")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"ready": True})

    def test_info(self):
        r = self.sluice.admin_get("/info")
        self.assertEqual(r.status, 200, r)
        info = r.json
        self.assertIsInstance(info, dict, r)
        v = subprocess.run([it.sluice_bin(), "version"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(v.returncode, 0)
        self.assertEqual(v.stdout.strip(), f"sluice {info['version']}")
        self.assertRegex(info["version"], r"^\d+\.\d+\.\d+")
        self.assertEqual(info["listen"]["http"], self.sluice.public)
        self.assertEqual(info["listen"]["admin"], self.sluice.admin)
        self.assertEqual(info["kafka"]["bootstrap"], it.bootstrap())
        self.assertIs(info["kafka"]["embedded"], False)
        self.assertEqual(info["topics"], {
            "raw": "sluice.raw", "identity": "sluice.identity", "consent": "sluice.consent",
            "decisions": "sluice.decisions", "outcomes": "sluice.outcomes",
            "dead_letter": "sluice.dead-letter", "privacy": "sluice.privacy",
            "suppression": "sluice.suppression"})
        self.assertEqual(self.sluice.kafka_line, it.bootstrap(), "banner kafka line")

    def test_metrics_move(self):
        before = self.sluice.metrics()
        p = it.unique("metrics")
        ids = [f"{p}-{i}" for i in range(3)]
        r = self.post(it.batch([it.event(i) for i in ids] + [{"event_id": f"{p}-bad"}]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["accepted"], r.json["invalid"]), (3, 1))
        r = self.post(b"{oops")
        self.assertEqual(r.status, 400, r)
        after = self.sluice.metrics()

        def delta(name):
            return after.get(name, 0.0) - before.get(name, 0.0)

        self.assertIn('sluice_events_total{outcome="accepted"}', after)
        self.assertEqual(delta('sluice_events_total{outcome="accepted"}'), 3)
        self.assertEqual(delta('sluice_events_total{outcome="invalid"}'), 1)
        self.assertEqual(delta('sluice_events_total{outcome="retryable"}'), 0)
        self.assertEqual(delta('sluice_http_requests_total{code="200"}'), 1)
        self.assertEqual(delta('sluice_http_requests_total{code="400"}'), 1)
        self.assertEqual(delta("sluice_request_duration_seconds_count"), 2)
        self.assertEqual(after.get("sluice_ready"), 1.0)
        self.assertEqual(after.get("sluice_inflight_requests"), 0.0)
        self.assertEqual(sorted(it.wait_for_event_ids(ids, prefix=p)), ids)

    def test_admin_unknown_path(self):
        r = self.sluice.admin_get("/nope")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(r.error_code(), "not_found")


class ClientGoneMetricsTest(it.SluiceTestCase):
    """Events produced for a client that hung up before its answer are still in Kafka, and
    still accepted events: the counters must say so."""
    SETS = ("kafka.linger=300ms",)

    def test_events_of_disconnected_clients_are_counted(self):
        before = self.sluice.metrics()
        p = it.unique("gone")
        ids = [f"{p}-{i}" for i in range(5)]
        host, port = self.sluice.public.rsplit(":", 1)
        for eid in ids:
            body = json.dumps(it.batch([it.event(eid)])).encode()
            with socket.create_connection((host, int(port)), timeout=10) as c:
                c.sendall(f"POST /v1/events HTTP/1.1\r\nHost: sluice\r\n"
                          f"Content-Type: application/json\r\n"
                          f"Authorization: Bearer {self.token}\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            # closed without reading the answer
        by_id = it.wait_for_event_ids(ids, prefix=p)
        self.assertEqual(sorted(by_id), ids, "every batch was read and produced")
        deadline = time.monotonic() + 5
        while True:
            after = self.sluice.metrics()
            if after["sluice_inflight_requests"] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(after["sluice_inflight_requests"], 0)
        key = 'sluice_events_total{outcome="accepted"}'
        self.assertEqual(after[key] - before[key], len(ids),
                         "events in Kafka but missing from sluice_events_total")


class MissingTopicTest(unittest.TestCase):
    """A stage topic that does not exist: not ready, batches refused; ready once it exists."""

    def test_missing_stage_topic(self):
        topic = it.unique("sluice.missing")
        s = it.Sluice(["kafka.health_interval=200ms", f"topics.decisions={topic}"])
        s.start(wait_ready=False)
        try:
            r = s.wait_ready(timeout=30, want=503)
            deadline = time.monotonic() + 10
            while topic not in r.json.get("reason", "") and time.monotonic() < deadline:
                time.sleep(0.2)  # the first answer may still be "not checked yet"
                r = s.admin_get("/readyz")
            self.assertEqual(r.status, 503, r)
            self.assertIn("missing topics", r.json["reason"])
            self.assertIn(topic, r.json["reason"])
            self.assertNotIn("sluice.raw", r.json["reason"])
            token = it.mint_token("t1")
            eid = it.unique("missing-topic-ev")
            r = s.post(it.batch([it.event(eid)]), token)
            self.assertEqual(r.status, 503, r)
            self.assertEqual(r.error_code(), "kafka_unavailable", r)
            self.assertIsNotNone(r.header("retry-after"))

            it.kafka_sh("create-topic", it.env("KAFKA_DIR"), it.bootstrap().rsplit(":", 1)[1],
                        topic, "1")
            s.wait_ready(timeout=30)
            eid2 = it.unique("missing-topic-ev")
            r = s.post(it.batch([it.event(eid2)]), token)
            self.assertEqual(r.status, 200, r)
            by_id = it.wait_for_event_ids([eid2], prefix="missing-topic-ev")
            self.assertIn(eid2, by_id)
            self.assertNotIn(eid, by_id)
            rc = s.stop()
            it.check_sanitizer_output(self, s.stderr())
            self.assertEqual(rc, 0)
        finally:
            s.cleanup()


class ReloadTest(it.SluiceTestCase):
    """POST /-/reload and SIGHUP re-read the file: limits change live, a bad file changes
    nothing."""

    @classmethod
    def prepare(cls):
        cls.path = os.path.join(cls.tmp.name, "sluice.yaml")
        cls.write_config(5)

    @classmethod
    def sluice_args(cls):
        return (), cls.path

    @classmethod
    def write_config(cls, max_events, extra=""):
        with open(cls.path + ".tmp", "w") as f:
            f.write(f"limits:\n  max_events_per_batch: {max_events}\n{extra}")
        os.replace(cls.path + ".tmp", cls.path)

    def post_n(self, n):
        p = it.unique("reload")
        return self.sluice.post(it.batch([it.event(f"{p}-{i}") for i in range(n)]), self.token)

    def assertLimit(self, n):
        r = self.post_n(n)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["accepted"], n)
        r = self.post_n(n + 1)
        self.assertEqual(r.status, 413, r)
        self.assertEqual(r.error_code(), "too_many_events")

    def reload(self):
        return it.http_request(self.sluice.admin, "POST", "/-/reload", body=b"")

    def test_reload(self):
        self.assertLimit(5)
        before = self.sluice.metrics()
        self.write_config(2, "kafka:\n  linger: 7ms\n")
        r = self.reload()
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["ok"], True, r)
        self.assertIn("kafka.linger", r.json["restart_required"])
        self.assertLimit(2)

        self.write_config(0)  # out of range: refused, the running configuration stays
        r = self.reload()
        self.assertEqual(r.status, 400, r)
        self.assertIs(r.json["ok"], False, r)
        self.assertIn("limits.max_events_per_batch", json.dumps(r.json))
        self.assertLimit(2)
        after = self.sluice.metrics()
        self.assertEqual(after['sluice_config_reloads_total{result="ok"}'] -
                         before['sluice_config_reloads_total{result="ok"}'], 1)
        self.assertEqual(after['sluice_config_reloads_total{result="error"}'] -
                         before['sluice_config_reloads_total{result="error"}'], 1)

        # SIGHUP does the same.
        self.write_config(3)
        self.sluice.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.post_n(3).status == 200:
                break
            time.sleep(0.1)
        self.assertLimit(3)
        self.assertIsNone(self.sluice.proc.poll(), "SIGHUP must not stop sluice")


class ConfigCheckTest(unittest.TestCase):
    """`sluice serve --check` and `--set`: exit 2 with the key and where, 0 when valid."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="sluice-it-config-")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def write(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def check(self, *args):
        # The privacy policy (which needs an HMAC key outside the embedded default) is not
        # what these cases are about.
        p = subprocess.run([it.sluice_bin(), "serve", "--check", "--set", "policies.dir=",
                            *args], capture_output=True, text=True, timeout=60)
        it.check_sanitizer_output(self, p.stderr, "sluice serve --check")
        return p

    VALID_HEAD = ("listen:\n"
                  "  http: 127.0.0.1:0\n"
                  "  admin: 127.0.0.1:0\n"
                  "kafka:\n"
                  "  brokers: 127.0.0.1:9\n"
                  "auth:\n"
                  f"  secret: {it.SECRET}\n")

    def assertConfigError(self, p, key, where):
        self.assertEqual(p.returncode, 2, f"stdout={p.stdout!r} stderr={p.stderr!r}")
        self.assertIn(key, p.stderr)
        self.assertRegex(p.stderr, where)
        self.assertNotIn("configuration OK", p.stdout)

    def test_unknown_key_in_file(self):
        path = self.write("unknown.yaml", self.VALID_HEAD + "limits:\n  max_evnets: 5\n")
        p = self.check("--config", path)
        # line 9, column 3: where the key is
        self.assertConfigError(p, "max_evnets", re.escape(path) + r":9:3\b")
        self.assertIn("limits.max_evnets", p.stderr)

    def test_unknown_section_in_file(self):
        path = self.write("section.yaml", "kafkaa:\n  brokers: x\n" + self.VALID_HEAD)
        p = self.check("--config", path)
        self.assertConfigError(p, "kafkaa", re.escape(path) + r":1:1\b")

    def test_wrong_type_in_file(self):
        path = self.write("type.yaml", self.VALID_HEAD +
                          "limits:\n  max_events_per_batch: lots\n")
        p = self.check("--config", path)
        self.assertConfigError(p, "limits.max_events_per_batch",
                               re.escape(path) + r":9:(3|25)\b")
        # A duration without a unit.
        path = self.write("duration.yaml", self.VALID_HEAD.replace(
            "  brokers: 127.0.0.1:9\n", "  brokers: 127.0.0.1:9\n  delivery_timeout: 30\n"))
        p = self.check("--config", path)
        self.assertConfigError(p, "kafka.delivery_timeout", re.escape(path) + r":6:(3|21)\b")

    def test_out_of_range_in_file(self):
        path = self.write("range.yaml", self.VALID_HEAD + "limits:\n  max_json_depth: 2\n")
        p = self.check("--config", path)
        self.assertConfigError(p, "limits.max_json_depth", re.escape(path) + r":9:(3|19)\b")
        path = self.write("range2.yaml", self.VALID_HEAD.replace(
            "  brokers: 127.0.0.1:9\n", "  brokers: 127.0.0.1:9\n  health_interval: 10ms\n"))
        p = self.check("--config", path)
        self.assertConfigError(p, "kafka.health_interval", re.escape(path) + r":6:(3|20)\b")

    def test_yaml_syntax_error(self):
        path = self.write("syntax.yaml", self.VALID_HEAD + "limits: [unclosed\n")
        p = self.check("--config", path)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertRegex(p.stderr, re.escape(path) + r":\d+:\d+")

    def test_set_errors(self):
        p = self.check("--set", "kafka.brokers=127.0.0.1:9", "--set", f"auth.secret={it.SECRET}",
                       "--set", "limits.no_such_key=1")
        self.assertConfigError(p, "limits.no_such_key", r"--set")
        p = self.check("--set", "kafka.brokers=127.0.0.1:9", "--set", f"auth.secret={it.SECRET}",
                       "--set", "limits.max_events_per_batch=many")
        self.assertConfigError(p, "limits.max_events_per_batch", r"--set")
        p = self.check("--set", "kafka.brokers=127.0.0.1:9", "--set", f"auth.secret={it.SECRET}",
                       "--set", "limits.max_header_bytes=1KiB")
        self.assertConfigError(p, "limits.max_header_bytes", r"--set")

    def test_set_on_top_of_file(self):
        path = self.write("base.yaml", self.VALID_HEAD + "limits:\n  max_json_depth: 8\n")
        p = self.check("--config", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.check("--config", path, "--set", "limits.max_json_depth=1000")
        self.assertConfigError(p, "limits.max_json_depth", r"--set")
        self.assertNotIn(path + ":", p.stderr)

    def test_missing_secret_for_real_broker(self):
        p = self.check("--set", "kafka.brokers=127.0.0.1:9")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("auth.secret", p.stderr)

    def test_short_secret_and_missing_file(self):
        p = self.check("--set", "kafka.brokers=127.0.0.1:9", "--set", "auth.secret=tooshort")
        self.assertConfigError(p, "auth.secret", r"32")
        self.assertNotIn("tooshort", p.stderr, "the secret is not echoed")
        missing = os.path.join(self.tmp.name, "nope.yaml")
        p = self.check("--config", missing)
        self.assertConfigError(p, missing, r"cannot open|[Nn]o such file")

    def test_listen_address_in_use_exits_1(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            # The embedded broker: the suppression list loads, then the listener fails.
            p = subprocess.run([it.sluice_bin(), "serve", "--set", "kafka.brokers=embedded",
                                "--set", f"auth.secret={it.SECRET}",
                                "--set", f"listen.http=127.0.0.1:{port}",
                                "--set", "listen.admin=127.0.0.1:0", "--set", "policies.dir="],
                               capture_output=True, text=True, timeout=60)
        it.check_sanitizer_output(self, p.stderr)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("listen.http", p.stderr)
        self.assertIn(str(port), p.stderr)

    def test_valid_file(self):
        path = self.write("valid.yaml", self.VALID_HEAD +
                          "  tenant_claim: org\n"
                          "limits:\n"
                          "  max_body_bytes: 2MiB\n"
                          "  max_events_per_batch: 500\n"
                          "  max_json_depth: 8\n"
                          "http:\n"
                          "  retry_after: 5s\n"
                          "shutdown:\n"
                          "  timeout: 10s\n")
        p = self.check("--config", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("configuration OK", p.stdout)

    def test_docs_match_config_docs(self):
        doc = os.path.join(it.SOURCE_DIR, "docs", "configuration.md")
        if not os.path.exists(doc):
            self.skipTest(f"{doc} does not exist yet (generate it with `sluice config docs`)")
        p = subprocess.run([it.sluice_bin(), "config", "docs"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(doc) as f:
            committed = f.read()
        self.assertEqual(committed, p.stdout,
                         "docs/configuration.md is stale: regenerate it with "
                         "`sluice config docs > docs/configuration.md`")
        for key in ("kafka.brokers", "limits.max_body_bytes", "auth.secret",
                    "shutdown.timeout"):
            self.assertIn(key, p.stdout)


if __name__ == "__main__":
    it.main()
