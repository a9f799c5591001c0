#!/usr/bin/env bash
# Prints the template parameter of a new VAPID key pair (P-256) for Web Push,
# `VapidPrivateKey=<base64url of the raw 32 bytes>` (the public key is derived from it):
#
#   scripts/vapid-key.sh          a new key each time
#   scripts/vapid-key.sh FILE     made once and kept in FILE (browsers' subscriptions stay valid)
set -euo pipefail
file=${1:-}
if [ -n "$file" ] && [ -s "$file" ]; then
  cat "$file"
  exit 0
fi
pem=$(mktemp)
trap 'rm -f "$pem"' EXIT
openssl ecparam -name prime256v1 -genkey -noout -out "$pem" 2>/dev/null
# The SEC1 DER of a P-256 key: 7 bytes of header, then the 32 bytes of the private scalar.
private=$(openssl ec -in "$pem" -outform DER 2>/dev/null | tail -c +8 | head -c 32 | base64 | tr '+/' '-_' | tr -d '=\n')
line="VapidPrivateKey=$private"
if [ -n "$file" ]; then
  mkdir -p "$(dirname "$file")"
  echo "$line" >"$file"
fi
echo "$line"
