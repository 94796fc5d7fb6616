"""The demo day (`make run`'s fifteen calls) into BPMSoft with the settings `sandbox/crm/bpmsoft/demo.py`
gives the demo tenant: what a person following the guide finds in Контакт-центр → Звонки, Контакты,
Контрагенты and Лиды afterwards."""

from __future__ import annotations

from typing import Any

import httpx

from sandbox.crm.bpmsoft.demo import NEED, employees, recommended
from sandbox.mango import player
from sandbox.stack.stack import DEMO_EMPLOYEES
from tests.e2e.bpmsoft_world import STATUS, held_for, register, seed_users
from tests.e2e.tenant_world import play_in_order

TENANT = "bpm-demo-day"
USERS = employees(DEMO_EMPLOYEES)
NAME = {u["crm_user_id"]: u["name"] for u in USERS}
ANSWERED, MISSED = NEED["Покупка продукта"], NEED["Консультация"]
ANNA, BORIS, VERA, OLGA, DMITRY, MARIA = (
    "Анна Смирнова",
    "Борис Иванов",
    "Вера Кузнецова",
    "Ольга Орлова",
    "Дмитрий Соколов",
    "Мария Волкова",
)

DAY: dict[str, dict[str, Any]] = {
    # missed in the IVR → «Фиксировать пропущенные в IVR» (Анна) and the missed-call lead
    "79851230001": {"contact": None, "leads": [(ANNA, MISSED)], "calls": [("Пропущенный", ANNA)]},
    # answered by 101 → contact, account and lead for her; the call card points at all three
    "79161234567": {"contact": ANNA, "leads": [(ANNA, ANSWERED)], "calls": [("Принят успешно", ANNA)]},
    # outgoing to a new number: the guide creates nothing for outgoing calls, the call is still logged
    "74957771020": {"contact": None, "leads": [], "calls": [("Успешный исходящий", MARIA)]},
    # answered in the queue by 102, then called back by 102: both calls on the same contact
    "79037778899": {
        "contact": BORIS,
        "leads": [(BORIS, ANSWERED)],
        "calls": [("Принят успешно", BORIS), ("Успешный исходящий", BORIS)],
    },
    # missed in the group → «Ответственный при пропущенных звонках в группу» (Борис); the callback
    # after lunch is filed on the lead the missed call created
    "79654440011": {
        "contact": None,
        "leads": [(BORIS, MISSED)],
        "calls": [("Пропущенный", BORIS), ("Успешный исходящий", DMITRY)],
    },
    # consultative transfer 101 → 102: two calls, the client belongs to the first handler
    "79261112233": {
        "contact": ANNA,
        "leads": [(ANNA, ANSWERED)],
        "calls": [("Принят успешно", ANNA), ("Принят успешно", BORIS)],
    },
    "79857776655": {"contact": DMITRY, "leads": [(DMITRY, ANSWERED)], "calls": [("Принят успешно", DMITRY)]},
    "79052223344": {
        "contact": ANNA,
        "leads": [(ANNA, ANSWERED)],
        "calls": [("Принят успешно", ANNA), ("Принят успешно", VERA)],
    },
    # routed to extension 12, which is not mapped, and «Сохранять все звонки» is not set: not saved
    "79153332211": {"contact": None, "leads": [], "calls": []},
    "79997356761": {"contact": VERA, "leads": [(VERA, ANSWERED)], "calls": [("Принят успешно", VERA)]},
    "79112223344": {"contact": OLGA, "leads": [(OLGA, ANSWERED)], "calls": [("Принят успешно", OLGA)]},
    "79219876543": {"contact": OLGA, "leads": [(OLGA, ANSWERED)], "calls": [("Принят успешно", OLGA)]},
}


def test_the_demo_day_leaves_what_the_bpmsoft_guide_promises(
    stack: dict[str, Any], admin: httpx.Client
) -> None:
    seed_users(stack, [{"id": u["crm_user_id"], "name": u["name"]} for u in USERS])
    register(stack, admin, TENANT, recommended(USERS), USERS)
    play_in_order(
        stack, admin, TENANT, player.render(player.load_scenario("demo-day"), base_time=1_764_000_000, seed=7)
    )

    for number, expected in DAY.items():
        held = held_for(stack, number)
        owners = [NAME.get(c["OwnerId"]) for c in held["contacts"]]
        assert owners == ([expected["contact"]] if expected["contact"] else []), number
        assert len(held["accounts"]) == len(owners), number
        assert [(NAME.get(lead["OwnerId"]), lead["LeadTypeId"]) for lead in held["leads"]] == expected[
            "leads"
        ], number
        calls = [(STATUS[c["UsrMcbCallStatusId"]], NAME.get(c["OwnerId"])) for c in held["calls"]]
        assert calls == expected["calls"], number
        for call in held["calls"]:
            linked = {held["contacts"][0]["Id"]} if held["contacts"] else set()
            assert (call["ContactId"] in linked) if linked else call["ContactId"] is None, number
