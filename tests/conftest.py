"""Shared fixtures: a moto-backed table built from template.yaml, a registered tenant, and the
real handlers loaded from functions/ the way Lambda loads them."""

from __future__ import annotations

import copy
import functools
import importlib.util
import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Tiers by directory: a test's folder says what it needs, so no file has to remember a marker.
# `make test-fast` deselects `e2e` (boots the local stack) and `slow` (data volumes).
TIERS = {
    "unit": "unit",
    "component": "component",
    "sandbox": "sandbox",
    "spec": "spec",
    "thirdparty": "thirdparty",
    "e2e": "e2e",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        try:
            folder = item.path.resolve().relative_to(tests_dir).parts[0]
        except ValueError:
            continue
        if folder in TIERS:
            item.add_marker(TIERS[folder])


def _hypothesis_profiles() -> None:
    """`dev` keeps property tests quick at a desk; `ci` tries four times as many examples and prints
    the blob that reproduces a failure. HYPOTHESIS_PROFILE picks one; otherwise CI=true means `ci`.
    Tests that set their own `max_examples` (a few slow component ones) keep it."""
    from hypothesis import HealthCheck, settings

    settings.register_profile("dev", max_examples=50, deadline=None)
    settings.register_profile(
        "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


_hypothesis_profiles()


def load_function(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"fn_{name}", ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Tenant:
    tenant_id: str
    api_key: str
    api_salt: str


@functools.cache
def _test_stack() -> tuple[dict[str, str], list[dict[str, Any]], list[str]]:
    """What the `aws` fixture builds, read from template.yaml once per session: the functions'
    environment, the tables' key specs and the buckets."""
    from sandbox.stack.template import local_template

    template = local_template("test")
    env = {k: v for f in template.functions().values() for k, v in f.environment.items()}
    env.pop("POST_CALL_STATE_MACHINE_ARN", None)  # no state machine under moto's in-process mock
    keys = ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes")
    tables = [{k: props[k] for k in keys if k in props} for props in template.tables().values()]
    return env, tables, list(template.buckets())


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto in-process with the table created from template.yaml."""
    from moto import mock_aws

    from mango_bridge.store import table as table_module

    for name in [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    env, tables, buckets = _test_stack()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    table_module.client.cache_clear()
    with mock_aws():
        import boto3

        ddb = boto3.client("dynamodb")
        for spec in tables:
            ddb.create_table(TableName=env["TABLE_NAME"], **copy.deepcopy(spec))
        s3 = boto3.client("s3")
        for bucket in buckets:
            s3.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": os.environ["AWS_DEFAULT_REGION"]},
            )
        yield ddb
    table_module.client.cache_clear()


@pytest.fixture
def tenant(aws: Any) -> Tenant:
    from mango_bridge.settings.model import MangoConnection, TenantSettings
    from mango_bridge.store.tenants import TenantStore

    store = TenantStore()
    t = Tenant("acme", "acmekey0123456789", "acmesalt0123456789")
    store.put_salt(t.tenant_id, t.api_salt)
    store.put(t.tenant_id, TenantSettings(mango=MangoConnection(api_key=t.api_key)), None)
    return t


def form_body(api_key: str, json_text: str, sign: str) -> str:
    return urllib.parse.urlencode({"vpbx_api_key": api_key, "sign": sign, "json": json_text})


def http_event(
    tenant: str, suffix: str, body: str, content_type: str = "application/x-www-form-urlencoded"
) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "POST /mango/{tenant}/{proxy+}",
        "rawPath": f"/mango/{tenant}/{suffix}",
        "rawQueryString": "",
        "headers": {"content-type": content_type},
        "pathParameters": {"tenant": tenant, "proxy": suffix},
        "requestContext": {
            "http": {"method": "POST", "path": f"/mango/{tenant}/{suffix}"},
            "stage": "$default",
            "requestId": "r",
        },
        "body": body,
        "isBase64Encoded": False,
    }
