"""What the two Megaplan documents (seeds 001 and 004) promise, setting by setting, as the Megaplan
sandbox ends up holding it after Mango's calls went through the local stack.

Tenant `mp-main` follows seed 004's recommended set-up: answered new numbers → «Клиента и процесс»
(«Продажи», «Переговоры»), missed → «Клиента и процесс» («Сервис», «Обращение»), outgoing → «Клиента»;
repeat calls create nothing; IVR responsible 8000003, group responsible 8000002; the source line and
call tracking are on; its clock is Yekaterinburg's (UTC+5), to show names use the tenant's zone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.e2e.megaplan_world import (
    LOST,
    NEGOTIATION,
    NEW_REQUEST,
    SALES,
    SERVICE,
    SERVICE_REQUEST,
    WON,
    fresh_number,
    held_for,
    megaplan,
    move_deal,
    register,
    seed_client,
    seed_deal,
)
from tests.e2e.tenant_world import landed, play, put_crm_secret

ZONE = "Asia/Yekaterinburg"
LINE = "74951234567"
TRACKING = "74957770011"
MAIN_SETTINGS: dict[str, Any] = {
    "timezone": ZONE,
    "new_number": {
        "answered_incoming": {
            "create": ["contact", "deal"],
            "deal_program": SALES,
            "deal_status": NEGOTIATION,
        },
        "missed_incoming": {
            "create": ["contact", "deal"],
            "deal_program": SERVICE,
            "deal_status": SERVICE_REQUEST,
        },
        "outgoing": {"create": ["contact"]},
    },
    "responsibles": {
        "missed_in_ivr": {"enabled": True, "crm_user_id": "8000003"},
        "missed_in_group": {"enabled": True, "crm_user_id": "8000002"},
    },
    "source_line": True,
    "call_tracking": True,
}


def repeat_settings(when: str) -> dict[str, Any]:
    action = {"create": "deal", "when": when, "deal_program": SALES, "deal_status": NEW_REQUEST}
    return {"repeat_call": {"answered": action, "missed": action}}


@pytest.fixture(scope="module")
def main(stack: dict[str, Any], admin: httpx.Client) -> str:
    return register(stack, admin, "mp-main", MAIN_SETTINGS)


def local_name(rendered: Any, kind: str) -> str:
    started = datetime.fromtimestamp(rendered.base_time, UTC).astimezone(ZoneInfo(ZONE))
    return f"Новый ({started:%H:%M %d.%m.%Y}, {kind})"


def responsibles(client: dict[str, Any]) -> list[str]:
    return [r["id"] for r in client["responsibles"]]


def employee(call: dict[str, Any], side: str) -> str | None:
    party = call.get(side) or {}
    return party.get("id") if party.get("contentType") == "Employee" else None


# -- new numbers (seed 001 «Автоматически создавать клиента…», seed 004 «Клиента и процесс») ---------


def test_answered_call_from_a_new_number_creates_client_and_deal_named_in_the_tenants_time(
    stack: dict[str, Any], admin: httpx.Client, main: str
) -> None:
    caller = fresh_number()
    rendered = play(stack, main, "incoming-answered", caller, seed=301)
    landed(admin, main, rendered)
    held = held_for(stack, caller)
    (client,) = held["clients"]
    assert client["contentType"] == "ContractorHuman"
    assert client["name"] == local_name(rendered, "входящий вызов")  # Yekaterinburg's wall clock
    assert responsibles(client) == ["8000001"]  # the employee who answered (ext 101)
    assert client["fields"]["Номер линии MANGO OFFICE"] == LINE  # «Указывать источник»
    (deal,) = held["deals"]
    assert (deal["program"]["id"], deal["state"]["id"]) == (SALES, NEGOTIATION)
    assert deal["manager"]["id"] == "8000001"
    (call,) = held["calls"]
    assert (call["type"], call["state"]) == ("in", "finished")
    assert call["fromUser"]["id"] == client["id"] and employee(call, "toUser") == "8000001"
    assert len(call["recordLinks"]) == 1 and call["recordLinks"][0].startswith("http")
    assert client["callsCount"] == 1  # the call is on the client's card


# -- calls (issue: CallInfo by provider id, the call history) -----------------------------------------


def test_every_call_is_written_because_earlier_copies_are_looked_up_by_provider_id(
    stack: dict[str, Any], admin: httpx.Client, main: str
) -> None:
    """`GET /api/v3/callInfo` documents only paging: a `providerId` filter there finds «an earlier
    copy» of every call after the first. The lookup is `GET /api/v3/callInfo/provider`."""
    first, second = fresh_number(), fresh_number()
    landed(admin, main, play(stack, main, "incoming-answered", first, seed=320))
    landed(admin, main, play(stack, main, "incoming-answered", second, seed=321))
    assert len(held_for(stack, first)["calls"]) == 1
    assert len(held_for(stack, second)["calls"]) == 1


def test_finished_calls_go_to_the_call_history_and_never_pop_the_telephony_widget(
    stack: dict[str, Any], admin: httpx.Client, main: str
) -> None:
    """`POST /api/v3/callInfo` «активирует виджет телефонии»; finished calls belong to
    `POST /api/v3/callInfo/history` («Событие в виджет телефонии не передается»)."""
    caller = fresh_number()
    landed(admin, main, play(stack, main, "missed-group", caller, seed=322))
    held = held_for(stack, caller)
    (call,) = held["calls"]
    assert call["state"] == "finished"
    assert held["widget_events"] == []


def test_new_client_is_created_by_the_employee_not_the_integration_user(
    stack: dict[str, Any], admin: httpx.Client, main: str
) -> None:
    """Seed 001: «Создателем и ответственным в клиенте является сотрудник CRM, совершивший звонок»."""
    callee = fresh_number()
    landed(admin, main, play(stack, main, "outgoing", callee, seed=323, var="customer"))
    (client,) = held_for(stack, callee)["clients"]
    assert client["userCreated"] == {"contentType": "Employee", "id": "8000007"}  # ext 106, not Анна
    assert responsibles(client) == ["8000007"]


def test_missed_group_call_from_a_new_number_gets_the_group_responsible_and_a_service_deal(
    stack: dict[str, Any], admin: httpx.Client, main: str
) -> None:
    caller = fresh_number()
    rendered = play(stack, main, "missed-group", caller, seed=302)
    landed(admin, main, rendered)
    held = held_for(stack, caller)
    (client,) = held["clients"]
    assert client["name"] == local_name(rendered, "пропущенный вызов")
    assert responsibles(client) == ["8000002"]  # «Указать ответственного при пропущенных звонках в группу»
    (deal,) = held["deals"]
    assert (deal["program"]["id"], deal["state"]["id"], deal["manager"]["id"]) == (
        SERVICE,
        SERVICE_REQUEST,
        "8000002",
    )
    (call,) = held["calls"]  # one record for the whole group (seed 001)
    assert call["type"] == "miss" and call["recordLinks"] == []


def test_call_missed_in_the_ivr_is_recorded_with_the_chosen_responsible(
    stack: dict[str, Any], admin: httpx.Client, main: str
) -> None:
    caller = fresh_number()
    rendered = play(stack, main, "missed-ivr", caller, seed=303)
    landed(admin, main, rendered)
    held = held_for(stack, caller)
    (client,) = held["clients"]
    assert responsibles(client) == ["8000003"]  # «Указать ответственного при пропущенных звонках в IVR»
    (call,) = held["calls"]
    assert call["type"] == "miss" and employee(call, "toUser") == "8000003"


def test_outgoing_call_to_a_new_number_creates_a_client_for_the_caller_without_a_source_line(
    stack: dict[str, Any], admin: httpx.Client, main: str
) -> None:
    callee = fresh_number()
    rendered = play(stack, main, "outgoing", callee, seed=304, var="customer")
    landed(admin, main, rendered)
    held = held_for(stack, callee)
    (client,) = held["clients"]
    assert client["name"] == local_name(rendered, "исходящий вызов")
    assert responsibles(client) == ["8000007"]  # ext 106 made the call
    assert "Номер линии MANGO OFFICE" not in client["fields"]  # only incoming calls keep the line
    assert held["deals"] == []  # outgoing: «Клиента» only
    (call,) = held["calls"]
    assert call["type"] == "out" and employee(call, "fromUser") == "8000007"


def test_transfer_gives_the_client_to_the_first_handler_and_keeps_every_recording(
    stack: dict[str, Any], admin: httpx.Client, main: str
) -> None:
    caller = fresh_number()
    landed(admin, main, play(stack, main, "consultative-transfer", caller, seed=305))
    held = held_for(stack, caller)
    (client,) = held["clients"]
    assert responsibles(client) == ["8000001"]  # «Обновлять ответственного…» is off
    assert sorted(employee(c, "toUser") for c in held["calls"]) == ["8000001", "8000002"]
    assert sum(len(c["recordLinks"]) for c in held["calls"]) == 2  # each employee's recording


def test_update_on_transfer_gives_the_new_client_to_the_last_handler(
    stack: dict[str, Any], admin: httpx.Client
) -> None:
    tenant = register(
        stack,
        admin,
        "mp-transfer",
        {
            "new_number": {"answered_incoming": {"create": ["contact"]}},
            "responsibles": {"update_on_transfer": True},
        },
    )
    caller = fresh_number()
    landed(admin, tenant, play(stack, tenant, "consultative-transfer", caller, seed=306))
    (client,) = held_for(stack, caller)["clients"]
    assert responsibles(client) == ["8000002"]


# -- repeat calls (seed 004 «Действия при повторных звонках от клиентов») ---------------------------


def test_repeat_call_never_creates_a_deal_and_lands_on_the_existing_card(
    stack: dict[str, Any], admin: httpx.Client, main: str
) -> None:
    caller = fresh_number()
    known = seed_client(
        stack, f"+7 ({caller[1:4]}) {caller[4:7]}-{caller[7:9]}-{caller[9:]}", responsible_ids=["8000002"]
    )
    landed(admin, main, play(stack, main, "incoming-answered", caller, seed=307))
    held = held_for(stack, caller)
    assert [c["id"] for c in held["clients"]] == [known]  # found by number, nothing new
    assert held["deals"] == []
    (call,) = held["calls"]
    assert call["fromUser"]["id"] == known
    assert held["clients"][0]["fields"] == {}  # no source line or call tracking on existing clients


def test_repeat_call_always_creates_a_deal_even_beside_an_open_one(
    stack: dict[str, Any], admin: httpx.Client
) -> None:
    tenant = register(stack, admin, "mp-always", repeat_settings("always"))
    caller = fresh_number()
    known = seed_client(stack, caller, responsible_ids=["8000002"])
    open_deal = seed_deal(stack, known, NEGOTIATION)
    landed(admin, tenant, play(stack, tenant, "incoming-answered", caller, seed=308))
    deals = held_for(stack, caller)["deals"]
    (new,) = [d for d in deals if d["id"] != open_deal]
    assert new["contractor"]["id"] == known and new["program"]["id"] == SALES
    assert new["manager"]["id"] == "8000002"  # the client's responsible


def test_repeat_call_always_creates_a_new_deal_and_never_moves_the_old_one(
    stack: dict[str, Any], admin: httpx.Client
) -> None:
    """Seed 004 «всегда создавать процесс»: a new deal on every repeat call. Repeat deals are named
    after the client, so «a deal with the same name and program» is every earlier repeat deal, not a
    lost answer of this one: reusing it moved the client's deal back to the first status."""
    tenant = register(stack, admin, "mp-always-twice", repeat_settings("always"))
    caller = fresh_number()
    known = seed_client(stack, caller, responsible_ids=["8000002"])
    landed(admin, tenant, play(stack, tenant, "incoming-answered", caller, seed=324))
    (first,) = held_for(stack, caller)["deals"]
    assert first["state"]["id"] == NEW_REQUEST
    move_deal(stack, first["id"], NEGOTIATION)  # the manager works on it
    landed(admin, tenant, play(stack, tenant, "incoming-answered", caller, seed=325))
    deals = {d["id"]: d for d in held_for(stack, caller)["deals"]}
    assert len(deals) == 2  # a new one
    assert deals[first["id"]]["state"]["id"] == NEGOTIATION  # the old one not moved back
    (new,) = [d for d in deals.values() if d["id"] != first["id"]]
    assert (new["state"]["id"], new["contractor"]["id"]) == (NEW_REQUEST, known)


