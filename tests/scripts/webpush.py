#!/usr/bin/env python3
"""A browser's side of Web Push for the end-to-end tests, with an implementation independent of
the project's (PyPI `http-ece` and `cryptography`):

    webpush.py keys                      -> {"private": <PEM>, "p256dh": <b64url>, "auth": <b64url>}
    webpush.py vapid                     -> {"private": <b64url raw 32 bytes>}
    webpush.py decrypt <keys.json>       -> the plaintext of the aes128gcm body read from stdin
"""

import base64
import json
import os
import sys

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main() -> int:
    command = sys.argv[1]
    if command == "keys":
        key = ec.generate_private_key(ec.SECP256R1())
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        print(json.dumps({"private": pem, "p256dh": b64(public), "auth": b64(os.urandom(16))}))
    elif command == "vapid":
        key = ec.generate_private_key(ec.SECP256R1())
        print(json.dumps({"private": b64(key.private_numbers().private_value.to_bytes(32, "big"))}))
    elif command == "decrypt":
        keys = json.load(open(sys.argv[2]))
        key = serialization.load_pem_private_key(keys["private"].encode(), password=None)
        body = sys.stdin.buffer.read()
        plain = http_ece.decrypt(body, private_key=key, auth_secret=unb64(keys["auth"]), version="aes128gcm")
        sys.stdout.write(plain.decode())
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
