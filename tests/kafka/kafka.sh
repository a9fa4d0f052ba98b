#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, combined broker+controller) on loopback, for
# sluice's integration tests.  The broker jars come from Maven Central through
# tests/kafka/pom.xml; nothing else is downloaded.
#
# Usage:
#   kafka.sh fetch
#   kafka.sh start  DIR PORT        # format (first time) + launch + wait ready
#   kafka.sh stop   DIR             # SIGTERM, wait, SIGKILL; ok if not running
#   kafka.sh pause  DIR             # stop the broker, keep its data
#   kafka.sh resume DIR             # relaunch paused broker (same data/port)
#   kafka.sh kill   DIR             # SIGKILL (simulated crash); resume works after
#   kafka.sh create-topic DIR PORT NAME PARTITIONS [REPLICATION_FACTOR]
#   kafka.sh status DIR             # exit 0 if running (prints pid and port)
#
# PORT is the PLAINTEXT listener (bootstrap 127.0.0.1:PORT); the KRaft
# controller listens on PORT+1.  DIR holds server.properties, log4j2.xml,
# kafka.pid, server.log (broker log, WARN+), kafka.out (JVM stdout/stderr) and
# data/ (log.dirs).
#
# Environment:
#   SLUICE_KAFKA_HOME        install dir (default ~/.cache/sluice/kafka-4.1.1);
#                            jars go to $SLUICE_KAFKA_HOME/libs
#   SLUICE_KAFKA_HEAP        JVM heap options (default "-Xms128m -Xmx512m")
#   SLUICE_KAFKA_JVM_OPTS    replaces the default GC/JIT flags
#   SLUICE_KAFKA_CDS=0       don't create/use the AppCDS archive (see CDS_ARCHIVE)
#   SLUICE_KAFKA_EXTRA_PROPS extra server.properties lines (newline-separated),
#                            appended at start; later keys win
#   SLUICE_KAFKA_START_TIMEOUT  seconds to wait for readiness (default 90)
#   SLUICE_KAFKA_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 30)
#   MVN                      maven command (default mvn)
set -euo pipefail

KAFKA_VERSION=4.1.1
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_HOME="${SLUICE_KAFKA_HOME:-$HOME/.cache/sluice/kafka-$KAFKA_VERSION}"
LIBS="$KAFKA_HOME/libs"
STAMP="$LIBS/.sluice-complete"
START_TIMEOUT="${SLUICE_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${SLUICE_KAFKA_STOP_TIMEOUT:-30}"
HEAP_OPTS="${SLUICE_KAFKA_HEAP:--Xms128m -Xmx512m}"
# Serial GC + C1 only: ~1 s faster start on a 2-core box and far less CPU
# burnt while the tests run; throughput is irrelevant here.
JVM_OPTS="${SLUICE_KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Xss1m}"
COMMON_JVM_OPTS=(-Djava.net.preferIPv4Stack=true -Djava.awt.headless=true)
# AppCDS: the first broker run dumps the classes it loaded into a dynamic
# archive when it exits (adds ~3 s to that one stop); every later JVM started
# here (format, broker, TopicCommand) maps it and starts ~1.5 s faster.  A
# stale/mismatched archive is ignored by the JVM (-Xshare:auto).
CDS_ARCHIVE="$KAFKA_HOME/kafka-cds.jsa"
CDS="${SLUICE_KAFKA_CDS:-1}"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------- fetch ----
pom_sum() { sha256sum "$HERE/pom.xml" | cut -d' ' -f1; }

