#!/usr/bin/python3
"""sluice benchmark: gateway throughput, latency and CPU per event, against the raw
librdkafka produce ceiling, with the embedded broker and with a real Apache Kafka broker.

Run through loadtest/bench.sh (see loadtest/README.md). Python 3 standard library only.

Scenarios, in this order (each one alone on the machine):
  ceiling/mock     loadtest/ceiling --brokers mock        (raw produce, in-process mock cluster)
  sluice/embedded  sluice serve (embedded broker) + loadtest/driver
  [kafka.sh start, six stage topics]
  ceiling/kafka    loadtest/ceiling --brokers 127.0.0.1:PORT
  sluice/kafka     sluice serve --set kafka.brokers=127.0.0.1:PORT + loadtest/driver
Every process started here runs in its own session and is stopped on exit, Ctrl-C or SIGTERM.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.path.join(REPO, "build-release")
SLUICE = os.path.join(BUILD, "sluice")
DRIVER = os.path.join(BUILD, "loadtest", "driver")
CEILING = os.path.join(BUILD, "loadtest", "ceiling")
KAFKA_SH = os.path.join(REPO, "tests", "kafka", "kafka.sh")
STAGE_TOPICS = ["sluice.raw", "sluice.identity", "sluice.consent", "sluice.decisions",
                "sluice.outcomes", "sluice.dead-letter", "sluice.privacy", "sluice.suppression"]


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class Interrupted(Exception):
    pass


def on_signal(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


# ------------------------------------------------------------------ processes ----
class Procs:
    """Every child process and Kafka directory this run started, for cleanup."""

    def __init__(self):
        self.procs = []   # (name, Popen)
        self.kafka_dirs = []

    def start(self, name, argv, **kw):
        # A session of its own: a Ctrl-C on the terminal reaches only us, and we stop the
        # children in order (sluice drains, the broker stops cleanly).
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        self.procs.append((name, p))
        return p

    def run(self, name, argv, timeout, **kw):
        """Run to completion (in its own session, killed on timeout/interrupt)."""
        p = self.start(name, argv, **kw)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(p, name, grace=2)
            raise RuntimeError(f"{name} did not finish in {timeout}s")
        return p.returncode, out, err

    def stop(self, p, name, grace=20.0):
        if p.poll() is not None:
            return p.returncode
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(p.pid, sig)  # the child's own process group (its session)
            except ProcessLookupError:
                pass
            try:
                return p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                if sig == signal.SIGTERM:
                    log(f"{name} (pid {p.pid}) ignored SIGTERM for {grace}s; SIGKILL")
        return p.poll()

    def cleanup(self, keep_kafka=False):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                log(f"stopping {name} (pid {p.pid})")
                self.stop(p, name)
        self.procs = []
        for d in self.kafka_dirs:
            subprocess.run([KAFKA_SH, "stop", d], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            if not keep_kafka:
                shutil.rmtree(d, ignore_errors=True)
        self.kafka_dirs = []


# -------------------------------------------------------------------- helpers ----
def machine_busy(seconds=1.0):
    """Cores busy on the whole machine over a short interval (from /proc/stat)."""
    def read():
        v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
        return sum(v), v[3] + v[4]
    t0, i0 = read()
    time.sleep(seconds)
    t1, i1 = read()
    return (1 - (i1 - i0) / max(t1 - t0, 1)) * (os.cpu_count() or 1)


def build(logdir):
    path = os.path.join(logdir, "build.log")
    log(f"building the release preset (log: {path})")
    with open(path, "w") as f:
        for argv in (["cmake", "--preset", "release"],
                     ["cmake", "--build", "--preset", "release", "-j2"]):
            r = subprocess.run(argv, cwd=REPO, stdout=f, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                f.flush()
                with open(path) as g:
                    sys.stderr.write("".join(g.readlines()[-40:]))
                raise RuntimeError(f"{' '.join(argv)} failed (exit {r.returncode})")


def free_port_pair():
    """A loopback port P with P+1 also free (kafka.sh uses P+1 for the controller)."""
    for _ in range(200):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if p >= 65534:
            continue
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
        finally:
            t.close()
    raise RuntimeError("no free port pair")


def http_get(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


def start_sluice(procs, logdir, name, sets, ready_timeout=60):
    out_path = os.path.join(logdir, f"{name}.stdout")
    err_path = os.path.join(logdir, f"{name}.stderr")
    argv = [SLUICE, "serve", "--set", "listen.http=127.0.0.1:0",
            "--set", "listen.admin=127.0.0.1:0"]
    for s in sets:
        argv += ["--set", s]
    with open(out_path, "w") as out, open(err_path, "w") as err:
        p = procs.start(name, argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    banner = {}
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"{name} exited with {p.returncode}; see {err_path}:\n"
                               + open(err_path).read()[-2000:])
        text = open(out_path).read()
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] in ("public", "admin") and \
                    parts[1].startswith("http://"):
                banner[parts[0]] = parts[1][len("http://"):]
            elif len(parts) >= 2 and parts[0] == "kafka":
                banner["kafka"] = parts[1]
            elif len(parts) >= 2 and parts[0] == "token":
                banner["token"] = parts[1]
        if "ready for traffic" in text:
            break
        time.sleep(0.05)
    else:
        raise RuntimeError(f"{name}: no banner after {ready_timeout}s ({out_path})")
    for k in ("public", "admin"):
        if k not in banner:
            raise RuntimeError(f"{name}: banner has no {k} line ({out_path})")
    why = ""
    while time.monotonic() < deadline:
        code, body = http_get(f"http://{banner['admin']}/readyz")
        if code == 200:
            break
        why = f"{code} {body.strip()}"
        if p.poll() is not None:
            raise RuntimeError(f"{name} exited with {p.returncode} before /readyz was 200")
        time.sleep(0.1)
    else:
        raise RuntimeError(f"{name}: /readyz not 200 after {ready_timeout}s (last: {why})")
    return p, banner


def topic_messages(procs, boot, topic):
    """Sum of the high watermarks of topic's partitions (kcat -L, kcat -Q), or None."""
    try:
        rc, out, _ = procs.run("kcat-metadata", ["kcat", "-L", "-b", boot, "-t", topic], 30,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
        m = re.search(r'topic "[^"]+" with (\d+) partitions', out or "")
        if rc != 0 or m is None:
            return None
        partitions = int(m.group(1))
        argv = ["kcat", "-Q", "-b", boot]
        for p in range(partitions):
            argv += ["-t", f"{topic}:{p}:-1"]
        rc, out, _ = procs.run("kcat-offsets", argv, 30, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    except (RuntimeError, OSError):
        return None
    if rc != 0:
        return None
    total, seen = 0, 0
    for line in out.splitlines():
        bits = line.split()
        if len(bits) == 4 and bits[2] == "offset":
            total += int(bits[3])
            seen += 1
    return total if seen == partitions else None


def check_delivered(d, before, after):
    """The events the driver saw accepted must all be in the topic, each once."""
    if before is None or after is None:
        d["kafka_check"] = "not checked (kcat missing or failed)"
        return True
    n = after - before
    d["raw_topic_messages"] = n
    ok = n == d["events_accepted_all"]
    d["kafka_check"] = (f"sluice.raw gained {n:,} messages = {d['events_accepted_all']:,} events "
                        f"answered accepted" if ok else
                        f"MISMATCH: sluice.raw gained {n:,} messages but "
                        f"{d['events_accepted_all']:,} events were answered accepted")
    return ok


def run_json_tool(procs, name, argv, timeout, logdir):
    err_path = os.path.join(logdir, f"{name}.stderr")
    with open(err_path, "w") as err:
        rc, out, _ = procs.run(name, argv, timeout, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=err, text=True)
    summary = open(err_path).read()
    sys.stderr.write(summary)
    res = None
    for line in (out or "").splitlines():
        line = line.strip()
        if line.startswith("{"):
            res = json.loads(line)
    if res is None:
        raise RuntimeError(f"{name} exited with {rc} and printed no result (see {err_path})")
    res["exit_code"] = rc
    return res


def run_driver(procs, args, logdir, name, port, token, gw_pid, watch=None):
    argv = [DRIVER, "--port", str(port), "--connections", str(args.connections),
            "--batch", str(args.batch), "--duration", str(args.duration),
            "--warmup", str(args.warmup), "--threads", str(args.driver_threads),
            "--pid", str(gw_pid), "--label", name, "--json"]
    if token:
        argv += ["--token", token]
    for k, v in (watch or {}).items():
        argv += ["--watch", f"{k}={v}"]
    return run_json_tool(procs, f"driver-{name}", argv,
                         args.warmup + args.duration + 120, logdir)


def run_ceiling(procs, args, logdir, name, brokers, max_inflight=0, watch=None):
    argv = [CEILING, "--brokers", brokers, "--duration", str(args.duration),
            "--warmup", str(args.warmup), "--label", name, "--json"]
    if max_inflight:
        argv += ["--max-inflight", str(max_inflight)]
    for k, v in (watch or {}).items():
        argv += ["--watch", f"{k}={v}"]
    return run_json_tool(procs, f"ceiling-{name}", argv,
                         args.warmup + args.duration + 120, logdir)


def perf_profile(procs, args, logdir, gw_pid, port, token):
    """perf record the gateway (call graphs by DWARF unwinding) during a driver run."""
    data = os.path.join(logdir, "perf.data")
    drv = [DRIVER, "--port", str(port), "--connections", str(args.connections),
           "--batch", str(args.batch), "--duration", str(args.perf_duration),
           "--warmup", str(args.warmup), "--pid", str(gw_pid), "--label", "perf", "--json"]
    if token:
        drv += ["--token", token]
    with open(os.path.join(logdir, "driver-perf.stderr"), "w") as err:
        d = procs.start("driver-perf", drv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                        stderr=err, text=True)
        time.sleep(args.warmup)
        rc, _, perr = procs.run(
            "perf-record",
            ["perf", "record", "-e", "cpu-clock", "-F", str(args.perf_freq),
             "--call-graph", "dwarf,16384", "-p", str(gw_pid), "-o", data, "--",
             "sleep", str(args.perf_duration)],
            args.perf_duration + 120, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        dout, _ = d.communicate(timeout=args.perf_duration + args.warmup + 120)
    if rc != 0:
        raise RuntimeError(f"perf record failed: {perr[-1000:]}")
    log(f"perf data in {data}; summarising (DWARF unwinding takes a while)")
    res = summarise_perf(procs, data, logdir)
    for line in (dout or "").splitlines():
        if line.startswith("{"):
            drv = json.loads(line)
            if drv.get("events") and drv.get("gateway_cpu_s", -1) > 0:
                res["us_per_event"] = drv["gateway_cpu_s"] / drv["events"] * 1e6
                res["events_per_s"] = drv["events_per_s"]
    return res


# Where a sample's time goes. librdkafka's and libmicrohttpd's internals have no symbols in
# Debian's packages, so threads are classified by name first (librdkafka's own threads), then
# the request path (MHD-worker threads) by the first frame, leaf first, that is a known entry
# point: library-internal leaves (memcpy, malloc, syscalls) are charged to the caller, so
# "JSON parse" includes the allocations jansson makes.
PERF_THREADS = [
    ("rdk:broker", "librdkafka broker threads (batching, lz4, send, acks)"),
    ("rdk:mock", "embedded mock broker (rdk:mock)"),
    ("rdk:main", "librdkafka main threads"),
]
PERF_PARTS = [
    # Batch JSON: the arena parser (core/json), or jansson in older builds.
    ("JSON parse (sl_json_parse / jansson json_loadb)", ("sl_json_parse", "json_loadb",
                                                         "sl_json_prescan")),
    ("JSON re-serialise (jansson json_dump_callback)", ("json_dump_callback", "dump_to_buf")),
    ("request teardown (arena free, json_delete)", ("json_delete", "sl_arena_destroy",
                                                    "sl_request_free")),
    ("decode/validate/key/route (lookups, timestamps)", ("sl_stage_decode",
                                                         "sl_stage_validate", "stage_key",
                                                         "stage_route", "validate_event",
                                                         "id_field", "sl_json_get",
                                                         "sl_json_str", "sl_time_parse")),
    ("JWT verify", ("sl_stage_auth", "sl_auth_verify")),
    ("produce call (rd_kafka_producev + headers)", ("sl_sink_produce", "rd_kafka_producev",
                                                    "rd_kafka_header")),
    ("answer build + queue", ("sl_answer_build", "send_answer", "sl_response_render")),
    ("delivery reports (sink poll thread)", ("poll_main", "sl_pipeline_on_delivery",
                                             "on_delivery")),
    ("health checks (metadata)", ("health_main", "check_health")),
    ("request setup (arena, config ref)", ("sl_request_new", "begin", "sl_arena_new")),
    ("pipeline, other (stage_produce loop, metrics)", ("sl_pipeline_submit", "stage_produce",
                                                       "sl_metrics")),
    ("HTTP body copy (on_request append)", ("append", "on_request")),
]
HTTP_PART = "HTTP (libmicrohttpd: socket I/O, head parsing, epoll, suspend/resume)"


def classify(comm, syms):
    for prefix, label in PERF_THREADS:
        if comm.startswith(prefix):
            return label
    for sym, _ in syms:
        name = sym.split("+")[0]
        for label, prefixes in PERF_PARTS:
            if any(name.startswith(px) for px in prefixes):
                return label
    if any(dso.startswith("libmicrohttpd") for _, dso in syms):
        return HTTP_PART
    return f"other ({comm} threads)"


def summarise_perf(procs, data, logdir):
    rc, out, err = procs.run(
        "perf-script", ["perf", "script", "-i", data, "-F", "comm,tid,ip,sym,dso"], 1800,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if rc != 0:
        raise RuntimeError(f"perf script failed: {err[-1000:]}")
    parts, leaves, dsos, others = {}, {}, {}, {}
    total = kernel = 0
    for block in out.split("\n\n"):
        lines = [l for l in block.splitlines() if l.strip()]
        if not lines:
            continue
        comm = lines[0].split()[0] if lines[0].split() else "?"
        syms = []
        for f in lines[1:]:
            bits = f.strip().split(None, 1)
            rest = bits[1] if len(bits) > 1 else ""
            if " (" in rest:
                sym, dso = rest.rsplit(" (", 1)
                dso = os.path.basename(dso.rstrip(")"))
            else:
                sym, dso = rest, "?"
            syms.append((sym, dso))
        total += 1
        if syms:
            leaf = syms[0][0].split("+")[0]
            if leaf == "[unknown]":
                leaf = f"[{syms[0][1]}]"
            leaves[leaf] = leaves.get(leaf, 0) + 1
            dsos[syms[0][1]] = dsos.get(syms[0][1], 0) + 1
            kernel += syms[0][1].startswith("[kernel")
        part = classify(comm, syms)
        parts[part] = parts.get(part, 0) + 1
        if part.startswith("other") or part == HTTP_PART:
            key = part + " <- " + " <- ".join(
                f"{s.split('+')[0]}@{d}" for s, d in syms[:8])
            others[key] = others.get(key, 0) + 1
    with open(os.path.join(logdir, "perf-summary.txt"), "w") as f:
        for title, tab in (("by part (inclusive of callees)", parts), ("by leaf DSO", dsos),
                           ("top leaf functions", leaves),
                           ("top stacks of HTTP/other", others)):
            f.write(f"{title}:\n")
            for k, v in sorted(tab.items(), key=lambda kv: -kv[1])[:40]:
                f.write(f"  {100.0 * v / max(total, 1):5.1f}%  {k}\n")
    return {"samples": total, "kernel_samples": kernel, "parts": parts, "dsos": dsos,
            "leaves": leaves}


# --------------------------------------------------------------------- report ----
def fmt_int(v):
    return "-" if v is None else f"{v:,.0f}"


def fmt(v, nd=1):
    return "-" if v is None else f"{v:.{nd}f}"


def gateway_row(name, d, ceiling):
    win = d.get("cpu_window_s", d["window_s"])
    cpu = d["gateway_cpu_s"]
    eps = d["events_per_s"]
    us_per_event = cpu / d["events"] * 1e6 if d["events"] and cpu >= 0 else None
    per_core = 1e6 / us_per_event if us_per_event else None
    ceil = ceiling["msgs_per_s"] if ceiling else None
    ratio = f"{100.0 * eps / ceil:.1f}%" if ceil else "-"
    return [name, fmt_int(eps), fmt(d["p50_ms"], 2), fmt(d["p99_ms"], 2), fmt(us_per_event, 2),
            fmt_int(per_core), fmt_int(ceil), ratio]


def print_table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = " | ".join(h.ljust(widths[i]) if i == 0 else h.rjust(widths[i])
                      for i, h in enumerate(header))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i])
                         for i, c in enumerate(r)))


