"""The admin API against moto: tenants, settings documents, the journal, bearer tokens."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import ROOT, load_function

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


# «Действия звонка» and manual binding (BPMSoft) -------------------------------------------------

BPMSOFT_TENANT = {
    **TENANT,
    "employees": [
        {"extension": "123", "crm_user_id": "u123"},
        {"extension": "321", "crm_user_id": "u321"},
    ],
    "crm": {"kind": "bpmsoft", "url": "https://company.bpmsoft.ru"},
}
MARKETING_RULES = [
    {"order": 1, "final": False},
    {
        "order": 2,
        "role": "Маркетинг",
        "direction": "incoming",
        "entity": "Контакт",
        "action": "load_linked_to_participants",
    },
    {"order": 3, "condition": "Нет найденных сущностей", "entity": "Контакт", "final": True},
    {"order": 4, "entity": "Обращение", "action": "create_entity"},
    {"order": 5, "entity": "Контакт", "action": "bind_to_call"},
    {"order": 6, "entity": "Контакт", "entity2": "Обращение", "action": "bind_entity_to_entity2"},
    {"order": 7, "entity": "Обращение", "action": "open_entity", "final": True},
]


def _bpmsoft_call(api: Any, **settings: Any) -> tuple[str, Any]:
    """A BPMSoft tenant with the guide's marketing rules and one answered incoming call; its rules run
    against an in-memory CRM holding the caller's contact, and the history is kept as the workflow does."""
    from mango_bridge.calls.assembly import assemble
    from mango_bridge.mango.notifications import parse_notification
    from mango_bridge.role_rules import run_role_rules
    from mango_bridge.store.action_history import ActionHistoryStore
    from mango_bridge.store.calls import CallStore
    from mango_bridge.store.tenants import TenantStore
    from tests.samples import CONSULTATIVE, E
    from tests.unit.test_role_rules import World

    assert api("PUT", "/admin/tenants/acme", BPMSOFT_TENANT)[0] == 201
    status, _, _ = api("PATCH", "/admin/tenants/acme/settings", {"role_rules": MARKETING_RULES, **settings})
    assert status == 200
    call = assemble(E, [parse_notification(s, j) for s, j in CONSULTATIVE])
    CallStore().put_aggregate("acme", call)
    world = World()
    world.add("Контакт", "c-1", name="Иван", phone="+79161234567")
    world.roles = {"u123": ["Маркетинг"]}
    record = TenantStore().get("acme")
    assert record is not None
    history = run_role_rules(call, record.settings, world)
    ActionHistoryStore().put_first("acme", E, history, shown=record.settings.save_action_history)
    return E, world


def test_call_actions_report_lists_the_applied_rules(api: Any) -> None:
    entry, world = _bpmsoft_call(api, save_action_history=True)
    status, body, _ = api("GET", f"/admin/tenants/acme/calls/{quote(entry, safe='')}/actions")
    assert status == 200
    assert body["title"] == "Действия звонка" and body["message"] is None
    assert [row["order"] for row in body["rows"]] == [1, 2, 4, 5, 6, 7]
    assert body["rows"][1]["direction"] == "Входящий"
    assert body["rows"][1]["role"] == "Маркетинг"
    assert body["rows"][2]["action_label"] == "Создать новую сущность"
    [case] = world.of("Обращение")
    assert body["rows"][2]["entities"] == [{"type": "Обращение", "id": case.id, "name": case.name}]
    assert body["screen"] == [
        {
            "order": 7,
            "action": "open_entity",
            "open": "record",
            "entity_type": "Обращение",
            "entity_id": case.id,
            "name": case.name,
            "number": None,
        }
    ]


def test_call_actions_say_no_data_when_history_was_off_for_the_call(api: Any) -> None:
    entry, world = _bpmsoft_call(api, save_action_history=False)
    assert world.of("Обращение")  # the rules ran and the history is kept …
    status, body, _ = api("GET", f"/admin/tenants/acme/calls/{quote(entry, safe='')}/actions")
    assert status == 200
    assert (body["message"], body["rows"]) == ("Нет данных", [])  # … but not shown
    api("PATCH", "/admin/tenants/acme/settings", {"save_action_history": True})
    body = api("GET", f"/admin/tenants/acme/calls/{quote(entry, safe='')}/actions")[1]
    assert body["message"] == "Нет данных"  # what counts is the setting when the call came in


def test_call_actions_show_a_lone_1_when_the_table_is_off(api: Any) -> None:
    off = [{**MARKETING_RULES[0], "final": True}, *MARKETING_RULES[1:]]
    entry, world = _bpmsoft_call(api, save_action_history=True, role_rules=off)
    assert world.writes == 0
    body = api("GET", f"/admin/tenants/acme/calls/{quote(entry, safe='')}/actions")[1]
    assert body["message"] == "1"
    assert [row["order"] for row in body["rows"]] == [1]


def test_call_actions_of_a_call_without_history_or_unknown(api: Any) -> None:
    from mango_bridge.calls.assembly import assemble
    from mango_bridge.mango.notifications import parse_notification
    from mango_bridge.store.calls import CallStore
    from tests.samples import CONSULTATIVE, E

    api("PUT", "/admin/tenants/acme", BPMSOFT_TENANT)
    CallStore().put_aggregate("acme", assemble(E, [parse_notification(s, j) for s, j in CONSULTATIVE]))
    status, body, _ = api("GET", f"/admin/tenants/acme/calls/{quote(E, safe='')}/actions")
    assert (status, body["message"], body["rows"]) == (200, "Нет данных", [])
    assert api("GET", f"/admin/tenants/acme/calls/{quote('nope=', safe='')}/actions")[0] == 404


