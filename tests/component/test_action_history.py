"""The history of applied role rules kept on the call, against moto's DynamoDB."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from mango_bridge.crm.errors import CrmUnavailable
from mango_bridge.role_rules import interpret
from mango_bridge.settings.model import RoleRule, TenantSettings
from tests.unit.test_role_rules import CASE, CONTACT, MARKETING, World, call


def _world() -> World:
    world = World()
    world.add(CONTACT, "c-1", name="Иван", phone="+79161234567")
    return world


def test_the_first_history_of_a_call_wins_and_round_trips(aws: Any) -> None:
    from mango_bridge.store.action_history import ActionHistoryStore

    store = ActionHistoryStore()
    assert store.get("acme", "E1") is None
    history = interpret(MARKETING, call(roles=("Маркетинг",)), _world())
    saved = store.put_first("acme", "E1", history, shown=True)

    again = interpret([RoleRule(order=1, final=True)], call(), _world())
    kept = store.put_first("acme", "E1", again, shown=False)
    assert kept.history == history and kept.shown is True  # a replay does not overwrite it
    loaded = store.get("acme", "E1")
    assert loaded is not None and loaded == saved
    assert [row.order for row in loaded.history.rows] == [1, 2, 4, 5, 6, 7]
    assert loaded.history.created()[0].type == CASE
    assert store.get("acme", "E2") is None and store.get("other", "E1") is None


def test_history_lives_beside_the_call_without_disturbing_it(aws: Any) -> None:
    from mango_bridge.calls.assembly import assemble
    from mango_bridge.mango.notifications import parse_notification
    from mango_bridge.store.action_history import ActionHistoryStore
    from mango_bridge.store.calls import CallStore, call_pk
    from tests.samples import CONSULTATIVE, E

    calls = CallStore()
    aggregate = assemble(E, [parse_notification(s, j) for s, j in CONSULTATIVE])
    calls.put_aggregate("acme", aggregate)
    history = interpret(MARKETING, call(entry_id=E, roles=("Маркетинг",)), _world())
    ActionHistoryStore().put_first("acme", E, history, shown=False)

    assert calls.get("acme", E) == aggregate
    assert calls.snapshot("acme", E).events == []  # only EV# items count as events
    item = aws.get_item(TableName=_table(), Key={"PK": {"S": call_pk("acme", E)}, "SK": {"S": "ACTIONS"}})
    assert item["Item"]["status"]["S"] == "stopped"


def _table() -> str:
    return os.environ["TABLE_NAME"]


def test_the_read_journal_survives_between_attempts(aws: Any) -> None:
    from mango_bridge.store.action_history import ActionHistoryStore

    example = Path(__file__).resolve().parents[2] / "docs/examples/role-rules-test.json"
    table = TenantSettings.model_validate(json.loads(example.read_text(encoding="utf-8"))).role_rules
    world = _world()
    world.binds_fail = 1
    store = ActionHistoryStore()
    with pytest.raises(CrmUnavailable):
        interpret(table, call(number="+79990000000"), world, journal=store.journal("acme", "E1"))

    journal = store.journal("acme", "E1")  # a fresh Lambda: everything read so far comes from the table
    assert dict(journal) == {"3:10": []}
    history = interpret(table, call(number="+79990000000"), world, journal=journal)
    assert world.of(CASE) == [] and len(world.of(CONTACT)) == 2
    assert [row.order for row in history.rows] == [1, 2, 10, 11, 15, 16, 17]
    assert store.journal("acme", "E2") == {}
    with pytest.raises(TypeError):
        del journal["3:10"]