libs_ready() {
  [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$(pom_sum)" ]]
}

cmd_fetch() {
  libs_ready && return 0
  command -v "${MVN:-mvn}" >/dev/null || die "maven (mvn) not found; apt-get install maven"
  command -v java >/dev/null || die "java not found; apt-get install openjdk-17-jre-headless"
  mkdir -p "$KAFKA_HOME"
  # Serialise concurrent fetches (parallel test jobs).
  exec 9>"$KAFKA_HOME/.fetch.lock"
  flock 9
  if libs_ready; then exec 9>&-; return 0; fi
  local tmp="$KAFKA_HOME/libs.tmp.$$"
  rm -rf "$tmp"
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
  # -f points at our pom; the output directory is outside the source tree and
  # copy-dependencies writes nothing else, so the repo stays clean.
  # Output goes to a log (Maven 3.8 -q still emits ANSI resets) and is shown
  # only on failure.
  if ! "${MVN:-mvn}" -B -Dstyle.color=never -f "$HERE/pom.xml" \
        dependency:copy-dependencies -DoutputDirectory="$tmp" \
        </dev/null >"$KAFKA_HOME/fetch.log" 2>&1; then
    rm -rf "$tmp"
    grep -E 'ERROR|FAIL' "$KAFKA_HOME/fetch.log" | head -n 30 >&2 || tail -n 30 "$KAFKA_HOME/fetch.log" >&2
    die "maven failed to fetch the Kafka jars (full log: $KAFKA_HOME/fetch.log)"
  fi
  local j
  for j in kafka_2.13-* kafka-server-[0-9]* kafka-metadata-* kafka-raft-* \
           kafka-storage-[0-9]* kafka-tools-[0-9]* kafka-clients-* \
           log4j-slf4j2-impl-* log4j-core-* slf4j-api-2.*; do
    compgen -G "$tmp/$j.jar" >/dev/null || { rm -rf "$tmp"; die "missing $j jar after fetch"; }
  done
  pom_sum >"$tmp/.sluice-complete"
  rm -rf "$LIBS" "$CDS_ARCHIVE"
  mv "$tmp" "$LIBS"
  exec 9>&-
}

# -------------------------------------------------------------- helpers ----
# Flags to *use* the CDS archive, if there is one (none otherwise).
cds_use_opts() {
  if [[ "$CDS" != 0 && -s "$CDS_ARCHIVE" ]]; then
    printf '%s\n' "-XX:SharedArchiveFile=$CDS_ARCHIVE" -Xlog:cds=off -Xlog:cds+dynamic=off
  fi
}

# After the broker of DIR has exited: publish the archive it dumped (only if
# it exited cleanly on SIGTERM, i.e. PUBLISH=1; a killed JVM may have left a
# half-written file), else discard it.
cds_collect() {
  local dir="$1" publish="${2:-0}" tmp
  [[ -f "$dir/kafka.cds" ]] || return 0
  tmp="$(cat "$dir/kafka.cds")"
  rm -f "$dir/kafka.cds"
  if [[ "$publish" == 1 && -s "$tmp" && ! -e "$CDS_ARCHIVE" ]]; then
    mv -f "$tmp" "$CDS_ARCHIVE" 2>/dev/null || true
  fi
  rm -f "$tmp"
}

need_kcat() { command -v kcat >/dev/null || die "kcat not found; apt-get install kcat"; }

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd); }