def threads_str(groups, win):
    items = sorted(groups.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v / win:.2f}" for k, v in items if v >= 0.005)


def report(args, results):
    print()
    print(f"sluice benchmark: {args.connections} connections x {args.batch}-event batches, "
          f"{args.duration:g} s measured after {args.warmup:g} s warm-up, "
          f"{os.cpu_count()} CPUs (shared by driver, gateway and broker); "
          f"{results.get('idle_check_busy_cores', 0):.2f} cores busy before the run; "
          f"revision {results.get('revision', '?')}")
    header = ["scenario", "events/s", "p50 ms", "p99 ms", "gw CPU us/event",
              "events/s per gw core", "ceiling events/s", "gw/ceiling"]
    rows = []
    for key, title in (("embedded", "sluice + embedded broker"),
                       ("kafka", "sluice + Kafka 4.1.1 (1 node)")):
        if key in results.get("sluice", {}):
            rows.append(gateway_row(title, results["sluice"][key],
                                    results.get("ceiling", {}).get(key)))
    for key, title in (("embedded", "raw produce, mock cluster"),
                       ("kafka", "raw produce, Kafka 4.1.1")):
        c = results.get("ceiling", {}).get(key)
        if c:
            us = c["cpu_s"] / (c["msgs_per_s"] * c["window_s"]) * 1e6 if c["msgs_per_s"] else None
            per_core = c["msgs_per_s"] / (c["cpu_s"] / c["window_s"]) if c["cpu_s"] > 0 else None
            rows.append([f"  ceiling: {title}", fmt_int(c["msgs_per_s"]), "-", "-", fmt(us, 2),
                         fmt_int(per_core), fmt_int(c["msgs_per_s"]), "100%"])
    print()
    print_table(rows, header)
    print()
    print("details (CPU figures are cores = CPU-seconds per second of the measured window):")
    for key in ("embedded", "kafka"):
        d = results.get("sluice", {}).get(key)
        if d:
            win = d.get("cpu_window_s", d["window_s"])
            print(f"  sluice/{key}: {d['events']:,} events in {d['window_s']:.2f} s, {d['requests']:,} "
                  f"requests; p90 {d['p90_ms']:.2f} ms, p99.9 {d['p999_ms']:.2f} ms, max "
                  f"{d['max_ms']:.2f} ms; errors {d['errors']} "
                  f"{json.dumps(d['error_kinds']) if d['error_kinds'] else ''}")
            print(f"    event {d['event_bytes']:.0f} B, body {d['body_bytes']:.0f} B; gateway "
                  f"{d['gateway_cpu_s'] / win:.2f} cores [{threads_str(d['gateway_threads'], win)}]")
            extra = "".join(f", {k} {v / win:.2f} cores" for k, v in d["watch_cpu_s"].items())
            known = (d["gateway_cpu_s"] + d["driver_cpu_s"] +
                     sum(v for v in d["watch_cpu_s"].values() if v > 0)) / win
            print(f"    driver {d['driver_cpu_s'] / win:.2f} cores{extra}; machine busy "
                  f"{d['machine_busy_cores']:.2f} of {d['ncpu']} cores, of which "
                  f"{max(d['machine_busy_cores'] - known, 0):.2f} by anything else "
                  "(kernel softirq, other processes)")
            if "kafka_check" in d:
                print(f"    delivery check (whole run incl. warm-up): {d['kafka_check']}")
        c = results.get("ceiling", {}).get(key)
        if c:
            win = c["window_s"]
            extra = f", broker JVM {c['watch_cpu_s'] / win:.2f} cores" if c.get("watch_cpu_s", -1) >= 0 else ""
            print(f"  ceiling/{key}: {c['msgs_per_s']:,.0f} msgs/s of {c['value_bytes']:.0f} B "
                  f"+ key + 3 headers; producer process {c['cpu_s'] / win:.2f} cores "
                  f"[{threads_str(c['threads'], win)}]{extra}; failed {c['failed']}")
        m = results.get("ceiling_matched", {}).get(key)
        if m:
            print(f"  ceiling/{key} with at most {m['max_inflight']} messages in flight (the "
                  f"driver's {args.connections}x{args.batch}): {m['msgs_per_s']:,.0f} msgs/s, "
                  f"{m['cpu_s'] / m['window_s']:.2f} cores, "
                  f"{m['cpu_s'] / max(m['msgs_per_s'] * m['window_s'], 1) * 1e6:.2f} us/msg")
    p = results.get("perf")
    if p:
        print()
        upe = p.get("us_per_event")
        print(f"profile of sluice/embedded under the same load (perf, {p['samples']:,} samples of "
              f"all gateway threads; share of the gateway's CPU"
              + (f", and us/event at the {upe:.2f} us/event measured during the profile "
                 f"at {p['events_per_s']:,.0f} events/s" if upe else "") + "):")
        for k, v in sorted(p["parts"].items(), key=lambda kv: -kv[1]):
            share = v / max(p["samples"], 1)
            cost = f"  {share * upe:5.2f} us" if upe else ""
            print(f"  {100.0 * share:5.1f}%{cost}  {k}")
        print(f"  ({100.0 * p.get('kernel_samples', 0) / max(p['samples'], 1):.1f}% of all "
              "samples are in the kernel: syscalls, TCP loopback, scheduling)")
        print("  top leaf functions:")
        for k, v in sorted(p["leaves"].items(), key=lambda kv: -kv[1])[:15]:
            print(f"  {100.0 * v / max(p['samples'], 1):5.1f}%    {k}")
    print()
    print("gw CPU us/event = gateway process CPU (all threads, /proc utime+stime) / events "
          "accepted; events/s per gw core = events/s / gateway cores used. The embedded "
          "broker runs inside the gateway process, so its CPU is in the embedded row. "
          "2 shared cores: compare ratios within one run, not absolute numbers.")
    sys.stdout.flush()


