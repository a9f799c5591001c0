#!/usr/bin/env python3
"""The emails sent through the AWS emulator's SES, oldest first.

    scripts/sent-emails.py [--endpoint http://127.0.0.1:5000] [--to ADDRESS] [--full]

Each email is listed with its recipients and subject; `--full` also prints its plain-text part
(links included), and `--to` keeps the emails to one address. The emulator keeps what was sent in
memory, readable as JSON at <endpoint>/moto-api/data.json (`ses.RawMessage`).
"""

import argparse
import email
import email.policy
import json
import sys
import urllib.request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="http://127.0.0.1:5000")
    parser.add_argument("--to", help="only the emails to this address")
    parser.add_argument("--full", action="store_true", help="print each email's text part")
    args = parser.parse_args()
    url = args.endpoint.rstrip("/") + "/moto-api/data.json"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            data = json.load(response)
    except OSError as e:
        print(f"the AWS emulator at {args.endpoint} does not answer ({e}): is `make dev` running?", file=sys.stderr)
        return 1
    sent = data.get("ses", {}).get("RawMessage", [])
    shown = 0
    for item in sent:
        message = email.message_from_string(item["raw_data"], policy=email.policy.default)
        recipients = sorted(set(item.get("destinations") or []))
        if args.to and args.to.lower() not in (r.lower() for r in recipients):
            continue
        shown += 1
        print(f"--- {message['Date']}  to {', '.join(recipients)}")
        print(f"From: {message['From']}")
        print(f"Subject: {message['Subject']}")
        if args.full:
            text = message.get_body(preferencelist=("plain",))
            print()
            print(text.get_content().rstrip() if text else "(no text part)")
        print()
    print(f"{shown} email(s)" + (f" to {args.to}" if args.to else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