def test_repeat_call_if_no_open_deal_never_reopens_a_won_one_and_creates_a_new_one(
    stack: dict[str, Any], admin: httpx.Client
) -> None:
    """Seed 004 «если нет открытых»: the client's only deal (made by an earlier repeat call) was won,
    so the next repeat call creates a new deal; the won one stays won."""
    tenant = register(stack, admin, "mp-if-no-open-won", repeat_settings("if_no_open"))
    caller = fresh_number()
    seed_client(stack, caller)
    landed(admin, tenant, play(stack, tenant, "incoming-answered", caller, seed=326))
    (first,) = held_for(stack, caller)["deals"]
    move_deal(stack, first["id"], WON)
    landed(admin, tenant, play(stack, tenant, "incoming-answered", caller, seed=327))
    deals = {d["id"]: d for d in held_for(stack, caller)["deals"]}
    assert len(deals) == 2
    assert deals[first["id"]]["state"]["id"] == WON  # not reopened
    (new,) = [d for d in deals.values() if d["id"] != first["id"]]
    assert new["state"]["id"] == NEW_REQUEST
    landed(admin, tenant, play(stack, tenant, "incoming-answered", caller, seed=328))
    assert len(held_for(stack, caller)["deals"]) == 2  # none beside the open one


def test_repeat_call_creates_a_deal_only_if_the_client_has_no_open_one(
    stack: dict[str, Any], admin: httpx.Client
) -> None:
    tenant = register(stack, admin, "mp-if-no-open", repeat_settings("if_no_open"))
    busy, idle = fresh_number(), fresh_number()
    busy_client = seed_client(stack, busy)
    seed_deal(stack, busy_client, NEGOTIATION)
    idle_client = seed_client(stack, idle)
    seed_deal(stack, idle_client, WON)
    seed_deal(stack, idle_client, LOST)
    landed(admin, tenant, play(stack, tenant, "incoming-answered", busy, seed=309))
    landed(admin, tenant, play(stack, tenant, "incoming-answered", idle, seed=310))
    assert len(held_for(stack, busy)["deals"]) == 1  # the open one, nothing new
    idle_deals = held_for(stack, idle)["deals"]
    assert len(idle_deals) == 3
    assert [d["state"]["id"] for d in idle_deals if d["state"]["type"] == "active"] == [NEW_REQUEST]


