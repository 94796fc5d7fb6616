"""The demo day (`make run`'s fifteen calls) into BPMSoft with the settings `sandbox/crm/bpmsoft/demo.py`
gives the demo tenant: what a person following the guide finds in Контакт-центр → Звонки, Контакты,
Контрагенты and Лиды afterwards."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from sandbox.crm.bpmsoft.demo import NEED, employees, recommended
from sandbox.mango import player
from sandbox.stack.stack import DEMO_EMPLOYEES
from tests.e2e.bpmsoft_world import STATUS, bpmsoft, held_for, landed, register

pytestmark = pytest.mark.e2e

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
    with bpmsoft(stack) as bpm:
        known = {row["Id"] for row in bpm.get("/_sandbox/state").json()["Contact"]}
        new = [{"id": u["crm_user_id"], "name": u["name"]} for u in USERS if u["crm_user_id"] not in known]
        if new:
            bpm.post("/_sandbox/seed", json={"users": new}).raise_for_status()
    register(stack, admin, TENANT, recommended(USERS), USERS)
    rendered = player.render(player.load_scenario("demo-day"), base_time=1_764_000_000, seed=7)
    with httpx.Client(trust_env=False) as http:
        player.register_recordings(
            http, stack["mango"]["api_url"], player.ready_recording_ids(rendered.deliveries)
        )
    for entry in dict.fromkeys(
        d.entry for d in rendered.deliveries
    ):  # in order: callbacks find earlier calls
        deliveries = [d for d in rendered.deliveries if d.entry == entry]
        statuses = player.post(
            deliveries,
            to_url=f"{stack['front_url']}/mango/{TENANT}/",
            api_key=stack["mango"]["api_key"],
            api_salt=stack["mango"]["api_salt"],
        )
        assert set(statuses) == {200}
        landed(admin, TENANT, dataclasses.replace(rendered, entry_ids={entry: rendered.entry_ids[entry]}))

    for number, expected in DAY.items():
        held = held_for(stack, number)
        owners = [NAME.get(c["OwnerId"]) for c in held["contacts"]]
        assert owners == ([expected["contact"]] if expected["contact"] else []), number
        assert len(held["accounts"]) == len(owners), number
        assert [(NAME.get(lead["OwnerId"]), lead["LeadTypeId"]) for lead in held["leads"]] == expected[
            "leads"
        ], number
        calls = [(STATUS[c["MangoCallStatusId"]], NAME.get(c["MangoResponsibleId"])) for c in held["calls"]]
        assert calls == expected["calls"], number
        for call in held["calls"]:
            linked = {held["contacts"][0]["Id"]} if held["contacts"] else set()
            assert (call["ContactId"] in linked) if linked else call["ContactId"] is None, number
