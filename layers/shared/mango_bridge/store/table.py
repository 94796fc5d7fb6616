"""The table and its clients. Clients are created once per process and honour AWS_ENDPOINT_URL_*,
which is how the local stack points the same code at DynamoDB Local and moto.

Clients come from a botocore session (what boto3.client returns, minus boto3's own import of
s3transfer and the resource layer): it keeps every function's cold import inside the budget."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import botocore.session
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2, read_timeout=5)


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def client(service: str) -> Any:
    return _session().create_client(service, config=_CONFIG)


def table_name() -> str:
    try:
        return os.environ["TABLE_NAME"]
    except KeyError:
        raise RuntimeError("TABLE_NAME is not set: the functions get it from template.yaml") from None


def is_conditional_failure(error: Exception) -> bool:
    response = getattr(error, "response", None) or {}
    return response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def is_item_too_large(error: Exception) -> bool:
    """DynamoDB's 400 KB item limit (ValidationException "Item size has exceeded ...")."""
    response = getattr(error, "response", None) or {}
    details = response.get("Error", {})
    return details.get("Code") == "ValidationException" and "size" in str(details.get("Message", "")).lower()


def query_all(ddb: Any, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = ddb.query(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def put_new(ddb: Any, table: str, item: dict[str, Any]) -> bool:
    """Write an item only if its key is free: False when one is already there (first writer wins)."""
    try:
        ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(SK)")
    except Exception as error:
        if is_conditional_failure(error):
            return False
        raise
    return True
