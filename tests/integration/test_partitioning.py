"""Partitioning matches the Java client's default partitioner, against the Java client itself.

Kafka Streams, Flink and plain Java consumers co-partition topics by assuming every producer
placed a keyed record in toPositive(murmur2(key bytes)) % partitions.  sluice sets
partitioner=murmur2_random (gateway/sink/sink.c) for that; librdkafka's default,
consistent_random, uses crc32 instead and would put about two keys in three elsewhere.

The test posts events with about 200 distinct user_ids (ASCII, non-ASCII, every length class
of murmur2's 4-byte tail, long ones up to limits.max_id_bytes) through sluice to the real broker,
reads the partition of every message back with kcat, and asks the Java client which partition
it would pick for the same key bytes: tests/integration/java/Partition.java, compiled with javac
and run against the kafka-clients jar that tests/kafka/kafka.sh fetched from Maven Central.
"""

import glob
import json
import os
import re
import subprocess
import zlib

import sluice_it as it

JAVA_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "java", "Partition.java")
MAX_ID = 4096  # limits.max_id_bytes for this test (default 128): long keys get through


def kafka_libs():
    """The jar directory of tests/kafka/kafka.sh: $SLUICE_KAFKA_HOME/libs, by default
    ~/.cache/sluice/kafka-$KAFKA_VERSION/libs with KAFKA_VERSION read from kafka.sh."""
    home = os.environ.get("SLUICE_KAFKA_HOME")
    if not home:
        with open(it.env("KAFKA_SH"), encoding="utf-8") as f:
            m = re.search(r"^KAFKA_VERSION=(\S+)\s*$", f.read(), re.M)
        if m is None:
            raise RuntimeError("no KAFKA_VERSION= line in " + it.env("KAFKA_SH"))
        home = os.path.join(os.path.expanduser("~"), ".cache", "sluice", "kafka-" + m.group(1))
    return os.path.join(home, "libs")


def one_jar(libs, pattern):
    jars = sorted(j for j in glob.glob(os.path.join(libs, pattern))
                  if not re.search(r"-(test|tests|sources|javadoc)\.jar$", j))
    if len(jars) != 1:
        raise RuntimeError(f"want exactly one {pattern} in {libs} (kafka.sh fetch puts the "
                           f"broker's jars there), found {jars}")
    return jars[0]


