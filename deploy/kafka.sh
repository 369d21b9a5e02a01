#!/usr/bin/env bash
# Apache Kafka in KRaft mode (one combined broker + controller), run from its own jars resolved from
# Maven Central by Maven (deploy/kafka/pom.xml); Java 17 required. No Docker.
#   deploy/kafka.sh start|stop|restart|status|env
# Idempotent; waits until the broker answers; prints the settings.
source "$(dirname "$0")/common.sh"

KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_HOME="$INFRA_HOME/kafka"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_DATA="$KAFKA_HOME/data"
KAFKA_PID="$KAFKA_HOME/kafka.pid"
KAFKA_LOG="$KAFKA_HOME/kafka.out"
CONFIG="$KAFKA_HOME/server.properties"
POM="$REPO_ROOT/deploy/kafka/pom.xml"

print_env() {
  cat <<ENV
KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_PORT
TEST_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT
ENV
}

resolve_jars() {
  # Re-resolve when the pom changes (a version bump), otherwise reuse the jars.
  local stamp="$KAFKA_LIBS/.pom.sha"
  local sha; sha="$(sha256sum "$POM" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sha" ]; then return 0; fi
  log "resolving Kafka jars with Maven (first run only)"
  rm -rf "$KAFKA_LIBS"; mkdir -p "$KAFKA_LIBS"
  mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_LIBS" -DincludeScope=runtime >&2
  echo "$sha" > "$stamp"
}

write_config() {
  mkdir -p "$KAFKA_DATA"
  cat > "$CONFIG" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DATA
num.partitions=3
auto.create.topics.enable=true
# One node: every internal topic has a single replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
default.replication.factor=1
min.insync.replicas=1
share.coordinator.state.topic.replication.factor=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
PROPS
  cat > "$KAFKA_HOME/log4j.properties" <<LOG
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
LOG
}

JAVA_OPTS=(-Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
           "-Dlog4j.configuration=file:$KAFKA_HOME/log4j.properties" -cp "$KAFKA_LIBS/*")

running() { [ -f "$KAFKA_PID" ] && kill -0 "$(cat "$KAFKA_PID")" 2>/dev/null; }
# The broker is ready when it accepts TCP connections on its client port and has logged its startup.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; }
ready() { port_open && grep -qE "Kafka Server started|\[BrokerServer id=1\] Transition from STARTING to STARTED" "$KAFKA_LOG"; }

start() {
  command -v java >/dev/null || { log "Java 17 is required"; exit 1; }
  if running && port_open; then log "already running on port $KAFKA_PORT"; print_env; return 0; fi
  # Another checkout's broker (or the user's own) already answers on this port: use it.
  if port_open; then log "a broker already listens on port $KAFKA_PORT; using it"; print_env; return 0; fi
  resolve_jars
  write_config
  if [ ! -f "$KAFKA_DATA/meta.properties" ]; then
    log "formatting KRaft storage"
    java "${JAVA_OPTS[@]}" kafka.tools.StorageTool format -t "${KAFKA_CLUSTER_ID:-q1Sh-9_ISia_zwGINzRvyQ}" -c "$CONFIG" --ignore-formatted >/dev/null
  fi
  : > "$KAFKA_LOG"
  # Detached from this shell so the broker outlives it (CI steps, test fixtures).
  java "${JAVA_OPTS[@]}" kafka.Kafka "$CONFIG" < /dev/null >> "$KAFKA_LOG" 2>&1 &
  disown
  echo $! > "$KAFKA_PID"
  if ! wait_for "Kafka on port $KAFKA_PORT" 120 ready; then tail -30 "$KAFKA_LOG" >&2; exit 1; fi
  log "ready on port $KAFKA_PORT"
  print_env
}

stop() {
  if running; then
    local pid; pid="$(cat "$KAFKA_PID")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$KAFKA_PID"
  log "stopped"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) if running && port_open; then echo running; else echo stopped; exit 1; fi ;;
  env) print_env ;;
  *) echo "usage: $0 start|stop|restart|status|env" >&2; exit 2 ;;
esac
