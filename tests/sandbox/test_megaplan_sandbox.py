"""The Megaplan sandbox speaks API v3 as the bridge expects it: tokens, the envelope, JSON-in-query GETs,
pagination, 422 with `meta.errors`, Megaplan's deal rules and the control endpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from sandbox.crm.megaplan import DEFAULT_LOGIN, DEFAULT_PASSWORD, MegaplanSandbox


@pytest.fixture
def mp() -> Iterator[MegaplanSandbox]:
    with MegaplanSandbox(port=0) as sandbox:
        yield sandbox


@pytest.fixture
def http(mp: MegaplanSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mp.url, trust_env=False) as client:
        token = client.post(
            "/api/v3/auth/access_token",
            files={
                "username": (None, DEFAULT_LOGIN),
                "password": (None, DEFAULT_PASSWORD),
                "grant_type": (None, "password"),
            },
        ).json()
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield client


def get(http: httpx.Client, path: str, params: dict) -> httpx.Response:
    return http.get(f"{path}?{quote(json.dumps(params))}")


def test_a_wrong_password_and_a_missing_token_are_refused(mp: MegaplanSandbox) -> None:
    with httpx.Client(base_url=mp.url, trust_env=False) as client:
        refused = client.post(
            "/api/v3/auth/access_token",
            data={"username": DEFAULT_LOGIN, "password": "x", "grant_type": "password"},
        )
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        anonymous = client.get("/api/v3/employee")
        assert anonymous.status_code == 401 and anonymous.json()["meta"]["errors"]


def test_the_envelope_paginates_after_a_link_entity(mp: MegaplanSandbox, http: httpx.Client) -> None:
    mp.seed({"contractors": [{"firstName": f"Клиент {i}", "phones": [f"+7916000{i:04d}"]} for i in range(5)]})
    first = get(http, "/api/v3/contractor", {"limit": 2}).json()
    assert first["meta"] == {"status": 200, "errors": [], "pagination": {"count": 5, "limit": 2}}
    assert set(first["data"][0]) == {"contentType", "id", "name", "contactInfo"}  # collection fields only
    after = first["data"][-1]
    second = get(
        http,
        "/api/v3/contractor",
        {"limit": 2, "pageAfter": {"contentType": after["contentType"], "id": after["id"]}},
    ).json()
    assert [c["name"] for c in second["data"]] == ["Клиент 2", "Клиент 3"]


def test_search_matches_phone_digits_however_they_are_written(
    mp: MegaplanSandbox, http: httpx.Client
) -> None:
    mp.seed(
        {
            "contractors": [
                {"firstName": "Иван", "phones": ["+7 (916) 123-45-67"]},
                {"firstName": "Пётр", "phones": ["+74950000000"]},
            ]
        }
    )
    found = get(http, "/api/v3/contractor", {"q": "9161234567"}).json()["data"]
    assert [c["name"] for c in found] == ["Иван"]


def test_validation_errors_come_back_as_422_with_the_fields(http: httpx.Client) -> None:
    answer = http.post(
        "/api/v3/contractorHuman", json={"firstName": "A", "contactInfo": [{"type": "fax", "value": "1"}]}
    )
    assert answer.status_code == 422
    assert answer.json()["meta"]["errors"][0]["fields"] == ["contactInfo"]
    deal = http.post("/api/v3/deal", json={"name": "x"}).json()["meta"]["errors"]
    assert {e["fields"][0] for e in deal} == {"program"}
    assert http.post("/api/v3/contractor", json={}).status_code == 405  # the generic collection is read-only


def test_a_deal_starts_in_the_first_state_and_moves_by_transition(http: httpx.Client) -> None:
    client = http.post("/api/v3/contractorHuman", json={"firstName": "Иван"}).json()["data"]
    deal = http.post(
        "/api/v3/deal",
        json={
            "name": "Сделка",
            "program": {"contentType": "Program", "id": "9000001"},
            "state": {"id": "9100003"},
            "contractor": {"contentType": "ContractorHuman", "id": client["id"]},
        },
    ).json()["data"]
    assert deal["state"]["name"] == "Новая заявка"  # `state` on create is ignored
    move = next(t for t in deal["possibleTransitions"] if t["stateTo"]["id"] == "9100003")
    moved = http.post(
        f"/api/v3/deal/{deal['id']}/applyTransition",
        json={"transition": {"contentType": "ProgramTransition", "id": move["id"]}},
    )
    assert moved.json()["data"]["state"]["type"] == "positive"
    shown = get(http, f"/api/v3/contractorHuman/{client['id']}", {}).json()["data"]
    assert (shown["countDeals"], shown["countActiveDeals"]) == (1, 0)


def test_extra_fields_must_exist_before_they_are_written(http: httpx.Client) -> None:
    refused = http.post("/api/v3/contractorHuman", json={"firstName": "A", "Category183CustomFieldX": "1"})
    assert refused.status_code == 422
    (field,) = http.post(
        "/api/v3/contractorHuman/extraFields/0",
        json={"contentType": "StringField", "hrName": "ДКТ: client_id"},
    ).json()["data"]
    made = http.post("/api/v3/contractorHuman", json={"firstName": "A", field["name"]: "c1"}).json()["data"]
    assert made[field["name"]] == "c1"
    assert get(http, "/api/v3/contractorHuman/extraFields", {}).json()["data"] == [field]
    assert get(http, "/api/v3/contractorCompany/extraFields", {}).json()["data"] == []  # per kind


def test_without_telephony_the_callinfo_routes_do_not_exist(mp: MegaplanSandbox, http: httpx.Client) -> None:
    assert get(http, "/api/v3/callInfo", {"limit": 1}).status_code == 200
    http.post(f"{mp.url}/_sandbox/config", json={"telephony": False})
    assert get(http, "/api/v3/callInfo", {"limit": 1}).status_code == 404


def test_faults_answer_before_the_account(mp: MegaplanSandbox, http: httpx.Client) -> None:
    http.post("/_sandbox/faults", json={"status": 429, "count": 1})
    assert http.get("/api/v3/employee").status_code == 429
    assert http.get("/api/v3/employee").status_code == 200
    http.post("/_sandbox/faults", json={"expire_tokens": True})
    assert http.get("/api/v3/employee").status_code == 401


def test_sandbox_serves_what_the_sdk_uses_company_search_client_deals_and_a_one_object_filter_value(
    mp: MegaplanSandbox, http: httpx.Client
) -> None:
    """borzov/megaplan-sdk: `contractorCompany/search` (docs r2510), `contractor/{id}/deals`
    (`get_deals`) and a `FilterTermRef` whose `value` is one link entity (README) — an HTML 500 before."""
    made = mp.seed(
        {
            "contractors": [
                {"contentType": "ContractorCompany", "name": "ООО Ромашка"},
                {"firstName": "Ромашка", "lastName": "Иванова"},
            ]
        }
    )["contractors"]
    company, person = made
    (deal,) = mp.seed({"deals": [{"contractor_id": company, "state_id": "9100002"}]})["deals"]
    found = get(http, "/api/v3/contractorCompany/search", {"q": "Ромашка"}).json()["data"]
    assert [(f["contentType"], f["id"]) for f in found] == [  # both kinds, as on a live account
        ("ContractorCompany", company),
        ("ContractorHuman", person),
    ]
    assert [d["id"] for d in get(http, f"/api/v3/contractor/{company}/deals", {}).json()["data"]] == [deal]
    assert get(http, f"/api/v3/contractor/{person}/deals", {}).json()["data"] == []
    link = {"contentType": "ContractorCompany", "id": company}
    for value in (link, [link]):
        term = {"contentType": "FilterTermRef", "field": "contractor", "comparison": "equals", "value": value}
        query = {"filter": {"contentType": "TradeFilter", "config": {"termGroup": {"terms": [term]}}}}
        answer = get(http, "/api/v3/deal", query)
        assert answer.status_code == 200 and [d["id"] for d in answer.json()["data"]] == [deal]
    term = {"contentType": "FilterTermRef", "field": "contractor", "value": "x"}
    bad = get(http, "/api/v3/deal", {"filter": {"config": {"termGroup": {"terms": [term]}}}})
    assert bad.status_code == 422 and bad.json()["meta"]["errors"]


def test_calls_follow_the_docs_history_is_finished_and_silent_provider_id_finds_the_latest(
    mp: MegaplanSandbox, http: httpx.Client
) -> None:
    """docs r2510 «Телефония. Звонок»: `GET /callInfo` pages only (a `providerId` there is ignored);
    `/callInfo/provider` finds by provider id; `/callInfo/history` takes an array, writes finished calls
    and sends nothing to the widget, while `POST /callInfo` activates it."""
    live = http.post("/api/v3/callInfo", json={"providerId": "p-live", "fromPhone": "+74951", "type": "in"})
    assert live.json()["data"]["state"] == "calling"
    history = http.post(
        "/api/v3/callInfo/history", json=[{"providerId": "p-done", "fromPhone": "+74952", "type": "miss"}]
    ).json()["data"]
    assert [(c["providerId"], c["state"]) for c in history] == [("p-done", "finished")]
    assert [e["call"] for e in mp.state()["widget_events"]] == [live.json()["data"]["id"]]
    listed = get(http, "/api/v3/callInfo", {"providerId": "p-done"}).json()["data"]
    assert len(listed) == 2  # not filtered
    by_provider = get(http, "/api/v3/callInfo/provider", {"providerId": "p-done"}).json()["data"]
    assert by_provider["id"] == history[0]["id"]
    assert get(http, "/api/v3/callInfo/provider", {"providerId": "nope"}).status_code == 404
    assert get(http, "/api/v3/callInfo/provider", {}).status_code == 422
    again = http.post("/api/v3/callInfo/history", json=[{"providerId": "p-done", "fromPhone": "+74952"}])
    assert again.json()["data"][0]["id"] == history[0]["id"]  # «создаются или обновляются»
    http.post(f"{mp.url}/_sandbox/config", json={"call_history": False})
    assert get(http, "/api/v3/callInfo/history", {}).status_code == 404


def test_client_comments_answer_500_as_on_real_accounts_deal_comments_work(
    mp: MegaplanSandbox, http: httpx.Client
) -> None:
    (client,) = mp.seed({"contractors": [{"firstName": "A"}]})["contractors"]
    (deal,) = mp.seed({"deals": [{"contractor_id": client}]})["deals"]
    assert http.post(f"/api/v3/contractor/{client}/comments", json={"content": "x"}).status_code == 500
    assert get(http, f"/api/v3/contractorHuman/{client}/comments", {}).status_code == 500
    assert http.post(f"/api/v3/deal/{deal}/comments", json={"content": "x"}).status_code == 200
    http.post(f"{mp.url}/_sandbox/config", json={"contractor_comments": True})
    assert http.post(f"/api/v3/contractor/{client}/comments", json={"content": "x"}).status_code == 200


def test_a_client_keeps_the_creator_it_was_given(http: httpx.Client) -> None:
    body = {"firstName": "A", "userCreated": {"contentType": "Employee", "id": "8000003"}}
    made = http.post("/api/v3/contractorHuman", json=body).json()["data"]
    assert made["userCreated"] == {"contentType": "Employee", "id": "8000003"}
    plain = http.post("/api/v3/contractorHuman", json={"firstName": "B"}).json()["data"]
    assert plain["userCreated"]["id"] == "8000001"  # the integration user