@pytest.fixture
def binding(monkeypatch: pytest.MonkeyPatch) -> Any:
    """`workflows.binding` as the endpoint sees it: records the calls, raises what a test tells it to."""
    import sys
    from types import ModuleType

    class BindingRefused(ValueError):
        pass

    module = ModuleType("mango_bridge.workflows.binding")
    state: dict[str, Any] = {"calls": [], "raise": None}

    def bind_call(tenant: str, entry_id: str, kind: str, entity_id: str) -> dict[str, Any]:
        state["calls"].append((tenant, entry_id, kind, entity_id))
        if state["raise"] is not None:
            raise state["raise"]
        return {"call_record_id": "call-1", "bound_to": {"kind": kind, "id": entity_id}}

    module.BindingRefused = BindingRefused  # type: ignore[attr-defined]
    module.bind_call = bind_call  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mango_bridge.workflows.binding", module)
    state["refused"] = BindingRefused
    return state


def _journal_call(api: Any) -> str:
    from mango_bridge.calls.assembly import assemble
    from mango_bridge.mango.notifications import parse_notification
    from mango_bridge.store.calls import CallStore
    from tests.samples import CONSULTATIVE, E

    api("PUT", "/admin/tenants/acme", {**BPMSOFT_TENANT, "manual_entity_binding": True})
    CallStore().put_aggregate("acme", assemble(E, [parse_notification(s, j) for s, j in CONSULTATIVE]))
    return f"/admin/tenants/acme/calls/{quote(E, safe='')}/binding"


def test_binding_refusal_is_409_with_its_message(api: Any, binding: Any) -> None:
    path = _journal_call(api)
    binding["raise"] = binding["refused"]("contact 99 is not among the call's candidates (77, 78)")
    status, body, _ = api("POST", path, {"kind": "contact", "entity_id": "99"})
    assert (status, body["error"]) == (409, "binding_refused")
    assert body["message"] == "contact 99 is not among the call's candidates (77, 78)"
    assert binding["calls"] == [("acme", "MjY4Nzg2ODQwMTo4MQ==", "contact", "99")]


def test_binding_refusal_can_be_a_400(api: Any, binding: Any) -> None:
    path = _journal_call(api)
    refusal = binding["refused"]("kind must be one of contact, company, lead, case")
    refusal.status = 400
    binding["raise"] = refusal
    status, body, _ = api("POST", path, {"kind": "deal", "entity_id": "5"})
    assert (status, body["message"]) == (400, "kind must be one of contact, company, lead, case")


def test_binding_crm_outage_is_503(api: Any, binding: Any) -> None:
    from mango_bridge.crm.errors import CrmUnavailable

    path = _journal_call(api)
    binding["raise"] = CrmUnavailable("BPMSoft answered 502")
    status, body, _ = api("POST", path, {"kind": "contact", "entity_id": "77"})
    assert (status, body["error"], body["message"]) == (503, "crm_unavailable", "BPMSoft answered 502")


def test_binding_bad_body_and_unknown_call(api: Any, binding: Any) -> None:
    path = _journal_call(api)
    status, body, _ = api("POST", path, {"kind": "contact"})
    assert status == 400 and "entity_id is required" in body["message"]
    assert api("POST", path, {"kind": " ", "entity_id": "1"})[0] == 400
    missing = f"/admin/tenants/acme/calls/{quote('nope=', safe='')}/binding"
    assert api("POST", missing, {"kind": "contact", "entity_id": "77"})[0] == 404
    assert binding["calls"] == []


def test_binding_success_returns_what_was_bound(api: Any, binding: Any) -> None:
    path = _journal_call(api)
    status, body, _ = api("POST", path, {"kind": "contact", "entity_id": " 77 "})
    assert status == 200
    assert (body["kind"], body["entity_id"]) == ("contact", "77")
    assert body["binding"] == {"call_record_id": "call-1", "bound_to": {"kind": "contact", "id": "77"}}


BPMSOFT = {
    **TENANT,
    "crm": {"kind": "bpmsoft", "url": "https://acme.bpmsoft.ru", "credentials": {"secret_name": "s"}},
}


def test_a_new_bpmsoft_tenant_starts_with_the_guides_test_rules_switched_off(api: Any) -> None:
    """Seed 000: the rule table starts with the test rules, row 1 switching the table off — not empty."""
    status, _, _ = api("PUT", "/admin/tenants/acme-bpm", BPMSOFT)
    assert status == 201
    rules = api("GET", "/admin/tenants/acme-bpm/settings")[1]["settings"]["role_rules"]
    assert rules[0]["order"] == 1 and rules[0]["final"] is True
    example = json.loads((ROOT / "docs" / "examples" / "role-rules-test.json").read_text())["role_rules"]
    documented = [{"final": False, **r} for r in example[1:]]  # the documented example, row 1 aside
    assert [
        {k: v for k, v in r.items() if k in d or k == "final"}
        for r, d in zip(rules[1:], documented, strict=True)
    ] == documented
    status, _, _ = api("PUT", "/admin/tenants/acme-own", {**BPMSOFT, "role_rules": []})
    assert api("GET", "/admin/tenants/acme-own/settings")[1]["settings"]["role_rules"] == []
    api("PUT", "/admin/tenants/acme", TENANT)
    assert api("GET", "/admin/tenants/acme/settings")[1]["settings"]["role_rules"] == []  # not BPMSoft
