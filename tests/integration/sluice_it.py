"""Shared helpers for sluice's integration tests (standard library only).

Each test module starts its own `sluice serve` against the real Kafka broker that the
ctest fixture `kafka_start` launched (tests/kafka/kafka.sh) and reads back what landed in
Kafka with kcat.  The environment comes from tests/integration/CMakeLists.txt:

  SLUICE_BIN        the sluice binary under test
  KAFKA_SH          tests/kafka/kafka.sh
  KAFKA_DIR         the broker's directory (for pause/resume)
  KAFKA_BOOTSTRAP   127.0.0.1:PORT

Topics are shared between tests of one broker run: every test tags its events with ids
unique to the run and filters what it reads by them.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

SECRET = "sluice-integration-secret-0123456789abcdef"  # >= 32 bytes
RAW_TOPIC = "sluice.raw"
STAGE_TOPICS = ["sluice.raw", "sluice.identity", "sluice.consent", "sluice.decisions",
                "sluice.outcomes"]
DEAD_LETTER_TOPIC = "sluice.dead-letter"
ALL_TOPICS = STAGE_TOPICS + [DEAD_LETTER_TOPIC, "sluice.privacy", "sluice.suppression"]
RETRYABLE_CODES = {"kafka_timeout", "kafka_possibly_persisted", "kafka_producer_reset",
                   "kafka_not_acknowledged", "queue_full", "delivery_pending", "in_flight",
                   "kafka_unavailable", "shutting_down"}
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
SOURCE_DIR = os.environ.get(
    "SLUICE_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))


def env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set; run the integration tests through ctest "
                           f"(ctest --test-dir BUILD -L integration)")
    return value


def sluice_bin():
    return env("SLUICE_BIN")


def bootstrap():
    return env("KAFKA_BOOTSTRAP")


def unique(prefix):
    """A run-unique id prefix, e.g. 'pub-3f2a9c1d'."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def check_sanitizer_output(testcase, text, what="sluice"):
    for marker in SANITIZER_MARKERS:
        if marker in text:
            testcase.fail(f"{what} reported a sanitizer error ({marker!r}):\n{text[-8000:]}")


def event(event_id, **fields):
    """An event valid against the catalog in proto/ (page_view needs properties.url)."""
    ev = {"event_id": event_id, "type": fields.pop("type", "page_view"),
          "occurred_at": fields.pop("occurred_at", "2026-01-02T03:04:05.678Z")}
    if ev["type"] == "page_view" and "properties" not in fields:
        ev["properties"] = {"url": "https://shop.example.com/p/" + str(event_id)}
    ev.update(fields)
    return ev


def batch(events, batch_id=None, **extra):
    b = {"batch_id": batch_id or unique("batch"), "sent_at": "2026-01-02T03:04:06Z",
         "events": events}
    b.update(extra)
    return b


# ------------------------------------------------------------------- tokens ----

