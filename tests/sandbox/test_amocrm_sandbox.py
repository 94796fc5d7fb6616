"""The amoCRM sandbox through HTTP, the way the bridge's adapter will talk to it."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox.crm.amocrm import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URI,
    KNOWN_CLIENT_PHONE,
    KNOWN_CLIENT_RESPONSIBLE_ID,
    AmoCrmSandbox,
)
from sandbox.faults import ManualClock

INACTIVE_USER_ID = 8_000_004
MAIN_PIPELINE_ID = 9_000_001
FIRST_OPEN_STATUS_ID = 9_100_002
UNSORTED_STATUS_ID = 9_100_001


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_764_000_000.0)


@pytest.fixture
def amo(clock: ManualClock) -> Iterator[AmoCrmSandbox]:
    with AmoCrmSandbox(rate_limit=None, clock=clock) as sandbox:
        yield sandbox


@pytest.fixture
def api(amo: AmoCrmSandbox) -> Iterator[httpx.Client]:
    token = amo.issue_tokens().access_token
    with httpx.Client(base_url=amo.url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        yield client


def contact_with_phone(phone: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": fields.pop("name", "Клиент"),
        "custom_fields_values": [{"field_code": "PHONE", "values": [{"value": phone, "enum_code": "WORK"}]}],
        **fields,
    }


def call(phone: str, request_id: str = "0", **fields: Any) -> dict[str, Any]:
    return {
        "direction": "inbound",
        "uniq": f"entry-{request_id}",
        "duration": 42,
        "source": "Mango CRM Bridge",
        "phone": phone,
        "link": "https://bridge.test/rec/1",
        "call_status": 4,
        "call_result": "Разговор состоялся",
        "request_id": request_id,
        **fields,
    }


def token_request(amo: AmoCrmSandbox, **fields: str) -> dict[str, str]:
    return {
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "redirect_uri": DEFAULT_REDIRECT_URI,
        **fields,
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- OAuth ---------------------------------------------------------------------------------------


def test_code_exchange_then_refresh_rotates_both_tokens(amo: AmoCrmSandbox) -> None:
    with httpx.Client(base_url=amo.url) as client:
        code = amo.issue_authorization_code()
        first = client.post(
            "/oauth2/access_token", json=token_request(amo, grant_type="authorization_code", code=code)
        )
        assert first.status_code == 200
        pair = first.json()
        assert pair["token_type"] == "Bearer" and pair["expires_in"] == 86_400
        assert client.get("/api/v4/account", headers=bearer(pair["access_token"])).status_code == 200

        again = client.post(
            "/oauth2/access_token", json=token_request(amo, grant_type="authorization_code", code=code)
        )
        assert again.status_code == 400
        assert again.json()["hint"] == "Authorization code has been revoked"

        refreshed = client.post(
            "/oauth2/access_token",
            data=token_request(amo, grant_type="refresh_token", refresh_token=pair["refresh_token"]),
        )
        assert refreshed.status_code == 200
        new_pair = refreshed.json()
        assert new_pair["refresh_token"] != pair["refresh_token"]
        assert client.get("/api/v4/account", headers=bearer(new_pair["access_token"])).status_code == 200
        assert client.get("/api/v4/account", headers=bearer(pair["access_token"])).status_code == 401

        reused = client.post(
            "/oauth2/access_token",
            json=token_request(amo, grant_type="refresh_token", refresh_token=pair["refresh_token"]),
        )
        assert reused.status_code == 400
        assert reused.headers["content-type"] == "application/problem+json"
        assert reused.json() == {
            "hint": "Token has been revoked",
            "title": "Некорректный запрос",
            "type": "https://developers.amocrm.ru/v3/errors/OAuthProblemJson",
            "status": 400,
            "detail": "В запросе отсутствует ряд параметров или параметры невалидны",
        }


def test_token_endpoint_refuses_bad_clients_and_stale_codes(amo: AmoCrmSandbox, clock: ManualClock) -> None:
    with httpx.Client(base_url=amo.url) as client:
        wrong_secret = client.post(
            "/oauth2/access_token",
            json={
                **token_request(amo, grant_type="authorization_code", code=amo.issue_authorization_code()),
                "client_secret": "nope",
            },
        )
        assert wrong_secret.status_code == 401
        stale = amo.issue_authorization_code()
        clock.advance(20 * 60 + 1)
        expired = client.post(
            "/oauth2/access_token", json=token_request(amo, grant_type="authorization_code", code=stale)
        )
        assert expired.json()["hint"] == "Authorization code has expired"
        unknown = client.post("/oauth2/access_token", json=token_request(amo, grant_type="password"))
        assert unknown.status_code == 400


def test_authorize_page_redirects_back_with_an_exchangeable_code(amo: AmoCrmSandbox) -> None:
    with httpx.Client(base_url=amo.url) as client:
        redirect = client.get(
            "/oauth", params={"client_id": DEFAULT_CLIENT_ID, "state": "s-1", "mode": "popup"}
        )
        assert redirect.status_code == 302
        location = urlsplit(redirect.headers["location"])
        assert location.geturl().startswith(DEFAULT_REDIRECT_URI)
        query = parse_qs(location.query)
        assert query["state"] == ["s-1"] and query["referer"] == ["demo.amocrm.ru"]
        exchanged = client.post(
            "/oauth2/access_token",
            json=token_request(amo, grant_type="authorization_code", code=query["code"][0]),
        )
        assert exchanged.status_code == 200


def test_access_tokens_expire_after_the_configured_lifetime(clock: ManualClock) -> None:
    with AmoCrmSandbox(access_token_ttl=600, rate_limit=None, clock=clock) as amo, httpx.Client() as client:
        pair = amo.issue_tokens()
        assert pair.expires_in == 600
        account = f"{amo.url}/api/v4/account"
        assert client.get(account, headers=bearer(pair.access_token)).status_code == 200
        clock.advance(601)
        expired = client.get(account, headers=bearer(pair.access_token))
        assert expired.status_code == 401
        assert expired.headers["content-type"] == "application/problem+json"
        assert expired.json() == {
            "title": "Unauthorized",
            "type": "https://httpstatus.es/401",
            "status": 401,
            "detail": "Invalid user name or password",
        }
        assert client.get(account).status_code == 401
        assert client.get(account, headers=bearer("not-a-token")).status_code == 401
        refreshed = client.post(
            f"{amo.url}/oauth2/access_token",
            json=token_request(amo, grant_type="refresh_token", refresh_token=pair.refresh_token),
        )
        assert client.get(account, headers=bearer(refreshed.json()["access_token"])).status_code == 200


def test_long_lived_token_carries_its_expiry_and_has_no_refresh(
    amo: AmoCrmSandbox, clock: ManualClock
) -> None:
    token = amo.issue_long_lived_token(ttl_seconds=3600)
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["exp"] == int(clock()) + 3600
    with httpx.Client(base_url=amo.url, headers=bearer(token)) as client:
        assert client.get("/api/v4/users").status_code == 200
        clock.advance(3600)
        assert client.get("/api/v4/users").status_code == 401


# -- rate limit ----------------------------------------------------------------------------------


def test_more_than_seven_requests_in_a_second_get_429(clock: ManualClock) -> None:
    with (
        AmoCrmSandbox(clock=clock) as amo,
        httpx.Client(base_url=amo.url, headers=bearer(amo.issue_tokens().access_token)) as client,
    ):
        assert [client.get("/api/v4/account").status_code for _ in range(7)] == [200] * 7
        refused = client.get("/api/v4/account")
        assert refused.status_code == 429 and refused.content == b""
        assert client.get("/_sandbox/state").status_code == 200
        clock.advance(0.5)
        assert client.get("/api/v4/account").status_code == 429
        clock.advance(0.5)
        assert [client.get("/api/v4/account").status_code for _ in range(7)] == [200] * 7
        assert client.get("/api/v4/account").status_code == 429

        clock.advance(10)
        for _ in range(4):
            client.get("/api/v4/account")
        clock.advance(0.6)
        statuses = [client.get("/api/v4/account").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]  # the same whole second: 7 in all
        clock.advance(0.4)
        assert client.get("/api/v4/account").status_code == 200

        client.post("/_sandbox/config", json={"rate_limit": None})
        assert {client.get("/api/v4/account").status_code for _ in range(20)} == {200}
        assert amo.state()["config"]["rate_limit"] is None


# -- contacts, companies, leads ------------------------------------------------------------------


def test_batch_create_echoes_request_ids_in_hal(amo: AmoCrmSandbox, api: httpx.Client) -> None:
    created = api.post(
        "/api/v4/contacts",
        json=[
            contact_with_phone("+7 (916) 123-45-67", name="Иван", request_id="first"),
            contact_with_phone("+7 903 000-00-01", name="Пётр", request_id="second"),
            {"first_name": "Анна", "last_name": "Каренина"},
        ],
    )
    assert created.status_code == 200
    assert created.headers["content-type"] == "application/hal+json"
    body = created.json()
    assert body["_links"]["self"]["href"] == f"{amo.url}/api/v4/contacts"
    items = body["_embedded"]["contacts"]
    assert [item["request_id"] for item in items] == ["first", "second", "2"]
    assert all(item["_links"]["self"]["href"].endswith(f"/api/v4/contacts/{item['id']}") for item in items)

    contact = api.get(items[0]["_links"]["self"]["href"]).json()
    assert contact["name"] == "Иван" and contact["responsible_user_id"] == 8_000_001
    assert contact["custom_fields_values"] == [
        {
            "field_id": 600_001,
            "field_name": "Телефон",
            "field_code": "PHONE",
            "field_type": "multitext",
            "values": [{"value": "+7 (916) 123-45-67", "enum_id": 700_001, "enum_code": "WORK"}],
        }
    ]
    assert api.get(f"/api/v4/contacts/{items[2]['id']}").json()["name"] == "Анна Каренина"

    company = api.post("/api/v4/companies", json=[{"name": "ООО Тест", "request_id": "c"}]).json()
    company_id = company["_embedded"]["companies"][0]["id"]
    lead = api.post(
        "/api/v4/leads",
        json=[
            {
                "name": "Звонок",
                "pipeline_id": MAIN_PIPELINE_ID,
                "status_id": 9_100_003,
                "responsible_user_id": KNOWN_CLIENT_RESPONSIBLE_ID,
                "_embedded": {
                    "contacts": [{"id": items[0]["id"]}, {"id": items[1]["id"], "is_main": True}],
                    "companies": [{"id": company_id}],
                },
                "request_id": "lead-1",
            }
        ],
    ).json()["_embedded"]["leads"][0]
    assert lead["request_id"] == "lead-1"
    stored = api.get(f"/api/v4/leads/{lead['id']}", params={"with": "contacts"}).json()
    assert (stored["pipeline_id"], stored["status_id"]) == (MAIN_PIPELINE_ID, 9_100_003)
    assert [(c["id"], c["is_main"]) for c in stored["_embedded"]["contacts"]] == [
        (items[0]["id"], False),
        (items[1]["id"], True),
    ]
    assert stored["_embedded"]["companies"][0]["id"] == company_id


def test_leads_land_in_the_first_stage_of_the_main_pipeline_by_default(api: httpx.Client) -> None:
    lead_id = api.post("/api/v4/leads", json=[{}]).json()["_embedded"]["leads"][0]["id"]
    lead = api.get(f"/api/v4/leads/{lead_id}").json()
    assert (lead["pipeline_id"], lead["status_id"]) == (MAIN_PIPELINE_ID, FIRST_OPEN_STATUS_ID)
    assert lead["name"] == f"Сделка #{lead_id}"
    other = api.post("/api/v4/leads", json=[{"pipeline_id": 9_000_002}]).json()["_embedded"]["leads"][0]
    assert api.get(f"/api/v4/leads/{other['id']}").json()["status_id"] == 9_100_012


def test_patch_updates_fields_and_echoes_request_ids(api: httpx.Client) -> None:
    contact_id = api.post("/api/v4/contacts", json=[contact_with_phone("+79160000001")]).json()["_embedded"][
        "contacts"
    ][0]["id"]
    patched = api.patch(
        "/api/v4/contacts",
        json=[
            {
                "id": contact_id,
                "name": "Новое имя",
                "responsible_user_id": 8_000_003,
                "custom_fields_values": [
                    {"field_code": "PHONE", "values": [{"value": "+79160000002", "enum_code": "MOB"}]}
                ],
                "request_id": "r1",
            }
        ],
    )
    assert patched.status_code == 200
    summary = patched.json()["_embedded"]["contacts"][0]
    assert (summary["id"], summary["name"], summary["request_id"]) == (contact_id, "Новое имя", "r1")
    contact = api.get(f"/api/v4/contacts/{contact_id}").json()
    assert contact["responsible_user_id"] == 8_000_003
    assert contact["custom_fields_values"][0]["values"] == [
        {"value": "+79160000002", "enum_id": 700_003, "enum_code": "MOB"}
    ]
    single = api.patch(f"/api/v4/contacts/{contact_id}", json={"name": "Ещё имя"})
    assert single.json()["name"] == "Ещё имя" and "request_id" not in single.json()
    assert api.patch("/api/v4/contacts/2999999", json={"name": "x"}).status_code == 404
    lead_id = api.post("/api/v4/leads", json=[{}]).json()["_embedded"]["leads"][0]["id"]
    api.patch("/api/v4/leads", json=[{"id": lead_id, "status_id": 142}])
    won = api.get(f"/api/v4/leads/{lead_id}").json()
    assert won["status_id"] == 142 and won["closed_at"] is not None


def test_phone_search_matches_a_substring_of_the_digits(amo: AmoCrmSandbox, api: httpx.Client) -> None:
    ids = amo.seed(preset="known_client")
    contact_id = ids["contacts"][0]
    for query in ("9161234567", "+79161234567", "916 123", KNOWN_CLIENT_PHONE, "Петров"):
        found = api.get("/api/v4/contacts", params={"query": query})
        assert found.status_code == 200, query
        assert [c["id"] for c in found.json()["_embedded"]["contacts"]] == [contact_id]
    assert api.get("/api/v4/contacts", params={"query": "89161234567"}).status_code == 204
    with_leads = api.get("/api/v4/contacts", params={"query": "9161234567", "with": "leads"}).json()
    assert [lead["id"] for lead in with_leads["_embedded"]["contacts"][0]["_embedded"]["leads"]] == ids[
        "leads"
    ]
    assert (
        api.get("/api/v4/companies", params={"query": "4955404444"}).json()["_embedded"]["companies"][0]["id"]
        == ids["companies"][0]
    )


def test_filters_and_paging(amo: AmoCrmSandbox, api: httpx.Client) -> None:
    created = api.post("/api/v4/contacts", json=[{"name": f"c{n}"} for n in range(5)]).json()
    ids = [item["id"] for item in created["_embedded"]["contacts"]]
    by_id = api.get("/api/v4/contacts", params=[("filter[id][]", ids[1]), ("filter[id][]", ids[3])]).json()
    assert [c["id"] for c in by_id["_embedded"]["contacts"]] == [ids[1], ids[3]]
    assert (
        api.get("/api/v4/contacts", params={"filter[id]": ids[0]}).json()["_embedded"]["contacts"][0]["id"]
        == ids[0]
    )
    first = api.get("/api/v4/contacts", params={"limit": 2}).json()
    assert first["_page"] == 1 and [c["id"] for c in first["_embedded"]["contacts"]] == ids[:2]
    second = api.get(first["_links"]["next"]["href"]).json()
    assert [c["id"] for c in second["_embedded"]["contacts"]] == ids[2:4]
    last = api.get("/api/v4/contacts", params={"limit": 2, "page": 3}).json()
    assert "next" not in last["_links"]
    assert api.get("/api/v4/contacts", params={"limit": 2, "page": 4}).status_code == 204
    newest = api.get("/api/v4/contacts", params={"order[id]": "desc", "limit": 1}).json()
    assert newest["_embedded"]["contacts"][0]["id"] == ids[-1]


# -- calls ---------------------------------------------------------------------------------------


def test_call_becomes_a_call_in_note_on_the_matched_contact(amo: AmoCrmSandbox, api: httpx.Client) -> None:
    contact_id = api.post("/api/v4/contacts", json=[contact_with_phone("+7 (916) 765-43-21")]).json()[
        "_embedded"
    ]["contacts"][0]["id"]
    answer = api.post("/api/v4/calls", json=[call("89167654321", "c1", responsible_user_id=8_000_003)])
    assert answer.status_code == 200
    stored = answer.json()["_embedded"]["calls"][0]
    assert (stored["entity_type"], stored["entity_id"], stored["request_id"]) == (
        "contacts",
        contact_id,
        "c1",
    )
    assert stored["_embedded"]["entity"]["id"] == contact_id
    notes = api.get(f"/api/v4/contacts/{contact_id}/notes").json()["_embedded"]["notes"]
    assert len(notes) == 1
    note = notes[0]
    assert note["note_type"] == "call_in" and note["id"] == stored["id"]
    assert note["responsible_user_id"] == 8_000_003 and note["created_by"] == 0
    assert note["params"] == {
        "uniq": "entry-c1",
        "duration": 42,
        "source": "Mango CRM Bridge",
        "link": "https://bridge.test/rec/1",
        "phone": "89167654321",
        "call_result": "Разговор состоялся",
        "call_status": 4,
    }
    api.post("/api/v4/calls", json=[call("+79167654321", "c2", direction="outbound", call_status=6)])
    outgoing = api.get("/api/v4/contacts/notes", params={"filter[note_type]": "call_out"}).json()
    assert [n["entity_id"] for n in outgoing["_embedded"]["notes"]] == [contact_id]
    assert api.get(f"/api/v4/contacts/notes/{stored['id']}").json()["params"]["uniq"] == "entry-c1"


def test_call_goes_to_the_single_open_lead_then_to_a_company(amo: AmoCrmSandbox, api: httpx.Client) -> None:
    ids = amo.seed(preset="known_client")
    stored = api.post("/api/v4/calls", json=[call("9161234567")]).json()["_embedded"]["calls"][0]
    assert (stored["entity_type"], stored["entity_id"]) == ("leads", ids["leads"][0])
    assert api.get(f"/api/v4/leads/{ids['leads'][0]}/notes").json()["_embedded"]["notes"][0]["note_type"] == (
        "call_in"
    )
    api.post("/api/v4/leads", json=[{"_embedded": {"contacts": [{"id": ids["contacts"][0]}]}}])
    two_leads = api.post("/api/v4/calls", json=[call("9161234567")]).json()["_embedded"]["calls"][0]
    assert (two_leads["entity_type"], two_leads["entity_id"]) == ("contacts", ids["contacts"][0])

    company_id = api.post("/api/v4/companies", json=[contact_with_phone("+7 812 000-11-22")]).json()[
        "_embedded"
    ]["companies"][0]["id"]
    by_company = api.post("/api/v4/calls", json=[call("78120001122")]).json()["_embedded"]["calls"][0]
    assert (by_company["entity_type"], by_company["entity_id"]) == ("companies", company_id)


def test_call_for_an_unknown_number_is_a_per_item_error(amo: AmoCrmSandbox, api: httpx.Client) -> None:
    api.post("/api/v4/contacts", json=[contact_with_phone("+79160000001")])
    mixed = api.post("/api/v4/calls", json=[call("+79160000001", "known"), call("+79990000000", "unknown")])
    assert mixed.status_code == 200
    body = mixed.json()
    assert body["_total_items"] == 1
    assert [c["request_id"] for c in body["_embedded"]["calls"]] == ["known"]
    assert body["errors"] == [
        {
            "request_id": "unknown",
            "title": "Entity not found",
            "detail": "No contact or company has this phone number",
        }
    ]
    nothing = api.post("/api/v4/calls", json=[call("+79990000000", "only")])
    assert nothing.status_code == 400
    assert nothing.json()["_total_items"] == 0 and nothing.json()["errors"][0]["title"] == "Entity not found"
    outcomes = [(entry["request_id"], entry["result"]) for entry in amo.state()["calls"]]
    assert outcomes == [("known", "stored"), ("unknown", "entity_not_found"), ("only", "entity_not_found")]
    assert len(amo.state()["notes"]) == 1


def test_malformed_calls_are_refused_as_a_whole(amo: AmoCrmSandbox, api: httpx.Client) -> None:
    api.post("/api/v4/contacts", json=[contact_with_phone("+79160000001")])
    refused = api.post(
        "/api/v4/calls",
        json=[
            call("+79160000001", "fine"),
            call("+79160000001", "bad", call_status=9, direction="sideways"),
        ],
    )
    assert refused.status_code == 400
    errors = refused.json()["validation-errors"]
    assert errors[0]["request_id"] == "bad"
    assert {(e["path"], e["code"]) for e in errors[0]["errors"]} == {
        ("call_status", "NotSupportedChoice"),
        ("direction", "NotSupportedChoice"),
    }
    assert len(errors) == 1
    assert amo.state()["notes"] == []


# -- notes and tasks -----------------------------------------------------------------------------


def test_notes_can_be_added_per_entity_or_in_bulk(api: httpx.Client) -> None:
    lead_id = api.post("/api/v4/leads", json=[{}]).json()["_embedded"]["leads"][0]["id"]
    by_path = api.post(
        f"/api/v4/leads/{lead_id}/notes", json=[{"note_type": "common", "params": {"text": "a"}}]
    )
    assert by_path.json()["_embedded"]["notes"][0]["entity_id"] == lead_id
    bulk = api.post(
        "/api/v4/leads/notes",
        json=[
            {
                "entity_id": lead_id,
                "note_type": "call_out",
                "params": {"uniq": "u", "duration": 3, "source": "s", "phone": "+7916", "link": None},
                "request_id": "n",
            }
        ],
    )
    assert bulk.json()["_embedded"]["notes"][0]["request_id"] == "n"
    listed = api.get("/api/v4/leads/notes", params={"filter[entity_id]": lead_id}).json()["_embedded"][
        "notes"
    ]
    assert [note["note_type"] for note in listed] == ["common", "call_out"]
    bad = api.post(
        "/api/v4/leads/notes",
        json=[{"entity_id": 4_999_999, "note_type": "common", "params": {}}, {"note_type": "nope"}],
    )
    assert bad.status_code == 400
    assert [[e["path"] for e in item["errors"]] for item in bad.json()["validation-errors"]] == [
        ["entity_id", "params.text"],
        ["note_type"],
    ]


def test_tasks_are_created_listed_and_completed(api: httpx.Client, clock: ManualClock) -> None:
    contact_id = api.post("/api/v4/contacts", json=[{"name": "x"}]).json()["_embedded"]["contacts"][0]["id"]
    deadline = int(clock()) + 3600
    created = api.post(
        "/api/v4/tasks",
        json=[
            {
                "text": "Перезвонить клиенту",
                "complete_till": deadline,
                "entity_type": "contacts",
                "entity_id": contact_id,
                "responsible_user_id": 8_000_002,
                "task_type_id": 1,
                "request_id": "t",
            }
        ],
    ).json()["_embedded"]["tasks"][0]
    assert created["request_id"] == "t"
    assert api.get(f"/api/v4/contacts/{contact_id}").json()["closest_task_at"] == deadline
    mine = api.get(
        "/api/v4/tasks", params={"filter[responsible_user_id]": 8_000_002, "filter[is_completed]": 0}
    )
    assert [task["text"] for task in mine.json()["_embedded"]["tasks"]] == ["Перезвонить клиенту"]
    api.patch(f"/api/v4/tasks/{created['id']}", json={"is_completed": True, "result": {"text": "Готово"}})
    task = api.get(f"/api/v4/tasks/{created['id']}").json()
    assert task["is_completed"] is True and task["result"] == {"text": "Готово"}
    assert api.get(f"/api/v4/contacts/{contact_id}").json()["closest_task_at"] is None
    missing = api.post("/api/v4/tasks", json=[{"entity_type": "contacts", "entity_id": contact_id}])
    assert {e["path"] for e in missing.json()["validation-errors"][0]["errors"]} == {"text", "complete_till"}


# -- unsorted and complex ------------------------------------------------------------------------


def sip_item(source_uid: str, caller: str, **fields: Any) -> dict[str, Any]:
    return {
        "source_uid": source_uid,
        "source_name": "Mango Office",
        "pipeline_id": MAIN_PIPELINE_ID,
        "metadata": {
            "uniq": f"call-{source_uid}",
            "duration": 37,
            "service_code": "mango_bridge",
            "link": "https://bridge.test/rec/9",
            "phone": "+74955404444",
            "from": caller,
            "called_at": 1_764_000_000,
            "is_call_event_needed": True,
        },
        "_embedded": {
            "contacts": [contact_with_phone(caller, name=f"Новый {caller}")],
            "leads": [{"name": f"Входящий от {caller}"}],
        },
        **fields,
    }


def test_unsorted_sip_holds_the_lead_until_accepted(amo: AmoCrmSandbox, api: httpx.Client) -> None:
    created = api.post(
        "/api/v4/leads/unsorted/sip", json=[sip_item("entry-1", "+79035551122", request_id="u")]
    )
    assert created.status_code == 200
    item = created.json()["_embedded"]["unsorted"][0]
    assert item["request_id"] == "u"
    lead_id = item["_embedded"]["leads"][0]["id"]
    contact_id = item["_embedded"]["contacts"][0]["id"]
    lead = api.get(f"/api/v4/leads/{lead_id}").json()
    assert (lead["status_id"], lead["name"]) == (UNSORTED_STATUS_ID, "Входящий от +79035551122")
    note = api.get(f"/api/v4/leads/{lead_id}/notes").json()["_embedded"]["notes"][0]
    assert note["note_type"] == "call_in" and note["params"]["phone"] == "+79035551122"

    listed = api.get("/api/v4/leads/unsorted", params={"filter[category][]": "sip"}).json()["_embedded"][
        "unsorted"
    ]
    assert [(u["uid"], u["source_uid"], u["category"]) for u in listed] == [(item["uid"], "entry-1", "sip")]
    assert listed[0]["metadata"]["from"] == "+79035551122"
    assert api.get("/api/v4/contacts", params={"query": "9035551122"}).status_code == 204
    assert api.post("/api/v4/calls", json=[call("+79035551122")]).status_code == 400

    duplicate = api.post("/api/v4/leads/unsorted/sip", json=[sip_item("entry-1", "+79035551122")])
    assert duplicate.status_code == 400
    assert duplicate.json()["validation-errors"][0]["errors"][0]["path"] == "source_uid"

    accepted = api.post(f"/api/v4/leads/unsorted/{item['uid']}/accept", json={"user_id": 8_000_003})
    assert accepted.status_code == 200 and accepted.json()["_embedded"]["contacts"][0]["id"] == contact_id
    lead = api.get(f"/api/v4/leads/{lead_id}").json()
    assert (lead["status_id"], lead["responsible_user_id"]) == (FIRST_OPEN_STATUS_ID, 8_000_003)
    assert api.get("/api/v4/contacts", params={"query": "9035551122"}).status_code == 200
    assert api.get("/api/v4/leads/unsorted").status_code == 204
    assert api.post(f"/api/v4/leads/unsorted/{item['uid']}/accept", json={}).status_code == 404


def test_declined_unsorted_removes_its_lead(api: httpx.Client) -> None:
    item = api.post("/api/v4/leads/unsorted/sip", json=[sip_item("entry-2", "+79035550000")]).json()[
        "_embedded"
    ]["unsorted"][0]
    declined = api.delete(f"/api/v4/leads/unsorted/{item['uid']}/decline")
    assert declined.status_code == 200
    assert api.get(f"/api/v4/leads/{item['_embedded']['leads'][0]['id']}").status_code == 204
    summary = api.get("/api/v4/leads/unsorted/summary").json()
    assert (summary["total"], summary["accepted"], summary["declined"]) == (0, 0, 1)
    broken = api.post("/api/v4/leads/unsorted/sip", json=[{"source_name": "x", "metadata": {"duration": -1}}])
    paths = {e["path"] for e in broken.json()["validation-errors"][0]["errors"]}
    assert {"source_uid", "metadata.uniq", "metadata.duration", "metadata.service_code"} <= paths


def test_complex_lead_answers_a_bare_array_and_never_merges(amo: AmoCrmSandbox, api: httpx.Client) -> None:
    amo.seed(preset="known_client")
    answer = api.post(
        "/api/v4/leads/complex",
        json=[
            {
                "name": "Сделка с контактом",
                "_embedded": {
                    "contacts": [contact_with_phone(KNOWN_CLIENT_PHONE, name="Дубликат")],
                    "companies": [{"name": "ООО Дубль"}],
                },
                "request_id": "cx",
            }
        ],
    )
    assert answer.status_code == 200
    [result] = answer.json()
    assert result["request_id"] == ["cx"] and result["merged"] is False
    found = api.get("/api/v4/contacts", params={"query": "9161234567"}).json()["_embedded"]["contacts"]
    assert len(found) == 2
    lead = api.get(f"/api/v4/leads/{result['id']}", params={"with": "contacts"}).json()
    assert lead["_embedded"]["contacts"][0]["id"] == result["contact_id"]
    assert lead["_embedded"]["companies"][0]["id"] == result["company_id"]


def test_complex_lead_with_metadata_waits_in_unsorted(api: httpx.Client) -> None:
    [result] = api.post(
        "/api/v4/leads/complex",
        json=[
            {
                "name": "Звонок с сайта",
                "status_id": 9_100_003,
                "_embedded": {
                    "contacts": [contact_with_phone("+79035559999")],
                    "metadata": {"category": "sip", "uniq": "z-1", "from": "+79035559999", "duration": 5},
                },
            }
        ],
    ).json()
    assert api.get(f"/api/v4/leads/{result['id']}").json()["status_id"] == UNSORTED_STATUS_ID
    [item] = api.get("/api/v4/leads/unsorted").json()["_embedded"]["unsorted"]
    assert item["category"] == "sip" and item["_embedded"]["contacts"][0]["id"] == result["contact_id"]
    too_many = api.post("/api/v4/leads/complex", json=[{} for _ in range(51)])
    assert too_many.status_code == 400


def test_links_connect_existing_entities(api: httpx.Client) -> None:
    contact_id = api.post("/api/v4/contacts", json=[{"name": "x"}]).json()["_embedded"]["contacts"][0]["id"]
    lead_id = api.post("/api/v4/leads", json=[{}]).json()["_embedded"]["leads"][0]["id"]
    linked = api.post(
        f"/api/v4/leads/{lead_id}/link",
        json=[{"to_entity_id": contact_id, "to_entity_type": "contacts", "metadata": {"is_main": True}}],
    )
    assert linked.status_code == 200
    assert linked.json()["_embedded"]["links"] == [
        {
            "entity_id": lead_id,
            "entity_type": "leads",
            "to_entity_id": contact_id,
            "to_entity_type": "contacts",
            "metadata": {"main_contact": True},
        }
    ]
    contact = api.get(f"/api/v4/contacts/{contact_id}", params={"with": "leads"}).json()
    assert [lead["id"] for lead in contact["_embedded"]["leads"]] == [lead_id]
    assert api.get(f"/api/v4/contacts/{contact_id}/links").json()["_embedded"]["links"][0][
        "to_entity_id"
    ] == (lead_id)
    refused = api.post(
        "/api/v4/leads/link",
        json=[{"entity_id": lead_id, "to_entity_id": 1, "to_entity_type": "catalog_elements"}],
    )
    assert refused.json()["validation-errors"][0]["errors"][0]["path"] == "to_entity_type"


# -- empty results and validation ----------------------------------------------------------------


def test_empty_results_are_204_without_a_body(api: httpx.Client) -> None:
    for path in (
        "/api/v4/contacts",
        "/api/v4/companies?query=nothing",
        "/api/v4/leads",
        "/api/v4/contacts/2000999",
        "/api/v4/leads/notes",
        "/api/v4/tasks",
        "/api/v4/leads/unsorted",
    ):
        response = api.get(path)
        assert (response.status_code, response.content) == (204, b""), path


def test_validation_errors_are_problem_json_and_reject_the_whole_batch(
    amo: AmoCrmSandbox, api: httpx.Client
) -> None:
    refused = api.post(
        "/api/v4/leads",
        json=[
            {"name": "fine", "request_id": "ok"},
            {"name": "bad", "responsible_user_id": "8000002", "status_id": 1, "request_id": "bad"},
            {
                "responsible_user_id": 1,
                "custom_fields_values": [{"field_code": "NOPE", "values": [{"value": "x"}]}],
                "_embedded": {"contacts": [{"id": 2_999_999}]},
            },
        ],
    )
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert (body["title"], body["type"], body["status"], body["detail"]) == (
        "Bad Request",
        "https://httpstatus.es/400",
        400,
        "Request validation failed",
    )
    assert body["validation-errors"] == [
        {
            "request_id": "bad",
            "errors": [
                {
                    "code": "InvalidType",
                    "path": "responsible_user_id",
                    "detail": "This value should be of type int.",
                }
            ],
        },
        {
            "request_id": "2",
            "errors": [
                {
                    "code": "NotSupportedChoice",
                    "path": "responsible_user_id",
                    "detail": "The value you selected is not a valid choice.",
                },
                {
                    "code": "NotSupportedChoice",
                    "path": "custom_fields_values.0.field_code",
                    "detail": "The value you selected is not a valid choice.",
                },
                {"code": "NotFound", "path": "_embedded.contacts.0.id", "detail": "Contact not found"},
            ],
        },
    ]
    assert amo.state()["leads"] == []
    status_only = api.post("/api/v4/leads", json=[{"status_id": 1}, {"status_id": UNSORTED_STATUS_ID}])
    assert [item["errors"][0]["path"] for item in status_only.json()["validation-errors"]] == [
        "status_id"
    ] * 2
    not_a_list = api.post("/api/v4/contacts", json={"name": "x"})
    assert not_a_list.status_code == 400 and not_a_list.json()["title"] == "Bad Request"
    not_json = api.post("/api/v4/contacts", content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert api.get("/api/v4/nothing").status_code == 404
    assert api.delete("/api/v4/contacts").status_code == 405


# -- account, users, pipelines -------------------------------------------------------------------


def test_seeded_account_users_and_pipelines(api: httpx.Client) -> None:
    account = api.get("/api/v4/account", params={"with": "task_types,datetime_settings,users_groups"}).json()
    assert account["subdomain"] == "demo" and account["current_user_id"] == 8_000_001
    assert account["_embedded"]["datetime_settings"]["timezone"] == "Europe/Moscow"
    assert [t["id"] for t in account["_embedded"]["task_types"]] == [1, 2]
    users = api.get("/api/v4/users").json()["_embedded"]["users"]
    active = {user["id"]: user["rights"]["is_active"] for user in users}
    assert active[INACTIVE_USER_ID] is False and sum(active.values()) == 3
    pipelines = api.get("/api/v4/leads/pipelines").json()["_embedded"]["pipelines"]
    main = next(p for p in pipelines if p["is_main"])
    statuses = {s["id"]: s for s in main["_embedded"]["statuses"]}
    assert statuses[UNSORTED_STATUS_ID]["type"] == 1
    assert {142, 143} <= set(statuses)
    assert api.get(f"/api/v4/leads/pipelines/{main['id']}/statuses").json()["_total_items"] == len(statuses)
    assert api.get("/api/v4/leads/pipelines/1").json()["detail"] == "Pipeline not found"
    fields = api.get("/api/v4/contacts/custom_fields").json()["_embedded"]["custom_fields"]
    phone = next(f for f in fields if f["code"] == "PHONE")
    assert [e["value"] for e in phone["enums"]] == ["WORK", "WORKDD", "MOB", "FAX", "HOME", "OTHER"]


# -- faults --------------------------------------------------------------------------------------


def test_status_faults_hit_a_given_number_of_requests(amo: AmoCrmSandbox, api: httpx.Client) -> None:
    added = api.post("/_sandbox/faults", json={"status": 503, "count": 2})
    assert added.json()["faults"][0]["count"] == 2
    statuses = [api.get("/api/v4/account").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    amo.add_fault({"status": 429})
    limited = api.get("/api/v4/account")
    assert (limited.status_code, limited.content) == (429, b"")
    amo.add_fault({"status": 500, "path": "api/v4/calls"})
    assert api.get("/api/v4/account").status_code == 200
    broken = api.post("/api/v4/calls", json=[call("1")])
    assert broken.status_code == 500 and broken.json()["type"] == "https://httpstatus.es/500"
    assert api.post("/_sandbox/faults", json={"bogus": 1}).status_code == 400
    assert [entry["fault"] for entry in amo.state()["requests"]][:2] == [True, True]


def test_latency_fault_delays_the_answer(amo: AmoCrmSandbox, api: httpx.Client) -> None:
    amo.add_fault({"latency_ms": 300})
    started = time.perf_counter()
    assert api.get("/api/v4/account").status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_outage_answers_503_until_cleared_or_over(
    amo: AmoCrmSandbox, api: httpx.Client, clock: ManualClock
) -> None:
    api.post("/_sandbox/faults", json={"outage": True})
    assert {api.get("/api/v4/account").status_code for _ in range(5)} == {503}
    assert api.post("/oauth2/access_token", json={}).status_code == 503
    api.delete("/_sandbox/faults")
    assert api.get("/api/v4/account").status_code == 200

    amo.add_fault({"outage": True, "for_seconds": 3600})
    assert api.get("/api/v4/account").status_code == 503
    clock.advance(3599)
    assert api.get("/api/v4/account").status_code == 503
    clock.advance(1)
    assert api.get("/api/v4/account").status_code == 200

    amo.add_fault({"outage": True, "count": 2})
    assert [api.get("/api/v4/account").status_code for _ in range(3)] == [503, 503, 200]


def test_auth_expiry_fault_forces_a_refresh(amo: AmoCrmSandbox) -> None:
    pair = amo.issue_tokens()
    with httpx.Client(base_url=amo.url) as client:
        client.post("/_sandbox/faults", json={"expire_tokens": True})
        assert client.get("/_sandbox/faults").json() == {"faults": []}
        assert client.get("/api/v4/account", headers=bearer(pair.access_token)).status_code == 401
        refreshed = client.post(
            "/oauth2/access_token",
            json=token_request(amo, grant_type="refresh_token", refresh_token=pair.refresh_token),
        ).json()
        assert client.get("/api/v4/account", headers=bearer(refreshed["access_token"])).status_code == 200


def test_clock_can_be_advanced_over_http(amo: AmoCrmSandbox) -> None:
    pair = amo.issue_tokens()
    with httpx.Client(base_url=amo.url) as client:
        client.post("/_sandbox/clock", json={"advance": 86_400})
        assert client.get("/api/v4/account", headers=bearer(pair.access_token)).status_code == 401


# -- seed, reset, state --------------------------------------------------------------------------


def test_seed_known_client_and_custom_data_over_http(amo: AmoCrmSandbox, api: httpx.Client) -> None:
    ids = api.post("/_sandbox/seed", json={"preset": "known_client"}).json()
    contact = api.get(f"/api/v4/contacts/{ids['contacts'][0]}", params={"with": "leads"}).json()
    assert contact["responsible_user_id"] == KNOWN_CLIENT_RESPONSIBLE_ID
    lead = api.get(f"/api/v4/leads/{ids['leads'][0]}", params={"with": "contacts"}).json()
    assert lead["status_id"] not in (142, 143, UNSORTED_STATUS_ID)
    assert lead["_embedded"]["contacts"] == [
        {"id": ids["contacts"][0], "is_main": True, "_links": contact["_links"]}
    ]

    custom = api.post(
        "/_sandbox/seed",
        json={
            "users": [{"id": 8_000_050, "name": "Дежурный", "is_active": True}],
            "companies": [{"id": 3_500_000, "name": "Склад", "phones": ["+7 812 111-22-33"]}],
            "contacts": [
                {
                    "name": "Ольга",
                    "phones": ["+7 921 000-00-01"],
                    "company_id": 3_500_000,
                    "responsible_user_id": 8_000_050,
                }
            ],
            "leads": [{"name": "Заказ", "contact_ids": [], "company_id": 3_500_000, "status_id": 143}],
        },
    ).json()
    assert custom["users"] == [8_000_050] and custom["companies"] == [3_500_000]
    olga = api.get(f"/api/v4/contacts/{custom['contacts'][0]}").json()
    assert olga["_embedded"]["companies"][0]["id"] == 3_500_000
    refused = api.post("/_sandbox/seed", json={"contacts": [{"name": "x", "responsible_user_id": 1}]})
    assert refused.status_code == 400
    assert refused.json()["validation-errors"][0]["request_id"] == "contacts.0"


def test_reset_forgets_data_but_keeps_tokens_unless_asked(amo: AmoCrmSandbox, api: httpx.Client) -> None:
    amo.seed(preset="known_client")
    api.get("/api/v4/contacts")
    state = amo.state()
    assert len(state["contacts"]) == 1 and state["requests"][-1]["path"] == "/api/v4/contacts"
    assert state["requests"][-1]["user_id"] == 8_000_001
    assert api.post("/_sandbox/reset").json() == {"ok": True}
    assert api.get("/api/v4/contacts").status_code == 204
    state = amo.state()
    assert state["contacts"] == [] and [r["path"] for r in state["requests"]] == ["/api/v4/contacts"]
    assert len(state["users"]) == 4
    api.post("/_sandbox/reset", json={"forget_tokens": True})
    assert api.get("/api/v4/contacts").status_code == 401


def test_control_endpoints_issue_tokens_and_codes(amo: AmoCrmSandbox) -> None:
    with httpx.Client(base_url=amo.url) as client:
        pair = client.post("/_sandbox/tokens").json()
        assert set(pair) == {"access_token", "refresh_token", "expires_in", "server_time", "token_type"}
        long_lived = client.post("/_sandbox/tokens", json={"long_lived": True, "ttl_seconds": 60}).json()
        assert "refresh_token" not in long_lived
        assert client.get("/api/v4/account", headers=bearer(long_lived["access_token"])).status_code == 200
        code = client.post("/_sandbox/authorization_code").json()["code"]
        exchanged = client.post(
            "/oauth2/access_token", json=token_request(amo, grant_type="authorization_code", code=code)
        )
        assert exchanged.status_code == 200
        assert client.get("/_sandbox/nothing").status_code == 404
