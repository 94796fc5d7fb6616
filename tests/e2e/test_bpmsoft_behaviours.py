"""The BPMSoft guide, setting by setting, as BPMSoft ends up showing it after Mango's calls: «От нового
клиента» (contact, account, lead with need type and stage), «При повторном звонке → Создать лид»,
«Фиксировать пропущенные в IVR», «Ответственный при пропущенных звонках в группу», «Отключить работу
с лидами», call tracking, manual binding, and each call's card in Контакт-центр → Звонки."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from sandbox.crm.bpmsoft.demo import NEED, STAGE
from tests.e2e.bpmsoft_world import (
    DIRECTION,
    GROUP_RESPONSIBLE,
    GUIDE_SETTINGS,
    IVR_RESPONSIBLE,
    MARKETING_RULES,
    STATUS,
    USER,
    bpmsoft,
    fresh_number,
    held_for,
    register,
)
from tests.e2e.tenant_world import call_detail, landed, play

GUIDE, NO_LEADS, RULES = "bpm-guide", "bpm-no-leads", "bpm-rules"
TRACKING_LINE = "74957770001"


@pytest.fixture(scope="module")
def world(stack: dict[str, Any], admin: httpx.Client) -> Iterator[dict[str, Any]]:
    """Every call of the day played at once (they are independent), then the repeat calls."""
    register(stack, admin, GUIDE, GUIDE_SETTINGS)
    register(stack, admin, NO_LEADS, {**GUIDE_SETTINGS, "disable_leads": True})
    register(stack, admin, RULES, {"role_rules": MARKETING_RULES, "save_action_history": True})
    numbers = {
        name: fresh_number()
        for name in ("new", "repeat", "ivr", "group", "out", "transfer", "dct", "nolead", "two", "rules")
    }
    with bpmsoft(stack) as bpm:
        bpm.post(
            "/_sandbox/seed",
            json={
                "Contact": [
                    {"Name": "Первый", "MobilePhone": f"+{numbers['two']}", "OwnerId": USER["101"]},
                    {"Name": "Второй", "MobilePhone": f"+{numbers['two']}", "OwnerId": USER["102"]},
                    {
                        "Name": "Клиент маркетинга",
                        "MobilePhone": f"+{numbers['rules']}",
                        "OwnerId": USER["102"],
                    },
                ]
            },
        ).raise_for_status()
    played = {
        "new": play(stack, GUIDE, "incoming-answered", numbers["new"], seed=501),
        "repeat": play(stack, GUIDE, "incoming-answered", numbers["repeat"], seed=502),
        "ivr": play(stack, GUIDE, "missed-ivr", numbers["ivr"], seed=503),
        "group": play(stack, GUIDE, "missed-group", numbers["group"], seed=504),
        "out": play(stack, GUIDE, "outgoing", numbers["out"], seed=505, var="customer"),
        "transfer": play(stack, GUIDE, "consultative-transfer", numbers["transfer"], seed=506),
        "dct": play(
            stack, GUIDE, "incoming-answered", numbers["dct"], seed=507, tracking_number=TRACKING_LINE
        ),
        "nolead": play(stack, NO_LEADS, "incoming-answered", numbers["nolead"], seed=508),
        "two": play(stack, GUIDE, "incoming-answered", numbers["two"], seed=509),
        "rules": play(stack, RULES, "incoming-answered", numbers["rules"], seed=512),
    }
    landed(admin, GUIDE, *(r for k, r in played.items() if k not in ("nolead", "rules")))
    landed(admin, NO_LEADS, played["nolead"])
    landed(admin, RULES, played["rules"])
    again = [
        play(stack, GUIDE, "incoming-answered", numbers["repeat"], seed=510),
        play(stack, GUIDE, "missed-group", numbers["repeat"], seed=511),
    ]
    landed(admin, GUIDE, *again)
    yield {"numbers": numbers, "played": played}


def entry(world: dict[str, Any], name: str) -> str:
    (entry_id,) = world["played"][name].entry_ids.values()
    return entry_id


def test_f8_answered_new_number_creates_contact_account_and_lead_and_a_full_call_card(
    stack: dict[str, Any], world: dict[str, Any]
) -> None:
    held = held_for(stack, world["numbers"]["new"])
    (contact,), (account,), (lead,), (call,) = (held[k] for k in ("contacts", "accounts", "leads", "calls"))
    assert contact["OwnerId"] == account["OwnerId"] == lead["OwnerId"] == USER["101"]  # who answered
    assert contact["AccountId"] == account["Id"] and account["PrimaryContactId"] == contact["Id"]
    assert (lead["LeadTypeId"], lead["QualifyStatusId"]) == (NEED["Покупка продукта"], STAGE["Квалификация"])
    assert (lead["QualifiedContactId"], lead["QualifiedAccountId"]) == (contact["Id"], account["Id"])
    assert (
        call["DirectionId"] == DIRECTION["Входящий"]
        and STATUS[call["UsrMcbCallStatusId"]] == "Принят успешно"
    )
    assert (
        call["CallerId"] == world["numbers"]["new"] and call["CalledId"] == "74951234567"
    )  # the line dialled
    assert call["OwnerId"] == USER["101"] and contact["Name"] == f"Auto #{world['numbers']['new']}"
    assert account["Name"].startswith("Интеграция Контрагент Новый (")
    assert (call["Duration"], call["TalkTime"]) == (95, 95)
    assert (call["ContactId"], call["AccountId"], call["LeadId"]) == (
        contact["Id"],
        account["Id"],
        lead["Id"],
    )
    assert call["UsrMcbRecordLinks"].startswith("http")  # «Запись разговора»: playable from the card
    assert call["OwnerId"] == USER["101"] and call["UsrMcbEntryId"] == entry(world, "new")
    assert call["UsrMcbLine"] == "74951234567"


def test_f12_repeat_calls_create_a_lead_per_call_on_the_existing_contact(
    stack: dict[str, Any], world: dict[str, Any]
) -> None:
    held = held_for(stack, world["numbers"]["repeat"])
    (contact,) = held["contacts"]
    by_need = {lead["LeadTypeId"]: lead for lead in held["leads"]}
    assert len(held["leads"]) == 3 and set(by_need) == {
        NEED["Покупка продукта"],
        NEED["Сервис"],
        NEED["Консультация"],
    }
    first, answered, missed = (
        by_need[NEED["Покупка продукта"]],
        by_need[NEED["Сервис"]],
        by_need[NEED["Консультация"]],
    )
    assert first["QualifyStatusId"] == STAGE["Квалификация"]  # created with the contact
    assert (answered["LeadTypeId"], answered["QualifyStatusId"]) == (NEED["Сервис"], STAGE["Квалификация"])
    assert (missed["LeadTypeId"], missed["QualifyStatusId"]) == (NEED["Консультация"], STAGE["Распределение"])
    assert answered["QualifiedContactId"] == missed["QualifiedContactId"] == contact["Id"]
    assert answered["OwnerId"] == missed["OwnerId"] == contact["OwnerId"]  # the client's responsible
    assert len(held["calls"]) == 3 and {c["ContactId"] for c in held["calls"]} == {contact["Id"]}
    assert sorted(STATUS[c["UsrMcbCallStatusId"]] for c in held["calls"]) == ["Принят успешно"] * 2 + [
        "Пропущенный"
    ]


def test_f5_missed_in_ivr_is_recorded_with_the_chosen_responsible_and_a_missed_lead(
    stack: dict[str, Any], world: dict[str, Any]
) -> None:
    held = held_for(stack, world["numbers"]["ivr"])
    assert held["contacts"] == [] and held["accounts"] == []  # «От нового клиента» is for answered calls
    (lead,), (call,) = held["leads"], held["calls"]
    assert lead["OwnerId"] == IVR_RESPONSIBLE
    assert (lead["LeadTypeId"], lead["QualifyStatusId"]) == (NEED["Консультация"], STAGE["Распределение"])
    assert STATUS[call["UsrMcbCallStatusId"]] == "Пропущенный" and call["TalkTime"] == 0
    assert call["OwnerId"] == IVR_RESPONSIBLE and call["LeadId"] == lead["Id"]


def test_f6_missed_group_call_gets_the_group_responsible(
    stack: dict[str, Any], world: dict[str, Any]
) -> None:
    held = held_for(stack, world["numbers"]["group"])
    (lead,), (call,) = held["leads"], held["calls"]
    assert lead["OwnerId"] == GROUP_RESPONSIBLE and call["OwnerId"] == GROUP_RESPONSIBLE
    assert STATUS[call["UsrMcbCallStatusId"]] == "Пропущенный"


def test_outgoing_call_card_has_the_outgoing_direction_and_numbers(
    stack: dict[str, Any], world: dict[str, Any]
) -> None:
    held = held_for(stack, world["numbers"]["out"])
    (call,) = held["calls"]
    assert (
        call["DirectionId"] == DIRECTION["Исходящий"]
        and STATUS[call["UsrMcbCallStatusId"]] == "Успешный исходящий"
    )
    assert (call["CallerId"], call["CalledId"]) == ("74951234567", world["numbers"]["out"])
    assert held["contacts"] == [] and call["ContactId"] is None  # nothing is created for outgoing calls


def test_f2_transfer_is_one_call_per_employee_each_with_its_recording(
    stack: dict[str, Any], world: dict[str, Any]
) -> None:
    held = held_for(stack, world["numbers"]["transfer"])
    first, second = held["calls"]
    assert (first["OwnerId"], second["OwnerId"]) == (USER["101"], USER["102"])  # who talked
    assert second["ParentCallId"] == first["IntegrationId"]
    assert (
        first["UsrMcbRecordLinks"]
        and second["UsrMcbRecordLinks"]
        and first["UsrMcbRecordLinks"] != second["UsrMcbRecordLinks"]
    )
    (contact,) = held["contacts"]
    assert contact["OwnerId"] == USER["101"] and first["ContactId"] == second["ContactId"] == contact["Id"]
    with httpx.Client(trust_env=False) as http:  # F19: the links stay playable from the call card
        for link in (first["UsrMcbRecordLinks"], second["UsrMcbRecordLinks"]):
            answer = http.get(link, follow_redirects=False)
            assert answer.status_code in (302, 303, 307) and answer.headers["location"]


def test_f23_call_tracking_fills_the_dkt_tab_of_what_is_created_and_of_the_call(
    stack: dict[str, Any], world: dict[str, Any]
) -> None:
    held = held_for(stack, world["numbers"]["dct"])
    (contact,), (lead,), (call,) = held["contacts"], held["leads"], held["calls"]
    assert (
        contact["UsrMcbDctCallType"]
        == lead["UsrMcbDctCallType"]
        == call["UsrMcbDctCallType"]
        == "динамический"
    )
    assert held_for(stack, world["numbers"]["new"])["contacts"][0]["UsrMcbDctCallType"] is None  # static line


def test_f18_disable_leads_keeps_everything_but_leads(stack: dict[str, Any], world: dict[str, Any]) -> None:
    held = held_for(stack, world["numbers"]["nolead"])
    assert len(held["contacts"]) == 1 and len(held["accounts"]) == 1 and held["leads"] == []
    (call,) = held["calls"]
    assert call["ContactId"] == held["contacts"][0]["Id"] and call["LeadId"] is None


def test_f14_manual_binding_moves_the_call_to_the_contact_the_user_chose(
    stack: dict[str, Any], admin: httpx.Client, world: dict[str, Any]
) -> None:
    held = held_for(stack, world["numbers"]["two"])
    first, second = sorted(held["contacts"], key=lambda c: c["Name"] != "Первый")
    (call,) = held["calls"]
    assert call["ContactId"] == first["Id"]  # the first one found
    entry_id = entry(world, "two")
    decisions = call_detail(admin, GUIDE, entry_id).get("decisions") or {}
    assert {c["id"] for c in decisions.get("candidates", [])} >= {first["Id"], second["Id"]}
    url = f"/tenants/{GUIDE}/calls/{quote(entry_id, safe='')}/binding"
    refused = admin.post(
        url,
        json={"kind": "contact", "entity_id": held_for(stack, world["numbers"]["new"])["contacts"][0]["Id"]},
    )
    assert refused.status_code == 409
    bound = admin.post(url, json={"kind": "contact", "entity_id": second["Id"]})
    assert bound.status_code == 200, bound.text
    (call,) = held_for(stack, world["numbers"]["two"])["calls"]
    assert call["ContactId"] == second["Id"]


def test_f41_connection_check_in_plain_words(admin: httpx.Client, world: dict[str, Any]) -> None:
    answer = admin.post(f"/tenants/{GUIDE}/crm/check").json()
    assert answer["ok"] and answer["message"].startswith("Авторизационные данные корректны")
    assert "пакет UsrMcbMangoBridge установлен" in answer["message"]


def test_f31_role_rules_create_a_case_bound_to_the_contact_and_the_call(
    stack: dict[str, Any], admin: httpx.Client, world: dict[str, Any]
) -> None:
    held = held_for(stack, world["numbers"]["rules"])
    (contact,), (call,) = held["contacts"], held["calls"]
    with bpmsoft(stack) as bpm:
        cases = [c for c in bpm.get("/_sandbox/state").json()["Case"] if c["ContactId"] == contact["Id"]]
    (case,) = cases  # ext 101 took the call and has the «Маркетинг» role
    assert case["OwnerId"] == USER["101"] and call["ContactId"] == contact["Id"]
    entry_id = entry(world, "rules")
    report = admin.get(f"/tenants/{RULES}/calls/{quote(entry_id, safe='')}/actions").json()
    assert [row["order"] for row in report["rows"]] == [1, 2, 4, 5, 6, 7]


def test_f31_deleting_a_rule_deletes_its_application_from_every_calls_history(
    stack: dict[str, Any], admin: httpx.Client, world: dict[str, Any]
) -> None:
    """Seed 000, «Редактирование или удаление правила»: the deleted rule's rows leave «Действия звонка»."""
    from mango_bridge.crm.bpmsoft.fields import CALL_ACTION

    def orders() -> list[int]:
        with bpmsoft(stack) as bpm:
            return sorted(row["UsrRuleOrder"] for row in bpm.get("/_sandbox/state").json()[CALL_ACTION])

    assert 7 in orders()
    rules = admin.get(f"/tenants/{RULES}/settings").json()["settings"]["role_rules"]
    kept = [rule for rule in rules if rule["order"] != 7]
    answer = admin.patch(f"/tenants/{RULES}/settings", json={"role_rules": kept})
    assert answer.status_code == 200, answer.text
    cleaned = answer.json()["role_rule_histories"]
    assert cleaned["removed_rules"] == [7] and cleaned["rows_deleted"]["7"] >= 1
    assert 7 not in orders()