def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(claims, secret=SECRET, header=None):
    """An HS256 JWT built here, for tokens `sluice token` will not mint (expired, foreign key)."""
    header = header or {"alg": "HS256", "typ": "JWT"}
    signing_input = (_b64(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     _b64(json.dumps(claims, separators=(",", ":")).encode()))
    sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(sig)


def mint_token(tenant="t1", secret=SECRET, extra_args=()):
    p = subprocess.run([sluice_bin(), "token", "--set", f"auth.secret={secret}",
                        "--tenant", tenant, *extra_args],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"sluice token failed ({p.returncode}): {p.stderr}")
    for marker in SANITIZER_MARKERS:
        if marker in p.stderr:
            raise RuntimeError(f"sluice token: sanitizer error:\n{p.stderr}")
    return p.stdout.strip()


def sluice_token(*args):
    """Runs `sluice token ARGS` (no implied --set) and returns the token it prints."""
    p = subprocess.run([sluice_bin(), "token", *args], capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"sluice token {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    for marker in SANITIZER_MARKERS:
        if marker in p.stderr:
            raise RuntimeError(f"sluice token: sanitizer error:\n{p.stderr}")
    return p.stdout.strip()

# --------------------------------------------------------------------- HTTP ----

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.raw = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        return self.headers.get(name.lower())

    def error_code(self):
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"].get("code")
        return None

    def __repr__(self):
        return f"<{self.status} {self.raw[:600]!r}>"


def http_request(addr, method, path, body=None, headers=None, timeout=30):
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Response(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def post_events(addr, payload, token, content_type="application/json", extra_headers=None,
                timeout=60):
    """POST /v1/events. payload: a dict/list (JSON-encoded here) or bytes/str sent as is."""
    if isinstance(payload, (dict, list)):
        payload = json.dumps(payload).encode()
    elif isinstance(payload, str):
        payload = payload.encode()
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    headers.update(extra_headers or {})
    return http_request(addr, "POST", "/v1/events", payload, headers, timeout=timeout)


def read_http_response(sock, timeout):
    """Reads one HTTP/1.1 response (status line, headers, Content-Length body) from sock.
    Returns a Response, or None if the peer closed before a full head arrived."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    data = b""
    while b"\r\n\r\n" not in data:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no response head within {timeout}s; got {data[:200]!r}")
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    length = None
    for k, v in headers:
        if k.lower() == "content-length":
            length = int(v)
    if length is None:
        length = 0
    while len(rest) < length:
        if time.monotonic() > deadline:
            raise TimeoutError("response body incomplete")
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return Response(status, headers, rest[:length])


def raw_exchange(addr, data, timeout=10):
    """Sends raw bytes on a fresh connection and reads one response."""
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(data)
        return read_http_response(s, timeout)


# -------------------------------------------------------------------- Kafka ----

def kafka_sh(*args, timeout=180):
    p = subprocess.run(["bash", env("KAFKA_SH"), *args], capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"kafka.sh {' '.join(args)} failed ({p.returncode}):\n"
                           f"{p.stdout}\n{p.stderr}")
    return p


def kafka_running():
    p = subprocess.run(["bash", env("KAFKA_SH"), "status", env("KAFKA_DIR")],
                       capture_output=True, text=True, timeout=60)
    return p.returncode == 0


def rss_kib(pid):
    """VmRSS of process pid in KiB, from /proc/PID/status (OSError once it is gone)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise OSError(f"no VmRSS line for {pid}: the process has exited")


def apply_results(led, ids, r, sent_at):
    """The client contract for an answer r (200, 207 or 503) listing per-event results, applied
    to the events ids it was for: events not listed were accepted, `duplicate` ones accepted
    before, `retryable` ones (not in a 200) are to be resent. Records in led (accepted, duplicate,
    history, unexpected) what each event got; returns (a tally key naming the answer, the ids to
    resend). Anything outside the contract goes to led.unexpected and is not resent."""
    j = r.json if isinstance(r.json, dict) else {}
    results = j.get("results")
    listed = {x.get("event_id"): x for x in results}
    codes = sorted({f"{x.get('status')}:{x.get('code')}" for x in results})
    accepted = [i for i in ids if i not in listed]
    if len(accepted) != j.get("accepted") or len(listed) != len(results):
        led.unexpected.append(f"counts do not add up for {len(ids)} events: {r!r}")
    if r.status == 503 and accepted:
        led.unexpected.append(f"a 503 accepted {len(accepted)} events: {r!r}")
    resend = []
    for i in ids:
        x = listed.get(i)
        led.history.setdefault(i, []).append(
            (sent_at, f"{r.status} {x['status']}:{x.get('code')}" if x else
             f"{r.status} accepted"))
        if x is None:
            led.accepted[i] = led.accepted.get(i, 0) + 1
        elif x.get("status") == "duplicate":
            led.duplicate.add(i)
        elif x.get("status") == "retryable" and r.status != 200:
            resend.append(i)
        else:
            led.unexpected.append(f"event {i}: {x} in {r.status}")
    return f"{r.status} {','.join(codes)}".strip(), resend


def broker_pid(must=True):
    """The pid of the fixture broker's JVM (kafka.sh status), for SIGSTOP/SIGCONT/SIGKILL; None
    when it is not running (or an AssertionError when must)."""
    q = subprocess.run(["bash", env("KAFKA_SH"), "status", env("KAFKA_DIR")],
                       capture_output=True, text=True, timeout=60)
    for word in q.stdout.split():
        if q.returncode == 0 and word.startswith("pid="):
            return int(word[4:])
    if must:
        raise AssertionError(f"kafka.sh status: {q.stdout!r} {q.stderr!r}")
    return None


def release_broker():
    """SIGCONT the fixture broker in case a test left it stopped; its pid, or None."""
    pid = broker_pid(must=False)
    if pid is not None:
        os.kill(pid, signal.SIGCONT)
    return pid


def duplicate_evidence(ids, by_id, history):
    """Lines showing, for up to 8 event ids, their copies in Kafka (partition, offset,
    received_at) and the answers each attempt got: history is {id: [(sent at, answer)]}."""
    import datetime
    lines = []
    for i in ids[:8]:
        copies = [(m["partition"], m["offset"], m["headers"].get("received_at"))
                  for m in by_id.get(i, [])]
        hist = [(datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
                 .strftime("%H:%M:%S.%f")[:-3], a) for t, a in history.get(i, [])]
        lines.append(f"  {i}: in kafka (partition, offset, received_at) {copies}; "
                     f"answers (sent at, answer) {hist}")
    if len(ids) > 8:
        lines.append(f"  ... and {len(ids) - 8} more")
    return "\n".join(lines)


def read_topic(topic=RAW_TOPIC, timeout=60):
    """Every message of the topic, as kcat -J dicts with 'headers' turned into a dict and
    'value' the payload string."""
    p = subprocess.run(["kcat", "-C", "-b", bootstrap(), "-t", topic, "-o", "beginning", "-e",
                        "-J", "-q"], capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"kcat failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    out = []
    for line in p.stdout.decode("utf-8").split("\n"):  # not splitlines: keys may hold U+2028
        line = line.strip()
        if not line:
            continue
        m = json.loads(line)
        flat = m.get("headers") or []
        m["headers_list"] = flat
        m["headers"] = {flat[i]: flat[i + 1] for i in range(0, len(flat) - 1, 2)}
        out.append(m)
    return out


def messages_by_event_id(topic=RAW_TOPIC, prefix=None):
    """{event_id header: [messages]} for the messages whose event_id starts with prefix."""
    by_id = {}
    for m in read_topic(topic):
        eid = m["headers"].get("event_id")
        if eid is None or (prefix is not None and not eid.startswith(prefix)):
            continue
        by_id.setdefault(eid, []).append(m)
    return by_id


def wait_for_event_ids(ids, topic=RAW_TOPIC, prefix=None, timeout=20):
    """Reads the topic until every id in ids is there (or timeout). Returns the last
    {event_id: [messages]} map (filtered by prefix when given)."""
    ids = set(ids)
    deadline = time.monotonic() + timeout
    while True:
        by_id = messages_by_event_id(topic, prefix)
        if ids <= set(by_id) or time.monotonic() > deadline:
            return by_id
        time.sleep(0.5)


# Binary-safe reading (values that are not UTF-8, e.g. encoding.<stage>=protobuf): kcat's -J
# output is text, so these use a format with explicit key and value lengths instead.
_RAW_FORMAT = "@@ %p %o %T %K %S\n%k%s\n%h\n"


def read_topic_raw(topic=RAW_TOPIC, timeout=60):
    """Every message of the topic as a dict: partition, offset, ts (ms), key and value (bytes,
    None when null), headers (dict) and headers_list (flat [name, value, ...] as in read_topic).
    Header values must not contain ',' or newlines (kcat prints them as name=value CSV)."""
    p = subprocess.run(["kcat", "-C", "-b", bootstrap(), "-t", topic, "-o", "beginning", "-e",
                        "-q", "-f", _RAW_FORMAT], capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"kcat failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    data, pos, out = p.stdout, 0, []
    while pos < len(data):
        nl = data.index(b"\n", pos)
        head = data[pos:nl].split(b" ")
        if head[0] != b"@@" or len(head) != 6:
            raise RuntimeError(f"kcat output out of step at byte {pos}: {data[pos:pos + 80]!r}")
        partition, offset, ts, klen, vlen = (int(x) for x in head[1:])
        pos = nl + 1
        key = data[pos:pos + klen] if klen >= 0 else None
        pos += max(klen, 0)
        value = data[pos:pos + vlen] if vlen >= 0 else None
        pos += max(vlen, 0)
        if data[pos:pos + 1] != b"\n":
            raise RuntimeError(f"kcat output out of step after a value at byte {pos}")
        nl = data.index(b"\n", pos + 1)
        flat = []
        for item in data[pos + 1:nl].decode("utf-8").split(","):
            if item:
                name, _, val = item.partition("=")
                flat += [name, val]
        pos = nl + 1
        out.append({"topic": topic, "partition": partition, "offset": offset, "ts": ts,
                    "key": key, "value": value, "headers_list": flat,
                    "headers": {flat[i]: flat[i + 1] for i in range(0, len(flat) - 1, 2)}})
    return out


def messages_by_event_id_raw(topic=RAW_TOPIC, prefix=None):
    """messages_by_event_id over read_topic_raw: {event_id header: [messages]}, each list in
    (partition, offset) order."""
    by_id = {}
    for m in sorted(read_topic_raw(topic), key=lambda m: (m["partition"], m["offset"])):
        eid = m["headers"].get("event_id")
        if eid is None or (prefix is not None and not eid.startswith(prefix)):
            continue
        by_id.setdefault(eid, []).append(m)
    return by_id


def create_topic(name, partitions=3):
    """Creates a topic on the test broker (kafka.sh create-topic)."""
    kafka_sh("create-topic", env("KAFKA_DIR"), bootstrap().rsplit(":", 1)[1], name,
             str(partitions))


# ----------------------------------------------------------------- protobuf ----

def compile_protos(outdir):
    """Generates the Python classes of proto/ (envelope, options, event contracts) into outdir
    with protoc --python_out, puts outdir on sys.path and imports them. Needs protoc and
    python3-protobuf (scripts/deps.sh --test). Returns {module name: module}, e.g.
    'sluice.v1.envelope_pb2'."""
    import glob
    import importlib
    proto = os.path.join(SOURCE_DIR, "proto")
    protoc = shutil.which("protoc")
    if protoc is None:
        raise RuntimeError("protoc not found (scripts/deps.sh installs protobuf-compiler)")
    files = sorted(os.path.relpath(f, proto)
                   for f in glob.glob(os.path.join(proto, "sluice", "**", "*.proto"),
                                      recursive=True))
    p = subprocess.run([protoc, f"-I{proto}", "-I/usr/include", f"--python_out={outdir}",
                        *files], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"protoc failed ({p.returncode}): {p.stderr}")
    if outdir not in sys.path:
        sys.path.insert(0, outdir)
    return {name: importlib.import_module(name)
            for name in (f[:-len(".proto")].replace("/", ".") + "_pb2" for f in files)}


def message_classes(modules):
    """{full message name: generated class} for the top-level messages of the modules."""
    out = {}
    for mod in modules.values():
        for name, desc in mod.DESCRIPTOR.message_types_by_name.items():
            out[desc.full_name] = getattr(mod, name)
    return out


# ------------------------------------------------------------------- sluice ----

class Sluice:
    """One `sluice serve` process, started against the test broker."""

    def __init__(self, sets=(), secret=SECRET, config=None):
        self.config = config
        # The privacy policy is off unless a test sets policies.dir (test_privacy.py does):
        # the other tests check what lands in Kafka byte for byte, without redaction.
        self.sets = ["kafka.brokers=" + bootstrap(), f"auth.secret={secret}",
                     "listen.http=127.0.0.1:0", "listen.admin=127.0.0.1:0", "policies.dir=",
                     *sets]
        self.proc = None
        self.stdout_lines = []
        self.public = None
        self.admin = None
        self.tls = None  # listen.tls's address when set
        self.kafka_line = None
        self.tmpdir = tempfile.mkdtemp(prefix="sluice-it-")
        self.stderr_path = os.path.join(self.tmpdir, "stderr.log")
        self.returncode = None

    def start(self, ready_timeout=60, wait_ready=True):
        args = [sluice_bin(), "serve"]
        if self.config is not None:
            args += ["--config", self.config]
        for s in self.sets:
            args += ["--set", s]
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL)
        banner_done = threading.Event()

        def pump():
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.stdout_lines.append(line)
                m = re.match(r"\s*public\s+http://(\S+)", line)
                if m:
                    self.public = m.group(1)
                m = re.match(r"\s*admin\s+http://(\S+)", line)
                if m:
                    self.admin = m.group(1)
                m = re.match(r"\s*tls\s+https://(\S+)", line)
                if m:
                    self.tls = m.group(1)
                m = re.match(r"\s*kafka\s+(\S+)", line)
                if m:
                    self.kafka_line = m.group(1)
                if line.startswith("ready for traffic"):
                    banner_done.set()
            banner_done.set()

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        if not banner_done.wait(ready_timeout) or self.public is None or self.admin is None:
            self.kill()
            raise RuntimeError(f"sluice did not print its banner; stdout={self.stdout_lines}\n"
                               f"stderr={self.stderr()[-4000:]}")
        if wait_ready:
            try:
                self.wait_ready(ready_timeout)
            except BaseException:
                self.kill()
                raise
        return self

    def wait_ready(self, timeout=60, want=200):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sluice exited ({self.proc.returncode}) while waiting for "
                                   f"/readyz; stderr:\n{self.stderr()[-4000:]}")
            try:
                last = self.admin_get("/readyz", timeout=5)
                if last.status == want:
                    return last
            except OSError as e:
                last = e
            time.sleep(0.1)
        raise RuntimeError(f"/readyz did not answer {want} within {timeout}s (last: {last!r})")

    def admin_get(self, path, timeout=10):
        return http_request(self.admin, "GET", path, timeout=timeout)

    def post(self, payload, token, **kw):
        return post_events(self.public, payload, token, **kw)

    def metrics(self):
        r = self.admin_get("/metrics")
        if r.status != 200:
            raise RuntimeError(f"/metrics answered {r.status}")
        return parse_metrics(r.raw.decode())

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=60):
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"sluice did not exit within {timeout}s; stderr:\n"
                               f"{self.stderr()[-4000:]}")
        self._close_pipes()
        return self.returncode

    def _close_pipes(self):
        if getattr(self, "_pump", None) is not None:
            self._pump.join(5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        if getattr(self, "_stderr", None) is not None:
            self._stderr.close()

    def stop(self, timeout=60):
        """SIGTERM, wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def cleanup(self):
        self.kill()
        self._close_pipes()
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def admin_reload(sluice):
    """POST /-/reload on the admin port of a running Sluice."""
    return http_request(sluice.admin, "POST", "/-/reload", body=b"")

def parse_metrics(text):
    """{'name{labels}': float} for every sample line of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


class SluiceTestCase(unittest.TestCase):
    """Starts one sluice per TestCase class (with SETS, or what sluice_args returns) and stops it
    with SIGTERM in tearDownClass, failing if it does not exit 0 or if a sanitizer reported an
    error. cls.tmp is a temporary directory for the class; prepare() runs before the start."""

    SETS = ()
    sluice = None

    @classmethod
    def prepare(cls):
        """Hook: write files into cls.tmp.name before sluice starts."""

    @classmethod
    def sluice_args(cls):
        """(sets, config path) for the Sluice of this class."""
        return cls.SETS, None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="sluice-it-")
        try:
            cls.prepare()
            sets, config = cls.sluice_args()
            cls.sluice = Sluice(sets, config=config)
            cls.sluice.start()
            cls.token = mint_token("t1")
        except BaseException:
            if cls.sluice is not None:
                cls.sluice.cleanup()  # tearDownClass does not run when setUpClass fails
            cls.sluice = None
            cls.tmp.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        s = cls.sluice
        try:
            if s is None:
                return
            rc = s.stop()
            err = s.stderr()
            checker = unittest.TestCase()
            check_sanitizer_output(checker, err)
            if rc != 0:
                raise AssertionError(f"sluice exited with {rc} after SIGTERM (want 0); "
                                     f"stderr:\n{err[-4000:]}")
        finally:
            if s is not None:
                s.cleanup()
            cls.tmp.cleanup()

    def post(self, payload, token=None, **kw):
        return self.sluice.post(payload, self.token if token is None else token, **kw)


def main():
    # Verbose output for ctest --output-on-failure; buffered so passing tests stay quiet.
    unittest.main(verbosity=2, buffer=False)


if __name__ == "__main__":
    sys.exit("sluice_it.py is a helper module; run the test_*.py files")