# ----------------------------------------------------------------------- main ----
def main():
    ap = argparse.ArgumentParser(
        prog="loadtest/bench.sh",
        description="Benchmark sluice (embedded broker and real Kafka) against the raw "
                    "librdkafka produce ceiling; prints one table.")
    ap.add_argument("--duration", type=float, default=10, help="measured seconds (default 10)")
    ap.add_argument("--warmup", type=float, default=2, help="warm-up seconds (default 2)")
    ap.add_argument("--connections", type=int, default=16, help="driver connections (16)")
    ap.add_argument("--batch", type=int, default=100, help="events per request (100)")
    ap.add_argument("--driver-threads", type=int, default=1, help="driver epoll threads (1)")
    ap.add_argument("--skip-real", action="store_true", help="skip the real Kafka broker")
    ap.add_argument("--skip-embedded", action="store_true", help="skip the embedded broker")
    ap.add_argument("--no-build", action="store_true", help="use the existing build-release")
    ap.add_argument("--no-matched-ceiling", action="store_true",
                    help="skip the extra ceiling runs limited to the driver's events in flight")
    ap.add_argument("--perf", action="store_true",
                    help="afterwards, profile sluice/embedded with perf (needs perf)")
    ap.add_argument("--perf-duration", type=float, default=5)
    ap.add_argument("--perf-freq", type=int, default=499)
    ap.add_argument("--partitions", type=int, default=6,
                    help="partitions of the stage topics on the real broker (6, as embedded)")
    ap.add_argument("--sluice-set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra --set for both gateway runs (repeatable), e.g. "
                         "http.threads=1; the ceiling keeps the default producer settings")
    ap.add_argument("--kafka-port", type=int, default=0, help="broker port (default: free)")
    ap.add_argument("--logs", default="", help="directory for logs and results.json "
                    "(default: a new temporary directory)")
    ap.add_argument("--keep-kafka", action="store_true", help="keep the broker's directory")
    args = ap.parse_args()
    if args.connections < 1 or args.batch < 1 or args.duration <= 0 or args.warmup < 0:
        ap.error("connections and batch must be >= 1, duration > 0, warmup >= 0")

    logdir = args.logs or tempfile.mkdtemp(prefix="sluice-bench-")
    os.makedirs(logdir, exist_ok=True)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    procs = Procs()
    results = {"args": vars(args), "sluice": {}, "ceiling": {}, "ceiling_matched": {}}
    status = 0
    try:
        if not args.no_build:
            build(logdir)
        for path in (SLUICE, DRIVER, CEILING):
            if not os.access(path, os.X_OK):
                raise RuntimeError(f"{path} missing: build the release preset first")
        inflight = args.connections * args.batch
        try:
            results["revision"] = subprocess.run(
                ["git", "-C", REPO, "describe", "--always", "--dirty"], capture_output=True,
                text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            results["revision"] = "?"
        busy = machine_busy()
        results["idle_check_busy_cores"] = busy
        if busy > 0.25:
            log(f"WARNING: the machine is not idle ({busy:.2f} cores busy before the run); "
                "other work will skew the numbers")

        if not args.skip_embedded:
            log("ceiling: raw produce to an in-process mock cluster")
            results["ceiling"]["embedded"] = run_ceiling(procs, args, logdir, "mock", "mock")
            if not args.no_matched_ceiling:
                results["ceiling_matched"]["embedded"] = run_ceiling(
                    procs, args, logdir, "mock-matched", "mock", max_inflight=inflight)
            log("sluice with the embedded broker")
            p, banner = start_sluice(procs, logdir, "sluice-embedded", args.sluice_set)
            port = int(banner["public"].rsplit(":", 1)[1])
            before = topic_messages(procs, banner["kafka"], "sluice.raw")
            d = run_driver(procs, args, logdir, "embedded", port, banner.get("token"), p.pid)
            check_delivered(d, before, topic_messages(procs, banner["kafka"], "sluice.raw"))
            results["sluice"]["embedded"] = d
            if args.perf:
                if shutil.which("perf") is None:
                    log("perf not found; skipping the profile")
                else:
                    log(f"profiling sluice/embedded for {args.perf_duration:g} s with perf")
                    results["perf"] = perf_profile(procs, args, logdir, p.pid, port,
                                                   banner.get("token"))
            procs.stop(p, "sluice-embedded")

        if not args.skip_real:
            kdir = tempfile.mkdtemp(prefix="sluice-bench-kafka-")
            procs.kafka_dirs.append(kdir)
            kport = args.kafka_port or free_port_pair()
            log(f"starting Kafka on 127.0.0.1:{kport} in {kdir}")
            rc, _, _ = procs.run("kafka.sh-fetch", [KAFKA_SH, "fetch"], 1800,
                                 stdin=subprocess.DEVNULL)
            if rc != 0:
                raise RuntimeError("kafka.sh fetch failed")
            rc, _, _ = procs.run("kafka.sh-start", [KAFKA_SH, "start", kdir, str(kport)], 300,
                                 stdin=subprocess.DEVNULL)
            if rc != 0:
                raise RuntimeError("kafka.sh start failed")
            for t in STAGE_TOPICS:
                rc, _, _ = procs.run(f"create-topic-{t}",
                                     [KAFKA_SH, "create-topic", kdir, str(kport), t,
                                      str(args.partitions)], 180, stdin=subprocess.DEVNULL)
                if rc != 0:
                    raise RuntimeError(f"creating topic {t} failed")
            kpid = int(open(os.path.join(kdir, "kafka.pid")).read().strip())
            boot = f"127.0.0.1:{kport}"
            log("ceiling: raw produce to the Kafka broker")
            results["ceiling"]["kafka"] = run_ceiling(procs, args, logdir, "kafka", boot,
                                                      watch={"kafka": kpid})
            if not args.no_matched_ceiling:
                results["ceiling_matched"]["kafka"] = run_ceiling(
                    procs, args, logdir, "kafka-matched", boot, max_inflight=inflight,
                    watch={"kafka": kpid})
            secret = secrets.token_hex(24)  # 48 bytes
            # The repo's privacy policy runs as in production: its HMAC key from a file.
            hmac_key = os.path.join(logdir, "hmac.key")
            with open(hmac_key, "w") as f:
                f.write(secrets.token_hex(24))
            sets = [f"kafka.brokers={boot}", f"auth.secret={secret}",
                    f"policies.hmac_key_file={hmac_key}"] + args.sluice_set
            rc, tok, err = procs.run("sluice-token",
                                     [SLUICE, "token", "--tenant", "bench", "--ttl", "2h",
                                      "--set", f"auth.secret={secret}"], 30,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
            if rc != 0:
                raise RuntimeError(f"sluice token failed: {err}")
            log("sluice with the Kafka broker")
            p, banner = start_sluice(procs, logdir, "sluice-kafka", sets)
            port = int(banner["public"].rsplit(":", 1)[1])
            before = topic_messages(procs, boot, "sluice.raw")
            d = run_driver(procs, args, logdir, "kafka", port, tok.strip(), p.pid,
                           watch={"kafka": kpid})
            check_delivered(d, before, topic_messages(procs, boot, "sluice.raw"))
            results["sluice"]["kafka"] = d
            procs.stop(p, "sluice-kafka")

        report(args, results)
        for key, d in results["sluice"].items():
            if d["errors"] or d["errors_total"] or d["abandoned"] or d["exit_code"] or \
                    d.get("kafka_check", "").startswith("MISMATCH"):
                status = 1
        for key, c in list(results["ceiling"].items()) + list(results["ceiling_matched"].items()):
            if c["failed"] or c["unfinished"] or c["exit_code"]:
                status = 1
    except Interrupted as e:
        log(f"interrupted ({e}); cleaning up")
        status = 130
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as e:
        log(f"error: {e}")
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        procs.cleanup(keep_kafka=args.keep_kafka)
        with open(os.path.join(logdir, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
        log(f"logs and results.json in {logdir}")
    return status


if __name__ == "__main__":
    sys.exit(main())