# Process exists and is not a zombie (a broker that died during `start` is
# still our unreaped child, and kill -0 succeeds on zombies).
alive() {
  local st
  kill -0 "$1" 2>/dev/null || return 1
  st="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)" || return 1
  [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

# The pid in DIR/kafka.pid, if that process is alive and is *our* broker for
# DIR (guards against pid reuse after a crash/reboot).
live_pid() {
  local dir="$1" pid
  [[ -f "$dir/kafka.pid" ]] || return 1
  pid="$(cat "$dir/kafka.pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-Dsluice.kafka.dir=$dir " || return 1
  echo "$pid"
}

port_of() {
  sed -n 's#^listeners=PLAINTEXT://127\.0\.0\.1:\([0-9]*\),.*#\1#p' "$1/server.properties"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Kafka Uuid: 16 random bytes, URL-safe base64 without padding.  Kafka's own
# generator never returns ids starting with '-' (they look like CLI flags).
random_uuid() {
  local u
  while :; do
    u="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$u" != -* && "$u" != AAAAAAAAAAAAAAAAAAAAA[AQ] ]] && { echo "$u"; return; }
  done
}

write_config() {
  local dir="$1" port="$2" cport=$(( $2 + 1 ))
  cat >"$dir/server.properties" <<EOF
# Written by tests/kafka/kafka.sh -- single-node KRaft broker for tests.
node.id=1
process.roles=broker,controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
# Kafka 4.x dynamic quorum; storage is formatted with --standalone.
controller.quorum.bootstrap.servers=127.0.0.1:$cport
log.dirs=$dir/data
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# After an unclean exit (SIGKILL) the restarted broker cannot re-register
# until the controller fences its old incarnation: broker.session.timeout.ms
# (default 9 s).  Shorter here so crash/resume tests stay fast; still large
# enough not to fence a loaded 2-core CI box spuriously.
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=500
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.check.interval.ms=300000
EOF
  if [[ -n "${SLUICE_KAFKA_EXTRA_PROPS:-}" ]]; then
    printf '# SLUICE_KAFKA_EXTRA_PROPS\n%s\n' "$SLUICE_KAFKA_EXTRA_PROPS" >>"$dir/server.properties"
  fi

  cat >"$dir/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by tests/kafka/kafka.sh: everything to server.log, nothing on the console. -->
<Configuration status="ERROR">
  <Appenders>
    <File name="file" fileName="$dir/server.log" append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <!-- Lifecycle lines ("Kafka Server started", shutdown) at INFO. -->
    <Logger name="kafka.server.KafkaRaftServer" level="INFO"/>
    <Logger name="kafka.Kafka\$" level="INFO"/>
    <Root level="WARN"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
EOF

  write_tools_log4j "$dir"
}

# For the CLI tools (TopicCommand, ...): errors only, to stderr.
write_tools_log4j() {
  cat >"$1/log4j2-tools.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="ERROR">
  <Appenders><Console name="err" target="SYSTEM_ERR"><PatternLayout pattern="%p %m (%c)%n"/></Console></Appenders>
  <Loggers><Root level="ERROR"><AppenderRef ref="err"/></Root></Loggers>
</Configuration>
EOF
}

fail_with_log() {
  local dir="$1"; shift
  log "error: $*"
  if [[ -s "$dir/kafka.out" ]]; then
    log "---- tail of $dir/kafka.out ----"; tail -n 20 "$dir/kafka.out" >&2
  fi
  log "---- tail of $dir/server.log ----"
  tail -n 60 "$dir/server.log" >&2 2>/dev/null || log "(no server.log)"
  exit 1
}

# Broker answers a metadata request and lists itself.
broker_ready() {
  local port="$1" out
  # Cheap TCP probe first: Kafka only opens its listeners at the very end of
  # startup, and kcat would otherwise sit out its metadata timeout.
  port_busy "$port" || return 1
  out="$(timeout 10 kcat -b "127.0.0.1:$port" -L -m 2 -t __sluice_probe 2>/dev/null)" || return 1
  grep -q 'broker 1 at 127.0.0.1' <<<"$out"
}

# Launch the JVM on an already formatted DIR and wait until it is ready.
launch() {
  local dir="$1" port pid t0 waited=0 cds_opts=()
  port="$(port_of "$dir")"
  [[ -n "$port" ]] || die "cannot find PLAINTEXT port in $dir/server.properties"
  if pid="$(live_pid "$dir")"; then die "broker already running in $dir (pid $pid)"; fi
  port_busy "$port" && die "port $port already in use"
  port_busy "$((port + 1))" && die "controller port $((port + 1)) already in use"

  cds_collect "$dir" 0   # leftovers of a broker that died/was killed
  if [[ "$CDS" != 0 ]]; then
    if [[ -s "$CDS_ARCHIVE" ]]; then
      mapfile -t cds_opts < <(cds_use_opts)
    else
      local tmp_jsa="$KAFKA_HOME/kafka-cds.jsa.tmp.$$.$RANDOM"
      echo "$tmp_jsa" >"$dir/kafka.cds"
      cds_opts=("-XX:ArchiveClassesAtExit=$tmp_jsa" -Xlog:cds=off -Xlog:cds+dynamic=off)
    fi
  fi

  # The subshell closes every inherited fd above 2 (a test runner's pipes,
  # e.g. bats' fd 3, would otherwise stay open for the broker's lifetime and
  # hang the caller), then execs the JVM, so $! is the java pid.
  (
    for fd in /proc/self/fd/*; do
      fd="${fd##*/}"
      if (( fd > 2 )); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    # shellcheck disable=SC2086
    exec java -server $HEAP_OPTS $JVM_OPTS "${COMMON_JVM_OPTS[@]}" "${cds_opts[@]}" \
      -XX:+ExitOnOutOfMemoryError \
      -Dlog4j2.configurationFile="$dir/log4j2.xml" \
      -Dkafka.logs.dir="$dir" \
      -Dsluice.kafka.dir="$dir" \
      -cp "$LIBS/*" kafka.Kafka "$dir/server.properties"
  ) </dev/null >>"$dir/kafka.out" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/kafka.pid"

  t0=$SECONDS
  while :; do
    if ! alive "$pid"; then
      wait "$pid" 2>/dev/null || true
      rm -f "$dir/kafka.pid"
      fail_with_log "$dir" "broker exited during startup"
    fi
    if broker_ready "$port"; then break; fi
    waited=$(( SECONDS - t0 ))
    if (( waited >= START_TIMEOUT )); then
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$dir/kafka.pid"
      fail_with_log "$dir" "broker not ready on 127.0.0.1:$port after ${START_TIMEOUT}s"
    fi
    sleep 0.25
  done
  log "broker ready on 127.0.0.1:$port (pid $pid, $((SECONDS - t0))s)"
}

