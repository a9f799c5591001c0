"""scripts/redrive.py against DynamoDB Local's stream: a dead letter's sequence range is re-read
exactly (no record before or after it), and only the records the notifier's Jobs mapping takes
are kept, shaped as Lambda delivers them. Run by `make test` (TEST_DYNAMODB_ENDPOINT)."""
import importlib.util
import json
import os
import pathlib
import uuid

import boto3

HERE = pathlib.Path(__file__).parent
spec = importlib.util.spec_from_file_location("redrive", HERE / "redrive.py")
redrive = importlib.util.module_from_spec(spec)
spec.loader.exec_module(redrive)

ENDPOINT = os.environ.get("TEST_DYNAMODB_ENDPOINT", "http://127.0.0.1:8001")
AUTH = dict(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test", endpoint_url=ENDPOINT)


def test_a_dead_letter_range_is_re_read_exactly_and_filtered_like_the_jobs_mapping():
    ddb, streams = boto3.client("dynamodb", **AUTH), boto3.client("dynamodbstreams", **AUTH)
    table = f"redrive-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}, {"AttributeName": "SK", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    try:
        def put(pk, entity, **extra):
            item = {"PK": {"S": pk}, "SK": {"S": "A"}, "entity": {"S": entity}, **extra}
            ddb.put_item(TableName=table, Item=item)
        put("before", "notification_job")
        put("job-1", "notification_job")
        put("presence", "presence")
        put("note", "notification", is_read={"BOOL": False})
        ddb.delete_item(TableName=table, Key={"PK": {"S": "note"}, "SK": {"S": "A"}})  # an unread one expiring
        put("job-2", "notification_job")
        put("after", "notification_job")

        arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records = streams.get_records(ShardIterator=it)["Records"]
        assert [r["dynamodb"]["Keys"]["PK"]["S"] for r in records] == ["before", "job-1", "presence", "note", "note", "job-2", "after"]
        seqs = [r["dynamodb"]["SequenceNumber"] for r in records]

        # What Lambda writes to the dead-letter queue for the batch job-1 .. job-2.
        body = {"DDBStreamBatchInfo": {"shardId": shard, "streamArn": arn, "batchSize": 5,
                                       "startSequenceNumber": seqs[1], "endSequenceNumber": seqs[5]}}
        info = json.loads(json.dumps(body))["DDBStreamBatchInfo"]
        got = redrive.read_range(streams, info, empty_reads=2)
        assert [r["dynamodb"]["SequenceNumber"] for r in got] == seqs[1:6]

        kept = [r for r in got if redrive.is_job_record(r)]
        # The two jobs and the expiry of the unread notification; not presence, not its insert.
        assert [(r["eventName"], r["dynamodb"]["Keys"]["PK"]["S"]) for r in kept] == [
            ("INSERT", "job-1"), ("REMOVE", "note"), ("INSERT", "job-2")]

        event = {"Records": [redrive.stream_record(r, arn) for r in kept]}
        first = json.loads(json.dumps(event))["Records"][0]
        assert first["eventSourceARN"] == arn
        assert isinstance(first["dynamodb"]["ApproximateCreationDateTime"], float)
        assert first["dynamodb"]["NewImage"]["entity"] == {"S": "notification_job"}
    finally:
        ddb.delete_table(TableName=table)
