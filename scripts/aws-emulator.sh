#!/usr/bin/env bash
# Starts or stops the AWS service emulator for what DynamoDB Local does not cover (S3, SES v2, SNS,
# Secrets Manager): moto's server (PyPI `moto[server]`, pinned in scripts/requirements-dev.txt),
# listening on 127.0.0.1 only.
#
#   scripts/aws-emulator.sh start [--port 5000]
#   scripts/aws-emulator.sh stop [--port 5000]
#   scripts/aws-emulator.sh status [--port 5000]
#
# `start` returns once the emulator answers (or at once if something already listens on the port).
# It keeps its state in memory only. Pid and log files: .local/aws-emulator-<port>.{pid,log}.
# What it holds can be read at http://127.0.0.1:<port>/moto-api/ (a dashboard) and as JSON at
# http://127.0.0.1:<port>/moto-api/data.json (the emails sent through SES are under
# `ses.Message` and `ses.RawMessage`; see README).
set -euo pipefail
cd "$(dirname "$0")/.."

cmd="${1:-}"
[ $# -gt 0 ] && shift
port="${AWS_EMULATOR_PORT:-5000}"
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
venv=.local/venv
pid_file=".local/aws-emulator-$port.pid"
log_file=".local/aws-emulator-$port.log"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

answers() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/moto-api/" 2>/dev/null || true)
  [ "$code" = "200" ]
}

start() {
  if listening; then
    echo "AWS emulator: something already listens on 127.0.0.1:$port, using it"
    return
  fi
  [ -x "$venv/bin/moto_server" ] || scripts/install-deps.sh
  mkdir -p .local
  nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log_file" 2>&1 &
  echo $! >"$pid_file"
  for _ in $(seq 1 300); do
    if answers; then
      echo "AWS emulator (S3, SES, SNS, Secrets Manager): http://127.0.0.1:$port, loopback only, in memory"
      return
    fi
    if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      echo "AWS emulator exited; its log:" >&2
      cat "$log_file" >&2
      rm -f "$pid_file"
      exit 1
    fi
    sleep 0.1
  done
  echo "AWS emulator did not answer on port $port within 30 s; see $log_file" >&2
  exit 1
}

stop() {
  if [ ! -f "$pid_file" ]; then
    echo "AWS emulator: no pid file for port $port (not started by this script)"
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
  echo "AWS emulator on port $port stopped"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status)
    if answers; then echo "AWS emulator answers on 127.0.0.1:$port"; else echo "nothing answers on 127.0.0.1:$port"; exit 1; fi ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
