"""The role-rule table a BPMSoft tenant starts with: the «test rules» of Mango's guide (seed 000),
switched off by row 1 (`final`), so an administrator sees the example and turns it on by clearing
row 1's «Последнее» (docs/role-rules.md; the same rows as docs/examples/role-rules-test.json).
"""

from __future__ import annotations

from typing import Any

TEST_RULES: tuple[dict[str, Any], ...] = (
    {"order": 1, "final": True},
    {"order": 2, "direction": "incoming", "action": "go_to_row", "value": "10"},
    {"order": 3, "direction": "outgoing", "action": "go_to_row", "value": "40"},
    {"order": 4, "final": True},
    {"order": 10, "entity": "Контакт", "entity2": "Контрагент", "action": "load_linked_to_participants"},
    {
        "order": 11,
        "condition": "Нет найденных сущностей",
        "entity": "Контакт",
        "action": "go_to_row",
        "value": "15",
    },
    {
        "order": 12,
        "condition": "Найдена как минимум одна сущность",
        "entity": "Контакт",
        "action": "go_to_row",
        "value": "20",
    },
    {"order": 15, "entity": "Контакт", "action": "create_entity"},
    {"order": 16, "entity": "Контакт", "action": "bind_to_call"},
    {"order": 17, "entity": "Контакт", "action": "open_entity", "final": True},
    {"order": 20, "entity": "Контакт", "action": "bind_to_call"},
    {"order": 21, "entity": "Обращение", "action": "create_entity"},
    {"order": 22, "entity": "Контакт", "entity2": "Обращение", "action": "bind_entity_to_entity2"},
    {"order": 23, "entity": "Обращение", "action": "bind_to_call"},
    {"order": 24, "entity": "Обращение", "action": "open_entity", "final": True},
    {"order": 40, "entity": "Контакт", "action": "load_from_context"},
    {
        "order": 41,
        "condition": "Нет найденных сущностей",
        "entity": "Контакт",
        "action": "load_linked_to_participants_responsible",
    },
    {"order": 42, "entity": "Контакт", "action": "bind_to_call"},
    {"order": 43, "entity": "Контакт", "action": "open_entity", "final": True},
)
