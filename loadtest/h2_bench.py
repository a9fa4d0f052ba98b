#!/usr/bin/python3
"""sluice HTTP/2 and gRPC benchmark: h2load against sluice over h2c and against nghttpd (the
HTTP/2 ceiling on the same machine), gRPC unary with h2load and with python3-grpcio, and the
HTTP/1.1 driver for comparison -- all in one run, one sluice (embedded broker).

Run through loadtest/h2_bench.sh (see loadtest/README.md, "HTTP/2 and gRPC"). Scenarios, each
alone on the machine, in this order:

  nghttpd, empty batch      h2load POSTs {"events":[]} to nghttpd serving a static file holding
                            the bytes sluice answers to an empty batch: the ceiling
  sluice h2c, empty batch   the same requests to sluice's POST /v1/events (auth, JSON decode,
                            the per-event answer; nothing for Kafka)
  sluice h2c, batch         h2load POSTs a batch of --batch events (the driver's event shape)
  sluice gRPC, h2load       the same batch as a framed EventBatch to /sluice.v1.Ingest/Publish
  sluice gRPC, grpcio       --grpc-threads python3-grpcio threads calling Publish in a loop
  sluice HTTP/1.1, driver   loadtest/driver with as many connections as h2load has streams

h2load repeats one body, so sluice runs with dedupe.window=0 (every copy is accepted and
produced, as the driver's fresh event ids are). CPU figures are sluice's (or nghttpd's)
utime+stime from /proc/PID/stat over the measured window.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench  # noqa: E402 -- Procs, start_sluice, topic_messages, machine_busy, ...


def log(msg):
    print(f"h2_bench: {msg}", file=sys.stderr, flush=True)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime, stime (fields 14 and 15)


TICKS = os.sysconf("SC_CLK_TCK")


class CpuWindow:
    """Samples a process's CPU at the start and the end of h2load's measured window."""

    def __init__(self, pid, start_in, length):
        self.pid, self.start_in, self.length = pid, start_in, length
        self.cpu_s = None
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        time.sleep(self.start_in)
        a, t0 = cpu_ticks(self.pid), time.monotonic()
        time.sleep(self.length)
        b, t1 = cpu_ticks(self.pid), time.monotonic()
        self.cpu_s = (b - a) / TICKS
        self.window_s = t1 - t0

    def result(self):
        self.t.join(self.start_in + self.length + 10)
        return self.cpu_s, self.window_s


def events(n, rng):
    """n events of the driver's shape (loadtest/lt_common.c lt_event): product_view, consent
    analytics, user from a pool of 10,000."""
    out = []
    now = time.time()
    for i in range(n):
        item = rng.randrange(100000)
        out.append({
            "event_id": "%08x-0000-4000-8000-%012x" % (rng.getrandbits(32), i),
            "type": "product_view",
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                         time.gmtime(now - rng.randrange(5))),
            "user_id": "user-%05d" % rng.randrange(10000),
            "anonymous_id": "%012x" % rng.getrandbits(48),
            "context": {"user_agent": "Mozilla/5.0 (X11; Linux x86_64) bench",
                        "page": {"url": "https://example.com/shop/%05d" % item},
                        "locale": "en-US"},
            "consent": {"purposes": ["analytics"]},
            "properties": {"product_id": "p%05d" % item, "price": 100 + rng.randrange(20000),
                           "currency": "EUR"}})
    return out


def protobuf_batch(evs, pbdir):
    """The same events as a serialized sluice.v1.EventBatch (classes from protoc --python_out)."""
    proto = os.path.join(REPO, "proto")
    files = []
    for root, _, names in os.walk(os.path.join(proto, "sluice")):
        files += [os.path.relpath(os.path.join(root, n), proto) for n in names
                  if n.endswith(".proto")]
    subprocess.run(["protoc", f"-I{proto}", "-I/usr/include", f"--python_out={pbdir}",
                    *sorted(files)], check=True)
    sys.path.insert(0, pbdir)
    from sluice.v1 import envelope_pb2 as E  # noqa: E402
    from sluice.events.v1 import raw_pb2 as R  # noqa: E402
    batch = E.EventBatch(batch_id="bench", sent_at=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                 time.gmtime()))
    for ev in evs:
        p = ev["properties"]
        batch.events.append(E.Event(
            event_id=ev["event_id"], type=ev["type"], occurred_at=ev["occurred_at"],
            user_id=ev["user_id"], anonymous_id=ev["anonymous_id"],
            context=E.Context(user_agent=ev["context"]["user_agent"],
                              page=E.Page(url=ev["context"]["page"]["url"]),
                              locale=ev["context"]["locale"]),
            consent=E.Consent(purposes=ev["consent"]["purposes"]),
            properties=R.ProductView(product_id=p["product_id"], price=p["price"],
                                     currency=p["currency"]).SerializeToString()))
    return batch.SerializeToString(), E


def h2load(procs, args, url, body_path, headers, pid, logdir, name, h1=False):
    """Runs h2load for --warmup + --duration; returns its numbers and pid's CPU in the window.
    h1: HTTP/1.1 (h2load --h1), one request at a time on each of connections x streams
    connections, as many requests in flight as over HTTP/2."""
    # h2load takes whole seconds (or a unit: 500ms).
    conc = (["--h1", "-c", str(args.connections * args.streams), "-m", "1"] if h1 else
            ["-c", str(args.connections), "-m", str(args.streams)])
    argv = ["h2load", *conc, "-t",
            str(args.h2load_threads), "-D", f"{int(args.duration * 1000)}ms",
            f"--warm-up-time={int(args.warmup * 1000)}ms", "-d", body_path]
    for h in headers:
        argv += ["-H", h]
    argv.append(url)
    # h2load's window starts once every client connected, after the warm-up; give it 0.2 s.
    win = CpuWindow(pid, args.warmup + 0.2, args.duration - 0.4)
    rc, out, err = procs.run(f"h2load-{name}", argv, args.warmup + args.duration + 120,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    with open(os.path.join(logdir, f"h2load-{name}.out"), "w") as f:
        f.write(out + err)
    cpu_s, cpu_win = win.result()
    m = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    r = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    c = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    lat = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)", out)
    if rc != 0 or m is None or r is None or c is None:
        raise RuntimeError(f"h2load {name} failed (exit {rc}):\n{out[-2000:]}\n{err[-2000:]}")
    done, ok2xx = int(r.group(3)), int(c.group(1))
    # (h2load counts a status when its headers arrive and a request when it is done: at the
    # window's edge the two can differ by a request or two, which is not an error.)
    return {"req_per_s": float(m.group(1)), "done": done, "succeeded": int(r.group(4)),
            "failed": int(r.group(5)) + int(r.group(6)) + int(r.group(7)), "status_2xx": ok2xx,
            "status_other": sum(int(c.group(i)) for i in (2, 3, 4)), "cpu_s": cpu_s,
            "cpu_window_s": cpu_win,
            "latency_mean": lat.group(3) if lat else "?", "window_s": args.duration}


def grpcio_run(args, addr, token, message, E, batch):
    """--grpc-threads threads calling Publish for --warmup + --duration: calls in the window."""
    import grpc
    ch = grpc.insecure_channel(addr)
    pub = ch.unary_unary("/sluice.v1.Ingest/Publish", request_serializer=lambda b: b,
                         response_deserializer=E.PublishResponse.FromString)
    md = [("authorization", f"Bearer {token}")]
    t_start = time.monotonic() + args.warmup
    t_end = t_start + args.duration
    counts, errors = [], []

    def loop():
        n = 0
        while True:
            now = time.monotonic()
            if now >= t_end:
                break
            try:
                r = pub(message, metadata=md, timeout=30)
                if r.accepted != batch:
                    errors.append(f"accepted {r.accepted} of {batch}")
            except grpc.RpcError as e:
                errors.append(f"{e.code()}: {e.details()}")
            if t_start <= time.monotonic() < t_end:
                n += 1
        counts.append(n)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(args.grpc_threads)]
    for t in threads:
        t.start()
    return threads, counts, errors, ch


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO, "build-release"),
                    help="release build tree holding sluice and loadtest/driver "
                         "(build-release; built unless --no-build)")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--duration", type=float, default=10, help="measured seconds (10)")
    ap.add_argument("--warmup", type=float, default=2, help="warm-up seconds (2)")
    ap.add_argument("--connections", type=int, default=4, help="h2load connections (4)")
    ap.add_argument("--streams", type=int, default=16,
                    help="h2load streams in flight per connection (-m, 16)")
    ap.add_argument("--h2load-threads", type=int, default=1, help="h2load threads (1)")
    ap.add_argument("--batch", type=int, default=100, help="events per batch (100)")
    ap.add_argument("--grpc-threads", type=int, default=8, help="grpcio client threads (8)")
    ap.add_argument("--skip-grpcio", action="store_true")
    ap.add_argument("--skip-http1", action="store_true",
                    help="leave out the HTTP/1.1 rows (h2load --h1 and the driver)")
    ap.add_argument("--sluice-set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--logs", default="")
    args = ap.parse_args()

    logdir = args.logs or tempfile.mkdtemp(prefix="sluice-h2bench-")
    os.makedirs(logdir, exist_ok=True)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, bench.on_signal)
    bench.BUILD = args.build
    bench.SLUICE = os.path.join(args.build, "sluice")
    driver = os.path.join(args.build, "loadtest", "driver")
    procs = bench.Procs()
    rows = []
    ceiling_rps = None
    results = {"args": vars(args)}
    status = 0
    try:
        if not args.no_build:
            path = os.path.join(logdir, "build.log")
            log(f"building {args.build} (release preset; log: {path})")
            with open(path, "w") as f:
                for argv in (["cmake", "--preset", "release", "-B", args.build],
                             ["cmake", "--build", args.build, "-j2"]):
                    subprocess.run(argv, cwd=REPO, stdout=f, stderr=subprocess.STDOUT,
                                   check=True)
        for tool in ("h2load", "nghttpd", "protoc"):
            if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
                raise RuntimeError(f"{tool} not found (scripts/deps.sh --test)")
        busy = bench.machine_busy()
        results["busy_cores_before"] = busy
        if busy > 0.25:
            log(f"WARNING: the machine is not idle ({busy:.2f} cores busy before the run)")

        rng = random.Random(7)
        evs = events(args.batch, rng)
        files = {}

        def put(name, data):
            p = os.path.join(logdir, name)
            with open(p, "wb") as f:
                f.write(data)
            files[name] = p
            return p

        put("empty.json", b'{"events":[]}')
        put("batch.json", json.dumps({"batch_id": "bench", "events": evs},
                                     separators=(",", ":")).encode())
        pbdir = os.path.join(logdir, "pb")
        os.makedirs(pbdir, exist_ok=True)
        pbmsg, E = protobuf_batch(evs, pbdir)
        put("batch.grpc", b"\0" + len(pbmsg).to_bytes(4, "big") + pbmsg)
        put("batch.pb", pbmsg)

        # sluice's h2 I/O threads: http.threads, 0 (the default) = one per CPU.
        threads = int(next((s.split("=", 1)[1] for s in args.sluice_set
                            if s.startswith("http.threads=")), "0")) or os.cpu_count()

        log("sluice (embedded broker, dedupe.window=0)")
        p, banner = bench.start_sluice(procs, logdir, "sluice",
                                       ["dedupe.window=0", *args.sluice_set])
        addr, token = banner["public"], banner["token"]
        auth = [f"authorization: Bearer {token}"]
        # The answer to an empty batch, for nghttpd to serve as its static file.
        empty_answer = subprocess.run(
            ["curl", "-s", "--http2-prior-knowledge", "-H", auth[0], "-H",
             "content-type: application/json", "--data-binary", "@" + files["empty.json"],
             f"http://{addr}/v1/events"], capture_output=True, check=True).stdout
        htdocs = os.path.join(logdir, "htdocs")
        os.makedirs(htdocs, exist_ok=True)
        with open(os.path.join(htdocs, "answer.json"), "wb") as f:
            f.write(empty_answer)

        # nghttpd: the HTTP/2 ceiling, as many worker threads as sluice has h2 threads.
        nport = bench.free_port_pair()
        nghttpd = procs.start("nghttpd", ["nghttpd", "--no-tls", "-n", str(threads), "-d", htdocs,
                                          str(nport)], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        log(f"h2load -> nghttpd ({threads} threads), empty batch")
        d = h2load(procs, args, f"http://127.0.0.1:{nport}/answer.json", files["empty.json"],
                   ["content-type: application/json"], nghttpd.pid, logdir, "nghttpd")
        d["events_per_s"] = None
        rows.append(("nghttpd, empty batch", d, 0))
        procs.stop(nghttpd, "nghttpd")
        ceiling_rps = d["req_per_s"]

        before = bench.topic_messages(procs, banner["kafka"], "sluice.raw")
        log("h2load -> sluice h2c, empty batch")
        d = h2load(procs, args, f"http://{addr}/v1/events", files["empty.json"],
                   auth + ["content-type: application/json"], p.pid, logdir, "sluice-empty")
        rows.append(("sluice h2c, empty batch", d, 0))

        json_ct = ["content-type: application/json"]
        pb_ct = ["content-type: application/x-protobuf"]
        # The same client (h2load) and the same bytes over each transport: JSON over h2c and
        # HTTP/1.1; the protobuf batch over h2c, HTTP/1.1 and gRPC (framed).
        for name, label, path, body, ctype, h1 in (
                ("sluice-batch", f"sluice h2c, {args.batch}-event batch", "/v1/events",
                 files["batch.json"], json_ct, False),
                ("sluice-h1-json", f"sluice HTTP/1.1 (h2load --h1), {args.batch}-event batch",
                 "/v1/events", files["batch.json"], json_ct, True),
                ("sluice-pb", f"sluice h2c, {args.batch}-event protobuf batch", "/v1/events",
                 files["batch.pb"], pb_ct, False),
                ("sluice-h1-pb", f"sluice HTTP/1.1 (h2load --h1), {args.batch}-event protobuf "
                 "batch", "/v1/events", files["batch.pb"], pb_ct, True),
                ("sluice-grpc", f"sluice gRPC unary (h2load), {args.batch}-event batch",
                 "/sluice.v1.Ingest/Publish", files["batch.grpc"],
                 ["content-type: application/grpc", "te: trailers"], False)):
            if args.skip_http1 and h1:
                continue
            log(f"h2load -> {label}")
            k0 = bench.topic_messages(procs, banner["kafka"], "sluice.raw")
            d = h2load(procs, args, f"http://{addr}{path}", body, auth + ctype, p.pid, logdir,
                       name, h1=h1)
            time.sleep(1.0)
            k1 = bench.topic_messages(procs, banner["kafka"], "sluice.raw")
            gained = (k1 - k0) if None not in (k0, k1) else None
            d["kafka_gained"] = gained
            # h2load sees HTTP status 200 only: what reached Kafka shows the batches were taken
            # (at least the measured requests' events; the warm-up's are there too).
            d["kafka_check"] = gained is not None and gained >= d["status_2xx"] * args.batch
            if not d["kafka_check"]:
                log(f"{label}: Kafka gained {gained} messages, fewer than "
                    f"{d['status_2xx']} x {args.batch}")
                status = 1
            rows.append((label, d, args.batch))

        if not args.skip_grpcio:
            log(f"python3-grpcio -> sluice gRPC unary ({args.grpc_threads} threads)")
            ths, counts, errors, ch = grpcio_run(args, addr, token, pbmsg, E, args.batch)
            win = CpuWindow(p.pid, args.warmup, args.duration)
            for t in ths:
                t.join(args.warmup + args.duration + 60)
            ch.close()
            cpu_s, cpu_win = win.result()
            calls = sum(counts)
            d = {"req_per_s": calls / args.duration, "done": calls, "status_2xx": calls,
                 "status_other": 0, "failed": len(errors), "cpu_s": cpu_s,
                 "cpu_window_s": cpu_win, "latency_mean": "?", "window_s": args.duration,
                 "errors": errors[:5]}
            if errors:
                status = 1
            rows.append((f"sluice gRPC unary (grpcio, {args.grpc_threads} threads)", d,
                         args.batch))

        if not args.skip_http1:
            log("loadtest/driver -> sluice HTTP/1.1")
            port = int(addr.rsplit(":", 1)[1])
            res = bench.run_json_tool(procs, "driver", [
                driver, "--port", str(port), "--connections",
                str(args.connections * args.streams), "--batch", str(args.batch),
                "--duration", str(args.duration), "--warmup", str(args.warmup), "--pid",
                str(p.pid), "--token", token, "--label", "http1", "--json"],
                args.warmup + args.duration + 120, logdir)
            d = {"req_per_s": res["requests"] / res["window_s"], "done": res["requests"],
                 "status_2xx": res["requests"] - res.get("errors", 0),
                 "status_other": 0, "failed": res.get("errors", 0),
                 "cpu_s": res["gateway_cpu_s"],
                 "cpu_window_s": res.get("cpu_window_s", res["window_s"]),
                 "latency_mean": f"p50 {res.get('p50_ms', '?')}ms", "window_s": res["window_s"],
                 "events_per_s": res["events_per_s"]}
            rows.append((f"sluice HTTP/1.1 (driver, {args.connections * args.streams} conns)",
                         d, args.batch))

        after = bench.topic_messages(procs, banner["kafka"], "sluice.raw")
        results["kafka_raw_gained"] = (after - before) if None not in (before, after) else None
        procs.stop(p, "sluice")
    except bench.Interrupted as e:
        log(f"interrupted ({e})")
        status = 130
    except Exception as e:  # noqa: BLE001 -- reported, processes cleaned up
        log(f"error: {e}")
        status = 1
    finally:
        procs.cleanup()

    # ------------------------------------------------------------------- report ----
    print(f"\nsluice HTTP/2 + gRPC benchmark ({bench.machine_busy(0.2):.2f} cores busy now; "
          f"{os.cpu_count()} CPUs shared by h2load, the server and anything else); "
          f"h2load -c {args.connections} -m {args.streams} -t {args.h2load_threads}, "
          f"{args.duration:g} s after {args.warmup:g} s warm-up; logs in {logdir}\n")
    hdr = ("scenario", "req/s", "events/s", "server cores", "CPU us/event", "CPU us/req",
           "events/s/core", "vs nghttpd req/s", "errors")
    table = []
    for label, d, batch in rows:
        cores = d["cpu_s"] / d["cpu_window_s"] if d.get("cpu_s") is not None else None
        eps = d.get("events_per_s")
        if eps is None and batch:
            eps = d["req_per_s"] * batch
        us_req = cores / d["req_per_s"] * 1e6 if cores and d["req_per_s"] else None
        us_ev = us_req / batch if us_req is not None and batch else None
        per_core = 1e6 / us_ev if us_ev else None
        vs = d["req_per_s"] / ceiling_rps if ceiling_rps else None
        table.append((label, f"{d['req_per_s']:,.0f}", f"{eps:,.0f}" if eps else "-",
                      f"{cores:.2f}" if cores is not None else "?",
                      f"{us_ev:.2f}" if us_ev else "-", f"{us_req:.1f}" if us_req else "-",
                      f"{per_core:,.0f}" if per_core else "-",
                      f"{vs * 100:.0f}%" if vs else "-",
                      str(d.get("failed", 0) + d.get("status_other", 0))))
        results[label] = d
    widths = [max(len(str(r[i])) for r in table + [hdr]) for i in range(len(hdr))]
    for r in [hdr] + table:
        print("  ".join(str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i])
                        for i, c in enumerate(r)))
    for label, d, batch in rows:
        extra = f", Kafka gained {d['kafka_gained']:,}" if d.get("kafka_gained") else ""
        print(f"  {label}: {d['done']:,} requests in the window, mean latency "
              f"{d['latency_mean']}{extra}" + (f"; errors {d['errors']}" if d.get("errors")
                                                 else ""))
    with open(os.path.join(logdir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    return status


if __name__ == "__main__":
    sys.exit(main())
