"""ctest fixture for the integration tests: a fresh single-node Kafka broker with the six
stage topics (3 partitions each), and its cleanup.

  kafka_fixture.py start KAFKA_SH DIR PORT
  kafka_fixture.py stop  KAFKA_SH DIR
"""

import os
import shutil
import subprocess
import sys
import time

TOPICS = ["sluice.raw", "sluice.identity", "sluice.consent", "sluice.decisions",
          "sluice.outcomes", "sluice.dead-letter", "sluice.privacy", "sluice.suppression"]
PARTITIONS = "3"


def run(kafka_sh, *args):
    t0 = time.monotonic()
    p = subprocess.run(["bash", kafka_sh, *args], stdin=subprocess.DEVNULL)
    print(f"kafka.sh {' '.join(args)}: exit {p.returncode} in {time.monotonic() - t0:.1f}s",
          flush=True)
    if p.returncode != 0:
        sys.exit(p.returncode)


def main(argv):
    if len(argv) == 5 and argv[1] == "start":
        kafka_sh, kdir, port = argv[2], argv[3], argv[4]
        # A broker left behind by an interrupted run would make `start` refuse; begin from a
        # clean directory so every run sees the same, empty topics.
        run(kafka_sh, "stop", kdir)
        shutil.rmtree(kdir, ignore_errors=True)
        os.makedirs(kdir, exist_ok=True)
        run(kafka_sh, "start", kdir, port)
        for topic in TOPICS:
            run(kafka_sh, "create-topic", kdir, port, topic, PARTITIONS)
        return 0
    if len(argv) == 4 and argv[1] == "stop":
        run(argv[2], "stop", argv[3])
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
