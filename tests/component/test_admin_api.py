"""The admin API against moto: tenants, settings documents, the journal, bearer tokens."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import load_function

CONTEXT = SimpleNamespace(
    function_name="api",
    memory_limit_in_mb=512,
    aws_request_id="req",
    invoked_function_arn="arn:aws:lambda:eu-central-1:123456789012:function:api",
)


@pytest.fixture
def api(aws: Any) -> Any:
    from mango_bridge.store.admin_tokens import AdminTokens

    module = load_function("api")
    token = AdminTokens().issue("tests")

    def call(
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        token_: str | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        event = {
            "version": "2.0",
            "routeKey": "ANY /admin/{proxy+}",
            "rawPath": path,
            "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
            "queryStringParameters": query,
            "headers": {
                "authorization": f"Bearer {token_ or token}",
                "content-type": "application/json",
                **(headers or {}),
            },
            "requestContext": {
                "http": {"method": method, "path": path},
                "stage": "$default",
                "requestId": "r",
            },
            "body": json.dumps(body) if body is not None else None,
            "isBase64Encoded": False,
        }
        result = module.handler(event, CONTEXT)
        return result["statusCode"], json.loads(result["body"] or "null"), result.get("headers") or {}

    return call


TENANT = {
    "mango": {"api_key": "acmekey0123456789"},
    "mango_api_salt": "acmesalt0123456789",
    "employees": [{"extension": "101", "crm_user_id": "u1", "name": "Анна"}],
}


def test_admin_api_needs_a_valid_token(api: Any) -> None:
    assert api("GET", "/admin/tenants", token_="wrong")[0] == 401


def test_registering_a_tenant_keeps_the_salt_secret(api: Any) -> None:
    status, body, _ = api("PUT", "/admin/tenants/acme", TENANT)
    assert status == 201
    assert "acmesalt0123456789" not in json.dumps(body)
    assert api("GET", "/admin/tenants")[1]["tenants"] == ["acme"]
    from mango_bridge.store.tenants import TenantStore

    assert TenantStore().get_salt("acme") == "acmesalt0123456789"


def test_creating_a_tenant_without_salt_is_refused(api: Any) -> None:
    status, body, _ = api("PUT", "/admin/tenants/acme", {"mango": {"api_key": "acmekey0123456789"}})
    assert (status, body["error"]) == (400, "invalid_settings")
    assert "mango_api_salt" in body["message"]


def test_bad_tenant_id_is_400(api: Any) -> None:
    assert api("PUT", "/admin/tenants/Bad_Id", TENANT)[0] == 400


def test_settings_replace_patch_and_version_conflicts(api: Any) -> None:
    api("PUT", "/admin/tenants/acme", TENANT)
    status, current, headers = api("GET", "/admin/tenants/acme/settings")
    assert status == 200
    version = current["version"]
    assert headers["ETag"] == f'"{version}"'

    document = current["settings"]
    document["disable_leads"] = True
    status, saved, _ = api(
        "PUT", "/admin/tenants/acme/settings", document, headers={"if-match": str(version)}
    )
    assert (status, saved["version"], saved["settings"]["disable_leads"]) == (200, version + 1, True)

    status, body, _ = api("PUT", "/admin/tenants/acme/settings", document, headers={"if-match": str(version)})
    assert (status, body["error"]) == (409, "version_conflict")

    status, patched, _ = api(
        "PATCH", "/admin/tenants/acme/settings", {"durations": {"min_answered_seconds": 5}}
    )
    assert status == 200
    assert patched["settings"]["durations"]["min_answered_seconds"] == 5
    assert patched["settings"]["disable_leads"] is True


def test_invalid_settings_are_refused_whole_with_every_error(api: Any) -> None:
    api("PUT", "/admin/tenants/acme", TENANT)
    before = api("GET", "/admin/tenants/acme/settings")[1]
    status, body, _ = api(
        "PATCH",
        "/admin/tenants/acme/settings",
        {
            "disable_leads": True,
            "durations": {"min_answered_seconds": -1},
            "routing": {"rules": [{"name": f"r{i}", "action": {"kind": "responsible"}} for i in range(21)]},
        },
    )
    assert (status, body["error"]) == (400, "invalid_settings")
    fields = {e["field"] for e in body["errors"]}
    assert any(f.startswith("durations.min_answered_seconds") for f in fields)
    assert any(f.startswith("routing.rules") for f in fields)
    after = api("GET", "/admin/tenants/acme/settings")[1]
    assert after == before  # nothing half-applied


def test_journal_ids_with_plus_slash_equals_round_trip(api: Any, aws: Any) -> None:
    from mango_bridge.calls.assembly import assemble
    from mango_bridge.mango.notifications import parse_notification
    from mango_bridge.store.calls import CallStore
    from tests.samples import CONSULTATIVE, E

    api("PUT", "/admin/tenants/acme", TENANT)
    entry = "a+b/c=="
    call = assemble(entry, [parse_notification(s, j.replace(E, entry)) for s, j in CONSULTATIVE])
    CallStore().put_aggregate("acme", call)
    status, body, _ = api("GET", f"/admin/tenants/acme/calls/{quote(entry, safe='')}")
    assert status == 200
    assert body["entry_id"] == entry
    assert body["talk_seconds"] == 195
    day = body["started_at"][:10]
    listing = api("GET", "/admin/tenants/acme/calls", query={"date": day})[1]
    assert [c["entry_id"] for c in listing["calls"]] == [entry]
    assert api("GET", "/admin/tenants/acme/calls", query={"date": "24.11.2025"})[0] == 400
    assert api("GET", f"/admin/tenants/acme/calls/{quote('nope=', safe='')}")[0] == 404


def test_call_detail_explains_every_decision(api: Any) -> None:
    from mango_bridge.calls.assembly import assemble
    from mango_bridge.mango.notifications import parse_notification
    from mango_bridge.store.calls import CallStore
    from tests.samples import CONSULTATIVE, E

    tenant = {
        **TENANT,
        "employees": [
            {"extension": "123", "crm_user_id": "u123"},
            {"extension": "321", "crm_user_id": "u321"},
        ],
        "crm": {"kind": "amocrm", "url": "https://Demo.amoCRM.ru "},
        "new_number": {"answered_incoming": {"create": ["contact"]}},
    }
    assert api("PUT", "/admin/tenants/acme", tenant)[0] == 201
    CallStore().put_aggregate("acme", assemble(E, [parse_notification(s, j) for s, j in CONSULTATIVE]))

    status, body, _ = api("GET", f"/admin/tenants/acme/calls/{quote(E, safe='')}")
    assert status == 200
    decisions = body["decisions"]
    assert decisions["source"] == "preview"
    kinds = [i["kind"] for i in decisions["intents"]]
    assert kinds[0] == "create_contact"
    assert kinds.count("log_call") == 2  # one record per employee who talked
    create = decisions["intents"][0]
    assert create["responsible_user_id"] == "u123"  # the first employee who handled the call (F7)
    assert "От нового клиента" in create["reason"]

    known = {
        "facts": {
            "phone": "+79161234567",
            "found": [{"kind": "contact", "id": "77", "name": "Иван", "responsible_user_ids": ["u321"]}],
        }
    }
    status, explained, _ = api("POST", f"/admin/tenants/acme/calls/{quote(E, safe='')}/explain", known)
    assert status == 200
    assert "create_contact" not in [i["kind"] for i in explained["intents"]]
    assert explained["customer"]["id"] == "77"
