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


def test_the_table_keeps_history_and_expires_what_should_expire() -> None:
    table = resources()["Table"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert [g["IndexName"] for g in table["GlobalSecondaryIndexes"]] == ["GSI1", "GSI2"]
    assert table["GlobalSecondaryIndexes"][1]["Projection"] == {"ProjectionType": "KEYS_ONLY"}


def test_routes_mango_admin_recordings_and_click_to_call() -> None:
    routes = {(r.method, r.path, r.function) for r in local_template("test").routes()}
    assert routes == {
        ("POST", "/mango/{tenant}/{proxy+}", "IngestFunction"),
        ("ANY", "/admin/{proxy+}", "ApiFunction"),
        ("GET", "/recordings/{tenant}/{token}", "RecordingFunction"),
        ("ANY", "/api/v1/{proxy+}", "CallsApiFunction"),
    }