# -- call tracking (seed 001 «Интеграция с Динамическим коллтрекингом») ------------------------------


def test_call_tracking_fills_the_dkt_fields_of_a_new_client_only(
    stack: dict[str, Any], admin: httpx.Client, main: str
) -> None:
    caller, regular = fresh_number(), fresh_number()
    known = seed_client(stack, regular)
    landed(admin, main, play(stack, main, "incoming-answered", caller, seed=311, tracking_number=TRACKING))
    landed(admin, main, play(stack, main, "incoming-answered", regular, seed=312, tracking_number=TRACKING))
    (client,) = held_for(stack, caller)["clients"]
    assert client["fields"]["ДКТ: number"] == TRACKING
    assert client["fields"]["ДКТ: number_type"] == "динамический"
    with megaplan(stack) as mp:
        shown = {f["hrName"] for f in mp.get("/_sandbox/state").json()["extra_fields"]}
    assert {"ДКТ: client_id", "ДКТ: utm_source", "ДКТ: city", "ДКТ: roistat_id"} <= shown  # all added at once
    (existing,) = held_for(stack, regular)["clients"]
    assert existing["id"] == known and existing["fields"] == {}  # not set on clients that existed


# -- instances without telephony objects, and the connection check -------------------------------


@pytest.fixture
def without_telephony(stack: dict[str, Any]) -> Iterator[None]:
    with megaplan(stack) as mp:
        mp.post("/_sandbox/config", json={"telephony": False}).raise_for_status()
        try:
            yield
        finally:
            mp.post("/_sandbox/config", json={"telephony": True}).raise_for_status()


