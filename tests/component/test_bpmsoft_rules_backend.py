"""The role rules (F31) against the BPMSoft sandbox: the guide's marketing example ends up as a case
bound to the contact and to the call, and each data action does what BPMSoft would show."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mango_bridge.crm.bpmsoft import BpmSoftAdapter, BpmSoftClient, StaticCredentials
from mango_bridge.crm.bpmsoft.rules_backend import BpmSoftRulesBackend
from mango_bridge.policy.intents import LogCall
from mango_bridge.role_rules import ActionRefused, Entity, RuleCall, RulesBackend, interpret
from mango_bridge.settings.model import RoleRule
from sandbox.crm.bpmsoft import DEFAULT_LOGIN, DEFAULT_PASSWORD, BpmSoftSandbox, sandbox_id

ENTRY = "MToxMDE4NTg2OTkxOTowMDM="
NUMBER = "+79161234567"
ANNA, SERGEY = sandbox_id("contact:anna"), sandbox_id("contact:sergey")
CONTACT, ACCOUNT, CASE, LEAD = "Контакт", "Контрагент", "Обращение", "Лид"


@pytest.fixture
def bpm() -> Iterator[BpmSoftSandbox]:
    with BpmSoftSandbox(port=0) as sandbox:
        sandbox.seed(
            users=[
                {"id": ANNA, "name": "Анна", "roles": ["Маркетинг"]},
                {"id": SERGEY, "name": "Сергей", "roles": ["Продажи", "Бухгалтерия"]},
            ]
        )
        yield sandbox


@pytest.fixture
def adapter(bpm: BpmSoftSandbox) -> BpmSoftAdapter:
    return BpmSoftAdapter(
        BpmSoftClient(bpm.url, StaticCredentials(DEFAULT_LOGIN, DEFAULT_PASSWORD))
    ).for_call(ENTRY)


@pytest.fixture
def backend(adapter: BpmSoftAdapter) -> BpmSoftRulesBackend:
    return BpmSoftRulesBackend(adapter)


@pytest.fixture
def client(bpm: BpmSoftSandbox) -> dict[str, str]:
    account = bpm.seed(Account=[{"Name": "ООО Ромашка"}])["Account"][0]
    contact = bpm.seed(
        Contact=[{"Name": "Иван Петров", "MobilePhone": NUMBER, "OwnerId": SERGEY, "AccountId": account}]
    )["Contact"][0]
    return {"account": account, "contact": contact}


def call(operator: str = ANNA, roles: tuple[str, ...] = ("Маркетинг",)) -> RuleCall:
    return RuleCall(
        entry_id=ENTRY,
        direction="incoming",
        client_number=NUMBER,
        operator_user_id=operator,
        roles=frozenset(roles),
    )


def logged(adapter: BpmSoftAdapter) -> None:
    """The post-call step has written the call record the rules then work on."""
    adapter.execute(
        LogCall(
            key="log_call:leg-1",
            reason="t",
            direction="incoming",
            result="answered",
            started_at=1_772_700_000,
            duration_seconds=30,
            responsible_user_id=ANNA,
            bound_by="employee",
            employee_extension="101",
            talk_leg_ids=("leg-1",),
            leg_ids=("leg-1",),
            phone=NUMBER,
            customer=None,
        ),
        {},
        {},
    )


def rules(*rows: dict[str, Any]) -> list[RoleRule]:
    return [RoleRule.model_validate(row) for row in ({"order": 1, "final": False}, *rows)]


MARKETING = rules(
    {
        "order": 2,
        "role": "Маркетинг",
        "direction": "incoming",
        "entity": CONTACT,
        "action": "load_linked_to_participants",
    },
    {"order": 3, "condition": "Нет найденных сущностей", "entity": CONTACT, "final": True},
    {"order": 4, "entity": CASE, "action": "create_entity"},
    {
        "order": 5,
        "condition": "Найдена как минимум одна сущность",
        "entity": CONTACT,
        "action": "bind_to_call",
    },
    {
        "order": 6,
        "condition": "Найдена как минимум одна сущность",
        "entity": CONTACT,
        "entity2": CASE,
        "action": "bind_entity_to_entity2",
    },
    {"order": 7, "entity": CASE, "action": "open_entity", "final": True},
)


def test_it_is_a_rules_backend_built_on_the_tenants_adapter(adapter: BpmSoftAdapter) -> None:
    backend = adapter.rules_backend()  # what the post-call step asks the tenant's adapter for
    assert isinstance(backend, RulesBackend) and isinstance(backend, BpmSoftRulesBackend)


def test_the_guides_marketing_example_creates_a_case_bound_to_the_contact_and_the_call(
    bpm: BpmSoftSandbox, adapter: BpmSoftAdapter, backend: BpmSoftRulesBackend, client: dict[str, str]
) -> None:
    logged(adapter)
    roles = backend.functional_roles(ANNA)
    history = interpret(MARKETING, call(roles=tuple(roles)), backend)
    (case,) = bpm.rows("Case")
    assert case["ContactId"] == client["contact"] and case["OwnerId"] == ANNA
    (row,) = bpm.rows("Call")
    assert row["ContactId"] == client["contact"]
    assert [(i.open, i.entity_type, i.entity_id) for i in history.screen] == [("record", CASE, case["Id"])]
    again = interpret(MARKETING, call(roles=tuple(roles)), backend)  # a retried run makes nothing twice
    assert len(bpm.rows("Case")) == 1 and again.screen == history.screen
    assert backend.record_history(ENTRY, history) == len(history.rows)  # «Действия звонка» on the card
    assert backend.record_history(ENTRY, history) == 0
    shown = sorted(bpm.rows("UsrMcbCallAction"), key=lambda r: r["UsrPosition"])
    assert [(r["UsrRuleOrder"], r["UsrCallId"]) for r in shown] == [
        (o, row["Id"]) for o in (1, 2, 4, 5, 6, 7)
    ]
    assert (
        shown[1]["UsrDirection"] == "Входящий"
        and shown[1]["UsrRole"] == "Маркетинг"
        and shown[1]["UsrEntity"] == CONTACT
    )
    assert shown[2]["UsrAction"] == "Создать новую сущность"


def test_roles_come_from_the_users_functional_roles(backend: BpmSoftRulesBackend) -> None:
    assert backend.functional_roles(ANNA) == ["Маркетинг"]
    assert sorted(backend.functional_roles(SERGEY)) == ["Бухгалтерия", "Продажи"]
    assert backend.functional_roles(sandbox_id("contact:nobody")) == []


def test_loads_by_participants_linked_records_and_responsible(
    bpm: BpmSoftSandbox, backend: BpmSoftRulesBackend, client: dict[str, str]
) -> None:
    bpm.seed(Case=[{"Subject": "Сломался диван", "ContactId": client["contact"], "OwnerId": SERGEY}])
    assert [e.id for e in backend.load_linked_to_participants(call(), CONTACT)] == [client["contact"]]
    assert [e.id for e in backend.load_linked_to_participants(call(), ACCOUNT)] == [client["account"]]
    assert [e.name for e in backend.load_linked_to_participants(call(), CASE)] == ["Сломался диван"]
    assert backend.load_linked_to_participants(call(), CONTACT, responsible_user_id=ANNA) == []
    assert len(backend.load_linked_to_participants(call(), CONTACT, responsible_user_id=SERGEY)) == 1
    person = Entity(CONTACT, client["contact"])
    assert [e.id for e in backend.load_linked_to(ACCOUNT, [person])] == [
        client["account"]
    ]  # its place of work
    assert [e.name for e in backend.load_linked_to(CASE, [person])] == ["Сломался диван"]
    assert backend.load_from_context(call(), None) == []


def test_writes_create_link_assign_and_refuse_what_bpmsoft_cannot_hold(
    bpm: BpmSoftSandbox, adapter: BpmSoftAdapter, backend: BpmSoftRulesBackend, client: dict[str, str]
) -> None:
    made = backend.create_entity(call(), LEAD, "4:0")
    assert backend.create_entity(call(), LEAD, "4:0") == made  # stable key: one lead
    (lead,) = bpm.rows("Lead")
    assert (
        lead["LeadName"] == "Auto #79161234567" and lead["MobilePhone"] == NUMBER and lead["OwnerId"] == ANNA
    )
    backend.bind_entity_to_entity2(Entity(CONTACT, client["contact"]), made)
    backend.assign_responsible(made, SERGEY)
    (lead,) = bpm.rows("Lead")
    assert lead["QualifiedContactId"] == client["contact"] and lead["OwnerId"] == SERGEY
    with pytest.raises(ActionRefused, match="has no column"):
        backend.bind_entity_to_entity2(made, Entity(CONTACT, client["contact"]))
    with pytest.raises(ActionRefused, match="not a record type"):
        backend.create_entity(call(), "Договор", "9:0")
    with pytest.raises(ActionRefused, match="has no record in BPMSoft"):
        backend.bind_to_call(call(), made)
    logged(adapter)
    backend.bind_card_to_call_and_call_to_all(call(), [made, Entity(ACCOUNT, client["account"])])
    (row,) = bpm.rows("Call")
    assert (row["LeadId"], row["AccountId"]) == (made.id, client["account"])
    assert {(r["UsrEntityName"], r["UsrEntityId"]) for r in bpm.rows("UsrMcbCallEntity")} == {
        ("Lead", made.id),
        ("Account", client["account"]),
    }
