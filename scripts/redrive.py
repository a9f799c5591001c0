#!/usr/bin/env python3
"""Redrives the notifier's dead letters: for each message of the stack's NotifyJobsDeadLetters
queue (Lambda's record of a stream batch that failed every retry: the shard and the sequence
range, not the records), re-reads that range from the table's stream, keeps the records the
`Jobs` mapping delivers (notification jobs, expiries of unread notifications), invokes the
notifier with them in batches like the mapping's, and deletes the message once every batch
succeeded. Re-processing is safe: a notification's id derives from its job and recipient.
With `--queue search`, the same for the search indexer's SearchIndexDeadLetters (posts and
community chat messages; re-indexing a document is idempotent).

The stream keeps records 24 hours: redrive within that (the dead-letter alarm fires within
5 minutes). Usage (AWS credentials of the account, as for `sam deploy`):

    make redrive STACK=course-community [REDRIVE_ARGS='--dry-run']
    .local/venv/bin/python scripts/redrive.py --stack course-community [--queue search] [--dry-run] [--max 10]
"""
import argparse
import json
import sys

import boto3

BATCH = 4  # the Jobs mapping's BatchSize


def is_search_record(record):
    """The search indexer's filter criteria (infra/template.yaml): posts and community chat."""
    keys = record.get("dynamodb", {}).get("Keys", {})
    pk, sk = keys.get("PK", {}).get("S", ""), keys.get("SK", {}).get("S", "")
    return (pk.startswith("POST#") and sk == "META") or (pk.startswith("COMMUNITY#") and sk.startswith("MSG#"))


def is_job_record(record):
    """The Jobs mapping's filter criteria (infra/template.yaml)."""
    ddb = record.get("dynamodb", {})
    new, old = ddb.get("NewImage"), ddb.get("OldImage")
    if new and new.get("entity", {}).get("S") == "notification_job":
        return True
    return bool(
        old
        and old.get("entity", {}).get("S") == "notification"
        and old.get("is_read", {}).get("BOOL") is False
        and not (new and "entity" in new)
    )


def seq(n):
    return int(n)


def stream_record(record, stream_arn):
    """A GetRecords record as Lambda delivers it (epoch seconds, the source ARN)."""
    out = json.loads(json.dumps(record, default=str))
    when = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
    if when is not None and hasattr(when, "timestamp"):
        out["dynamodb"]["ApproximateCreationDateTime"] = when.timestamp()
    out["eventSourceARN"] = stream_arn
    return out


def read_range(streams, info, empty_reads=20):
    """The records of [startSequenceNumber, endSequenceNumber] of the batch's shard."""
    start, end = seq(info["startSequenceNumber"]), seq(info["endSequenceNumber"])
    iterator = streams.get_shard_iterator(
        StreamArn=info["streamArn"],
        ShardId=info["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=info["startSequenceNumber"],
    )["ShardIterator"]
    out, empty = [], 0
    while iterator and empty < empty_reads:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        records = page.get("Records", [])
        empty = empty + 1 if not records else 0
        for r in records:
            n = seq(r["dynamodb"]["SequenceNumber"])
            if n > end:
                return out
            if n >= start:
                out.append(r)
        if out and seq(out[-1]["dynamodb"]["SequenceNumber"]) >= end:
            return out
        iterator = page.get("NextShardIterator")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stack", required=True, help="the CloudFormation stack sam deploy created")
    ap.add_argument("--dry-run", action="store_true", help="read and report, invoke and delete nothing")
    ap.add_argument("--max", type=int, default=100, help="most dead letters to handle this run")
    ap.add_argument("--queue", choices=["jobs", "search"], default="jobs",
                    help="the notifier's jobs (default) or the search indexer's documents")
    args = ap.parse_args()

    cfn, sqs = boto3.client("cloudformation"), boto3.client("sqs")
    streams, lam = boto3.client("dynamodbstreams"), boto3.client("lambda")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=args.stack)["Stacks"][0]["Outputs"]}
    queue_output, logical_id, keep = {
        "jobs": ("NotifyJobsDeadLetterQueueUrl", "NotifyFunction", is_job_record),
        "search": ("SearchIndexDeadLetterQueueUrl", "SearchIndexerFunction", is_search_record),
    }[args.queue]
    queue = outputs[queue_output]
    function = cfn.describe_stack_resource(StackName=args.stack, LogicalResourceId=logical_id)[
        "StackResourceDetail"]["PhysicalResourceId"]

    handled = failed = 0
    while handled + failed < args.max:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=2,
                                       VisibilityTimeout=300).get("Messages", [])
        if not messages:
            break
        message = messages[0]
        info = json.loads(message["Body"])["DDBStreamBatchInfo"]
        records = [r for r in read_range(streams, info) if keep(r)]
        print(f"{info['shardId']} {info['startSequenceNumber']}..{info['endSequenceNumber']}: "
              f"{info.get('batchSize')} in the batch, {len(records)} jobs re-read")
        if info.get("batchSize") and not records:
            print("  nothing left to re-read (past the stream's 24 hours?): message kept", file=sys.stderr)
            failed += 1
            continue
        ok = True
        for i in range(0, len(records), BATCH):
            event = {"Records": [stream_record(r, info["streamArn"]) for r in records[i:i + BATCH]]}
            if args.dry_run:
                continue
            answer = lam.invoke(FunctionName=function, Payload=json.dumps(event).encode())
            body = json.loads(answer["Payload"].read() or b"{}")
            if answer.get("FunctionError") or (body or {}).get("batchItemFailures"):
                print(f"  batch {i // BATCH}: failed again: {answer.get('FunctionError')} {body}", file=sys.stderr)
                ok = False
                break
        if ok and not args.dry_run:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            handled += 1
        elif not ok:
            failed += 1
        else:
            handled += 1
    print(f"redrive: {handled} dead letters {'read' if args.dry_run else 'redriven and deleted'}, {failed} kept")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