def test_without_telephony_the_call_is_a_comment_on_the_clients_deal_when_client_comments_fail(
    stack: dict[str, Any], admin: httpx.Client, without_telephony: None
) -> None:
    """Comments on clients are documented but answer 500 on real accounts (borzov/megaplan-sdk README),
    as in the sandbox: the call goes to the client's deal, whose comments work."""
    tenant = register(
        stack,
        admin,
        "mp-comments",
        {
            "new_number": {
                "answered_incoming": {
                    "create": ["contact", "deal"],
                    "deal_program": SALES,
                    "deal_status": NEGOTIATION,
                }
            }
        },
    )
    caller = fresh_number()
    landed(admin, tenant, play(stack, tenant, "incoming-answered", caller, seed=313))
    held = held_for(stack, caller)
    assert held["calls"] == []
    (deal,) = held["deals"]
    (comment,) = held["comments"]
    assert comment["subject"] == {"contentType": "Deal", "id": deal["id"]}
    assert "Входящий звонок" in comment["content"] and "Анна Смирнова" in comment["content"]
    assert 'href="http' in comment["content"]  # the recording link
    check = admin.post(f"/tenants/{tenant}/crm/check").json()
    assert check["ok"] is True and "комментари" in check["message"]


def test_connection_check_says_in_plain_words_that_the_password_is_wrong(
    stack: dict[str, Any], admin: httpx.Client, main: str
) -> None:
    assert admin.post(f"/tenants/{main}/crm/check").json()["ok"] is True
    register(stack, admin, "mp-wrong-password", {})
    put_crm_secret(stack, "mp-wrong-password", {"login": "integration@megaplan.test", "password": "wrong"})
    check = admin.post("/tenants/mp-wrong-password/crm/check").json()
    assert check["ok"] is False and "логин или пароль" in check["message"]