def partition_count(topic):
    p = subprocess.run(["kcat", "-b", it.bootstrap(), "-L", "-J", "-t", topic],
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"kcat -L failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    md = json.loads(p.stdout)
    for t in md["topics"]:
        if t["topic"] == topic:
            return len(t["partitions"])
    raise RuntimeError(f"topic {topic} not in the metadata: {md}")


def sample_keys():
    """~200 distinct keys, no CR/LF (Partition.java reads one per line), all valid UTF-8,
    each at most MAX_ID bytes."""
    keys = [f"user-{i}" for i in range(100)]
    keys += [str(i) for i in range(10)]  # one byte
    # Every length 1..24, so murmur2's tail (len % 4 = 0..3) is hit with ASCII and non-ASCII
    # bytes (sign extension of bytes >= 0x80 is where ports of murmur2 go wrong).
    keys += ["k" * n for n in range(2, 25)]
    keys += [("\u00e9" * 12).encode()[:n].decode("utf-8", "ignore") + "#" + str(n)
             for n in range(1, 13)]
    keys += [
        "jos\u00e9", "Zo\u00eb", "Fran\u00e7ois M\u00fcller", "\u00df", "\u00ff\u00fe",
        "e\u0301",                                   # combining accent (not normalised)
        "\u5317\u4eac-\u7528\u6237-42",              # Chinese
        "\u30e6\u30fc\u30b6\u30fc42",                # Japanese
        "\uc0ac\uc6a9\uc790",                        # Korean
        "\u043f\u043e\u043b\u044c\u0437\u043e\u0432\u0430\u0442\u0435\u043b\u044c",  # Russian
        "\u0645\u0633\u062a\u062e\u062f\u0645",      # Arabic (RTL)
        "\u05de\u05e9\u05ea\u05de\u05e9",            # Hebrew
        "\u0909\u092a\u092f\u094b\u0917\u0915\u0930\u094d\u0924\u093e",  # Hindi
        "\u0e1c\u0e39\u0e49\u0e43\u0e0a\u0e49",      # Thai
        "\u03c7\u03c1\u03ae\u03c3\u03c4\u03b7\u03c2",  # Greek
        "\U0001F642user", "user\U0001F600", "\U0001F469\u200d\U0001F4BB",  # 4-byte, ZWJ
        "\U0001F1EB\U0001F1F7", "\U00010348", "\U0010FFFD",  # flag, Gothic, last plane
        "\ufeffbom-first", "\u2028line-sep", "nbsp\u00a0x", "\ufb01ligature",
        "tab\there", "quote\"back\\slash", "{tenant}:{user_id}", "a:b:c", "%00%ff",
        "null", "  spaces  ", "<script>", "\u00a9\u00ae\u2122",
    ]
    keys += [f"\u00fcser-{i}-\u00f1" for i in range(20)]
    # Long keys: around the default limit (128) and far past it, ASCII and multi-byte.
    for n in (100, 127, 128, 129, 255, 256, 257, 511, 1000, 1023, 1024, 2047, 4093, 4095, 4096):
        keys.append(("L%d-" % n + "abcdefghij" * 410)[:n])
    keys += ["\u00fc" * 600, "\u00fc" * 2048, "\u20ac" * 1365, "\U0001F600" * 1024,
             "x" + "\U0001F600" * 1023, "xy" + "\u4e2d" * 1364]
    assert len(set(keys)) == len(keys), "keys must be distinct"
    for k in keys:
        b = k.encode("utf-8")
        assert 0 < len(b) <= MAX_ID and b"\n" not in b and b"\r" not in b, repr(k[:40])
    return keys


class PartitioningTest(it.SluiceTestCase):
    SETS = (f"limits.max_id_bytes={MAX_ID}",)

    @classmethod
    def java_partitions(cls, keys, n):
        """[(murmur2, builtin or None, key bytes)] from the Java client, one per key."""
        libs = kafka_libs()
        clients = one_jar(libs, "kafka-clients-*.jar")
        slf4j = one_jar(libs, "slf4j-api-*.jar")  # Utils logs through SLF4J
        print(f"kafka-clients jar: {clients}", flush=True)
        classes = os.path.join(cls.tmp.name, "classes")
        os.makedirs(classes, exist_ok=True)
        p = subprocess.run(["javac", "-encoding", "UTF-8", "-cp", clients, "-d", classes,
                            JAVA_SRC], capture_output=True, text=True, timeout=180)
        if p.returncode != 0:
            raise RuntimeError(f"javac failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        stdin = b"".join(k + b"\n" for k in keys)
        p = subprocess.run(["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1",
                            "-cp", os.pathsep.join([classes, clients, slf4j]),
                            "Partition", str(n)], input=stdin, capture_output=True,
                           timeout=180)
        if p.returncode != 0:
            raise RuntimeError(f"java Partition failed ({p.returncode}):\n"
                               f"{p.stderr.decode(errors='replace')}")
        lines = p.stdout.decode("utf-8").splitlines()
        print(f"java: {lines[0]}", flush=True)
        out = []
        for line in lines[1:]:
            murmur, builtin, hexkey = line.split(" ")
            out.append((int(murmur), None if builtin == "-" else int(builtin),
                        bytes.fromhex(hexkey)))
        if len(out) != len(keys):
            raise RuntimeError(f"java answered {len(out)} lines for {len(keys)} keys")
        return out

    def test_partition_of_every_key_matches_the_java_client(self):
        keys = sample_keys()
        n = partition_count(it.RAW_TOPIC)
        self.assertGreaterEqual(n, 2, f"{it.RAW_TOPIC} needs several partitions for this test")

        # Posted in two batches: JSON with \u escapes (surrogate pairs for the 4-byte
        # characters) and raw UTF-8, so both decoder paths produce the key bytes.
        p = it.unique("part")
        events = [it.event(f"{p}-{i}", user_id=k) for i, k in enumerate(keys)]
        half = len(events) // 2
        for body in (json.dumps(it.batch(events[:half]), ensure_ascii=True).encode(),
                     json.dumps(it.batch(events[half:]), ensure_ascii=False).encode()):
            r = self.post(body)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["accepted"], r.json["received"], r)

        # Answered 200 only after every delivery report: all readable now.
        by_id = it.messages_by_event_id_raw(prefix=p)
        sent = {f"{p}-{i}": k for i, k in enumerate(keys)}
        self.assertEqual(sorted(by_id), sorted(sent), "every event exactly in sluice.raw")
        produced = []  # (key bytes as in Kafka, partition sluice produced to, user_id)
        key_is_user_id = 0
        for eid, msgs in sorted(by_id.items()):
            self.assertEqual(len(msgs), 1, f"{eid} produced once")
            key, uid = msgs[0]["key"], sent[eid].encode("utf-8")
            self.assertIsNotNone(key, f"{eid}: keyed by user_id, not NULL")
            # The partition is checked for the key bytes as they are in Kafka; they must carry
            # the user_id (today they are exactly it: no key template, policy off here).
            self.assertIn(uid, key, f"{eid}: the key carries the user_id")
            key_is_user_id += key == uid
            produced.append((key, msgs[0]["partition"], sent[eid]))
        self.assertEqual(len({k for k, _, _ in produced}), len(keys), "distinct keys")

        java = self.java_partitions([k for k, _, _ in produced], n)

        builtin_agree = sluice_agree = crc32_agree = crc32_differs = 0
        builtin_checked = 0
        mismatches = []
        for (key, part, uid), (murmur, builtin, java_key) in zip(produced, java):
            self.assertEqual(java_key, key, f"Java hashed other bytes than the key of {uid!r}")
            if builtin is not None:
                builtin_checked += 1
                builtin_agree += builtin == murmur
            crc = zlib.crc32(key) % n  # librdkafka's default, consistent_random
            crc32_differs += crc != murmur
            crc32_agree += crc == part
            if part == murmur:
                sluice_agree += 1
            else:
                mismatches.append(f"  {uid[:40]!r} ({len(key)} bytes): sluice {part}, "
                                  f"Java {murmur}, crc32 {crc}")

        loads = [sum(1 for _, part, _ in produced if part == i) for i in range(n)]
        print(f"partitioning: {len(produced)} keys checked on {it.RAW_TOPIC} ({n} partitions, "
              f"{key_is_user_id} keys exactly the user_id, longest "
              f"{max(len(k) for k, _, _ in produced)} bytes, "
              f"{sum(1 for k, _, _ in produced if max(k) >= 0x80)} non-ASCII); "
              f"per-partition load {loads}", flush=True)
        print(f"partitioning: Java Utils.murmur2 vs BuiltInPartitioner.partitionForKey agree on "
              f"{builtin_agree}/{builtin_checked}; sluice's partition agrees with the Java client "
              f"on {sluice_agree}/{len(produced)}; crc32 (librdkafka's default) would have put "
              f"{crc32_differs}/{len(produced)} elsewhere, and agrees with sluice on "
              f"{crc32_agree}/{len(produced)}", flush=True)

        # The check has teeth: crc32 and murmur2 disagree on most keys, and the keys spread.
        self.assertGreater(crc32_differs, len(produced) // 4,
                           "crc32 and murmur2 should disagree on many keys")
        self.assertTrue(all(loads), f"every partition gets keys: {loads}")
        if builtin_checked:
            self.assertEqual(builtin_agree, builtin_checked,
                             "Utils.murmur2 and BuiltInPartitioner.partitionForKey disagree")
        self.assertEqual(sluice_agree, len(produced),
                         f"{len(mismatches)} keys in another partition than the Java client's "
                         f"(partitioner=murmur2_random in gateway/sink/sink.c?):\n" +
                         "\n".join(mismatches[:30]))


if __name__ == "__main__":
    it.main()
