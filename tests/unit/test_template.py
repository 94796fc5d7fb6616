"""What the deployed template promises, read from template.yaml itself."""

from __future__ import annotations

from typing import Any

from sandbox.stack.template import local_template


def resources() -> dict[str, Any]:
    return local_template("test").resources


def test_nightly_sync_runs_at_one_in_the_morning_moscow_time_with_retries_and_a_dead_letter_queue() -> None:
    nightly = resources()["ReconcileFunction"]["Properties"]["Events"]["Nightly"]
    assert nightly["Type"] == "ScheduleV2"
    props = nightly["Properties"]
    assert props["ScheduleExpression"] == "cron(0 1 * * ? *)"
    assert props["ScheduleExpressionTimezone"] == "Europe/Moscow"
    assert props["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert props["DeadLetterConfig"]["Type"] == "SQS"


def test_every_function_has_its_own_log_group_with_retention() -> None:
    res = resources()
    for name, resource in res.items():
        if resource["Type"] == "AWS::Serverless::Function":
            group = resource["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            assert res[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name


def parameters() -> dict[str, Any]:
    return local_template("test").raw["Parameters"]


def test_the_table_keeps_history_and_expires_what_should_expire() -> None:
    table = resources()["Table"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] == {
        "Ref": "PointInTimeRecovery"
    }
    assert parameters()["PointInTimeRecovery"]["Default"] == "true"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert [g["IndexName"] for g in table["GlobalSecondaryIndexes"]] == ["GSI1", "GSI2", "GSI3"]
    assert table["GlobalSecondaryIndexes"][1]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    # Calls by day: keys only, so rewriting an aggregate does not write its copy again.
    assert table["GlobalSecondaryIndexes"][2]["Projection"] == {"ProjectionType": "KEYS_ONLY"}


def test_calls_are_kept_for_the_retention_the_operator_sets() -> None:
    assert parameters()["CallRetentionDays"]["Default"] == 400
    env = local_template("test").raw["Globals"]["Function"]["Environment"]["Variables"]
    assert env["CALL_RETENTION_DAYS"] == {"Ref": "CallRetentionDays"}


def test_webhooks_are_not_throttled_below_a_million_calls_a_day_and_throttling_is_alarmed() -> None:
    res = resources()
    settings = res["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    # 1,000,000 calls a day, ~12 notifications a call, 10× peaks: ~1,400 requests a second.
    assert parameters()["ApiThrottlingRateLimit"]["Default"] >= 1400
    alarm = res["HttpApi4xxAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApiGateway", "4xx")
    for function, parameter in (
        ("IngestFunction", "IngestReservedConcurrency"),
        ("RouteFunction", "RouteReservedConcurrency"),
    ):
        reserved = res[function]["Properties"]["ReservedConcurrentExecutions"]
        assert {"Ref": parameter} in reserved["Fn::If"], function


def test_routes_mango_admin_recordings_and_click_to_call() -> None:
    routes = {(r.method, r.path, r.function) for r in local_template("test").routes()}
    assert routes == {
        ("POST", "/mango/{tenant}/{proxy+}", "IngestFunction"),
        ("ANY", "/admin/{proxy+}", "ApiFunction"),
        ("GET", "/recordings/{tenant}/{token}", "RecordingFunction"),
        ("ANY", "/api/v1/{proxy+}", "CallsApiFunction"),
    }


def test_raw_bodies_bucket_is_private_encrypted_expiring_and_only_written_by_ingest() -> None:
    """Bodies over DynamoDB's item limit (spec p.5: «любой вложенности и размера») go to S3."""
    res = resources()
    bucket = res["RawBodyBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] == {"Ref": "RawBodyRetentionDays"}
    policy = res["RawBodyBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false" for s in policy
    )
    ingest = res["IngestFunction"]["Properties"]
    assert ingest["Environment"]["Variables"]["RAW_BUCKET_NAME"] == {"Ref": "RawBodyBucket"}
    s3_statements = [
        statement
        for policy_doc in ingest["Policies"]
        for statement in policy_doc["Statement"]
        if any(str(action).startswith("s3:") for action in statement["Action"])
    ]
    assert [s["Action"] for s in s3_statements] == [["s3:PutObject"]]
    for name, resource in res.items():  # nobody else touches it
        if resource["Type"] == "AWS::Serverless::Function" and name != "IngestFunction":
            assert "RawBodyBucket" not in str(resource["Properties"].get("Policies")), name