# ------------------------------------------------------------- commands ----
cmd_start() {
  [[ $# -eq 2 ]] || usage
  local dir port="$2"
  if ! [[ "$port" =~ ^[0-9]+$ ]] || (( port < 1 || port > 65534 )); then die "bad port: $port"; fi
  need_kcat
  cmd_fetch
  dir="$(abs_dir "$1")"
  if live_pid "$dir" >/dev/null; then die "broker already running in $dir"; fi
  write_config "$dir" "$port"
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    mkdir -p "$dir/data"
    local cds_opts=()
    mapfile -t cds_opts < <(cds_use_opts)
    # shellcheck disable=SC2086
    if ! java $JVM_OPTS "${COMMON_JVM_OPTS[@]}" "${cds_opts[@]}" \
          -Dlog4j2.configurationFile="$dir/log4j2.xml" \
          -cp "$LIBS/*" kafka.tools.StorageTool format \
          -t "$(random_uuid)" -c "$dir/server.properties" --standalone \
          </dev/null >>"$dir/kafka.out" 2>&1; then
      fail_with_log "$dir" "kafka-storage format failed"
    fi
  fi
  launch "$dir"
}

stop_pid() {
  local dir="$1" pid="$2" i
  kill -TERM "$pid" 2>/dev/null || true
  for (( i = 0; i < STOP_TIMEOUT * 10; i++ )); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    log "broker pid $pid ignored SIGTERM for ${STOP_TIMEOUT}s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.1; done
    return 1
  fi
}

cmd_stop() {
  [[ $# -eq 1 ]] || usage
  local dir pid clean=0
  [[ -d "$1" ]] || return 0
  dir="$(cd "$1" && pwd)"
  if pid="$(live_pid "$dir")"; then
    if stop_pid "$dir" "$pid"; then clean=1; fi
    log "broker in $dir stopped"
  fi
  rm -f "$dir/kafka.pid"
  cds_collect "$dir" "$clean"
}

cmd_kill() {
  [[ $# -eq 1 ]] || usage
  local dir pid
  [[ -d "$1" ]] || return 0
  dir="$(cd "$1" && pwd)"
  if pid="$(live_pid "$dir")"; then
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.05; done
  fi
  rm -f "$dir/kafka.pid"
  cds_collect "$dir" 0
}

cmd_pause() {
  [[ $# -eq 1 ]] || usage
  [[ -f "$1/server.properties" ]] || die "no broker configured in $1"
  cmd_stop "$1"
}

cmd_resume() {
  [[ $# -eq 1 ]] || usage
  local dir
  dir="$(abs_dir "$1")"
  [[ -f "$dir/data/meta.properties" ]] || die "no formatted broker in $dir; use start"
  need_kcat
  cmd_fetch
  launch "$dir"
}

cmd_status() {
  [[ $# -eq 1 ]] || usage
  local dir pid
  [[ -d "$1" ]] || { echo "not running"; return 1; }
  dir="$(cd "$1" && pwd)"
  if pid="$(live_pid "$dir")"; then
    echo "running pid=$pid port=$(port_of "$dir")"
  else
    echo "not running"; return 1
  fi
}

cmd_create_topic() {
  [[ $# -eq 4 || $# -eq 5 ]] || usage
  local dir port="$2" name="$3" parts="$4" rf="${5:-1}" t0 out n
  dir="$(abs_dir "$1")"
  [[ "$parts" =~ ^[0-9]+$ ]] || die "bad partition count: $parts"
  need_kcat
  cmd_fetch
  [[ -f "$dir/log4j2-tools.xml" ]] || write_tools_log4j "$dir"
  # Fail fast: with nobody listening TopicCommand only gives up after 60 s.
  port_busy "$port" || die "no broker listening on 127.0.0.1:$port"
  local cds_opts=()
  mapfile -t cds_opts < <(cds_use_opts)
  # shellcheck disable=SC2086
  java -Xmx256m $JVM_OPTS "${COMMON_JVM_OPTS[@]}" "${cds_opts[@]}" \
    -Dlog4j2.configurationFile="$dir/log4j2-tools.xml" \
    -cp "$LIBS/*" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "127.0.0.1:$port" --create --if-not-exists \
    --topic "$name" --partitions "$parts" --replication-factor "$rf" \
    </dev/null >/dev/null || die "TopicCommand --create $name failed"
  # CreateTopics returns once the controller has committed; wait until the
  # broker's metadata cache has a leader for every partition.
  t0=$SECONDS
  while :; do
    out="$(timeout 10 kcat -b "127.0.0.1:$port" -L -t "$name" -m 3 2>/dev/null || true)"
    n="$(grep -c 'partition [0-9]*, leader 1,' <<<"$out" || true)"
    (( n >= parts )) && break
    (( SECONDS - t0 > 30 )) && die "topic $name: only $n/$parts partitions have a leader after 30s"
    sleep 0.1
  done
}

main() {
  [[ $# -ge 1 ]] || usage
  local cmd="$1"; shift
  case "$cmd" in
    fetch)         [[ $# -eq 0 ]] || usage; cmd_fetch ;;
    start)         cmd_start "$@" ;;
    stop)          cmd_stop "$@" ;;
    pause)         cmd_pause "$@" ;;
    resume)        cmd_resume "$@" ;;
    status)        cmd_status "$@" ;;
    kill)          cmd_kill "$@" ;;
    create-topic)  cmd_create_topic "$@" ;;
    -h|--help|help) usage ;;
    *) log "unknown command: $cmd"; usage ;;
  esac
}

main "$@"
