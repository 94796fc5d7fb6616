"""The role rules' data actions (F31) on BPMSoft: load, create and link records over OData.

Entity types are those the rule table names («Контакт», «Контрагент», «Лид», «Обращение»); records
are loaded first found first. Links between types are BPMSoft's lookup columns (a lead's qualified
contact and account, a contact's place of work, a case's contact and account…). «The call» is every
Call row the bridge wrote for the Mango call — by the column of field `entry_id` (our package's
`UsrMcbEntryId`), or on a bare instance by the line «ID звонка MANGO OFFICE: …» of the call's note —
so the rules run after the post-call step has written them. Creates take stable ids (`payloads.stable_id` of the call and the rule's key),
so a retried run finds what the first run made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mango_bridge.crm.bpmsoft import payloads as p
from mango_bridge.crm.bpmsoft.adapter import BpmSoftAdapter
from mango_bridge.crm.bpmsoft.fields import CALL_ACTION, CALL_ENTITY, FIELDS
from mango_bridge.role_rules.backend import ActionRefused, Entity, RuleCall
from mango_bridge.role_rules.history import History
from mango_bridge.settings.model import DIRECTION_LABELS

TABLES: dict[str, str] = {"Контакт": "Contact", "Контрагент": "Account", "Лид": "Lead", "Обращение": "Case"}
TYPES: dict[str, str] = {table: name for name, table in TABLES.items()}
NAMES: dict[str, str] = {"Contact": "Name", "Account": "Name", "Lead": "LeadName", "Case": "Subject"}
LINKS: dict[str, dict[str, str]] = {
    "Contact": {"Account": "AccountId"},
    "Account": {"Contact": "PrimaryContactId"},
    "Lead": {"Contact": "QualifiedContactId", "Account": "QualifiedAccountId"},
    "Case": {"Contact": "ContactId", "Account": "AccountId"},
}
"""`LINKS[A][B]`: the column of an A row that refers to a B row."""
CALL_CARD: dict[str, str] = {
    "Contact": "ContactId",
    "Account": "AccountId",
    "Lead": "LeadId",
    "Case": "CaseId",
}
USER_TYPE, ROLE_TYPES = 4, (1, 2, 6)
"""`SysAdminUnitTypeValue`: users; organisational (1, 2) and functional (6) roles."""


class BpmSoftRulesBackend:
    """`RulesBackend` over a BPMSoft adapter's client (same session, schema and lookups)."""

    def __init__(self, adapter: BpmSoftAdapter) -> None:
        self.adapter = adapter
        self.client = adapter.client

    # -- reads -----------------------------------------------------------------------------------

    def functional_roles(self, user_id: str) -> Sequence[str]:
        schema = self.client.schema()
        if not schema.has("SysUserInRole"):
            return []
        users = self.client.rows(
            "SysAdminUnit",
            {
                "$filter": f"Contact/Id eq {_guid(user_id)} and SysAdminUnitTypeValue eq {USER_TYPE}",
                "$select": "Id",
            },
        )
        if not users:
            return []
        rows = self.client.rows(
            "SysUserInRole",
            {
                "$filter": f"SysUser/Id eq {users[0]['Id']}",
                "$select": "Id",
                "$expand": "SysRole($select=Name,SysAdminUnitTypeValue)",
            },
        )
        roles = [r["SysRole"] for r in rows if isinstance(r.get("SysRole"), dict)]
        return [
            str(r["Name"]) for r in roles if r.get("SysAdminUnitTypeValue") in ROLE_TYPES and r.get("Name")
        ]

    def load_from_context(self, call: RuleCall, entity_type: str | None) -> Sequence[Entity]:
        """BPMSoft's page context reaches the integration only through its own softphone panel; calls the
        bridge sees (Mango's notifications, click-to-call through the bridge's API) carry none."""
        return []

    def load_linked_to(self, entity_type: str, others: Sequence[Entity]) -> Sequence[Entity]:
        table = self._table(entity_type)
        found: list[Entity] = []
        terms: list[str] = []
        for other in others:
            other_table = TABLES.get(other.type)
            if other_table is None:
                continue
            column = LINKS.get(table, {}).get(other_table)
            if column is not None and self.client.schema().has(table, column):
                terms.append(f"{column[:-2]}/Id eq {_guid(other.id)}")
            back = LINKS.get(other_table, {}).get(table)
            if back is not None and self.client.schema().has(other_table, back):
                row = self.adapter._row(other_table, _guid(other.id), back) or {}
                if row.get(back):
                    found += self._load(table, f"Id eq {row[back]}")
        if terms:
            found += self._load(table, " or ".join(terms))
        return _unique(found)

    def load_linked_to_participants(
        self, call: RuleCall, entity_type: str, responsible_user_id: str | None = None
    ) -> Sequence[Entity]:
        table = self._table(entity_type)
        contacts, accounts, leads = self._by_number(call.client_number)
        if table == "Contact":
            found = contacts
        elif table == "Account":
            ids = [e.id for e in accounts]
            ids += [
                str(r["AccountId"]) for r in self._rows_of("Contact", [e.id for e in contacts], "AccountId")
            ]
            found = accounts + self._load("Account", _any_id(ids)) if ids else accounts
        else:
            terms = [f"{LINKS[table]['Contact'][:-2]}/Id eq {e.id}" for e in contacts]
            terms += [f"{LINKS[table]['Account'][:-2]}/Id eq {e.id}" for e in accounts]
            found = self._load(table, " or ".join(terms)) if terms else []
            if table == "Lead":
                found = leads + found
        found = _unique(found)
        if responsible_user_id is not None:
            found = [e for e in found if e.owner_id == responsible_user_id]
        return found

    def _by_number(self, number: str | None) -> tuple[list[Entity], list[Entity], list[Entity]]:
        """Contacts, accounts and open leads with the client's number, as the post-call step finds them."""
        found = self.adapter.facts(number).found
        return tuple(  # type: ignore[return-value]
            [
                Entity(type_, e.id, e.name or "", _owner(e.responsible_user_ids))
                for e in found
                if e.kind == kind
            ]
            for kind, type_ in (("contact", "Контакт"), ("company", "Контрагент"), ("lead", "Лид"))
        )

    def _rows_of(self, table: str, ids: list[str], column: str) -> list[dict[str, Any]]:
        if not ids or not self.client.schema().has(table, column):
            return []
        rows = self.client.rows(table, {"$filter": _any_id(ids), "$select": f"Id,{column}"})
        return [r for r in rows if r.get(column)]

    def _load(self, table: str, where: str) -> list[Entity]:
        columns = [
            c for c in ("Id", NAMES[table], "OwnerId", "CreatedOn") if self.client.schema().has(table, c)
        ]
        rows = self.client.rows(
            table, {"$filter": where, "$select": ",".join(columns), "$orderby": "CreatedOn"}
        )
        return [_entity(table, row) for row in rows]

    # -- writes ----------------------------------------------------------------------------------

    def create_entity(self, call: RuleCall, entity_type: str, key: str) -> Entity:
        table = self._table(entity_type)
        digits = "".join(ch for ch in (call.client_number or "") if ch.isdigit())
        name = f"Auto #{digits}" if digits else f"Auto ({call.direction} call)"
        values: dict[str, Any] = {"Id": p.stable_id(call.entry_id, f"role_rules:{key}"), NAMES[table]: name}
        if table == "Case":
            values[NAMES[table]] = f"Звонок с {call.client_number}" if call.client_number else "Звонок"
        if call.operator_user_id:
            values["OwnerId"] = call.operator_user_id
        if call.client_number and table != "Case":
            values[p.phone_column(table, call.client_number)] = call.client_number  # type: ignore[arg-type]
        row, _, _ = self.adapter._create(table, values)
        return Entity(
            entity_type, str(row.get("Id") or values["Id"]), str(values[NAMES[table]]), call.operator_user_id
        )

    def _calls(self, call: RuleCall) -> list[str]:
        columns = self.adapter.columns()
        column, note = columns.column("Call", "entry_id"), columns.column("Call", "note")
        if column is not None:
            where = f"{column} eq {p.literal(call.entry_id)}"
        elif note is not None:
            line = p.note_text([(FIELDS["entry_id"].caption, call.entry_id)])
            where = f"contains({note},{p.literal(line)})"
        else:
            raise ActionRefused(
                "this BPMSoft keeps no MANGO OFFICE call id on calls (no column «ID звонка MANGO OFFICE» and "
                "no note column): the rules cannot find the call"
            )
        rows = self.client.rows("Call", {"$filter": where, "$select": "Id"})
        if not rows:
            raise ActionRefused(
                f"call {call.entry_id} has no record in BPMSoft (it was not saved, or not yet)"
            )
        return [str(r["Id"]) for r in rows]

    def bind_to_call(self, call: RuleCall, entity: Entity) -> None:
        column = self._card_column(entity)
        for call_id in self._calls(call):
            self.client.patch(f"Call({call_id})", {column: entity.id})

    def bind_card_to_call_and_call_to_all(self, call: RuleCall, entities: Sequence[Entity]) -> None:
        card: dict[str, str] = {}
        for entity in entities:
            if TABLES.get(entity.type) in CALL_CARD and self.client.schema().has(
                "Call", CALL_CARD[TABLES[entity.type]]
            ):
                card.setdefault(CALL_CARD[TABLES[entity.type]], entity.id)
        calls = self._calls(call)
        for call_id in calls:
            if card:
                self.client.patch(f"Call({call_id})", card)
            if not self.client.schema().has(CALL_ENTITY):
                continue
            for entity in entities:
                self.adapter._create(
                    CALL_ENTITY,
                    {
                        "Id": p.stable_id(call_id, f"{entity.type}:{entity.id}"),
                        "UsrCallId": call_id,
                        "UsrEntityName": TABLES.get(entity.type, entity.type),
                        "UsrEntityId": entity.id,
                    },
                )

    def bind_entity_to_entity2(self, entity: Entity, entity2: Entity) -> None:
        table, table2 = self._table(entity.type), self._table(entity2.type)
        column = LINKS.get(table2, {}).get(table)
        if column is None or not self.client.schema().has(table2, column):
            raise ActionRefused(f"«{entity2.type}» has no column for «{entity.type}» in BPMSoft")
        self.client.patch(f"{table2}({_guid(entity2.id)})", {column: entity.id})

    def assign_responsible(self, entity: Entity, user_id: str) -> None:
        table = self._table(entity.type)
        if not self.client.schema().has(table, "OwnerId"):
            raise ActionRefused(f"«{entity.type}» has no responsible (OwnerId) in BPMSoft")
        self.client.patch(f"{table}({_guid(entity.id)})", {"OwnerId": user_id})

    # -- «Действия звонка» ----------------------------------------------------------------------

    def record_history(self, entry_id: str, history: History) -> int:
        """The applied rules on the call card's «Действия звонка» block (our package's `UsrMcbCallAction`
        detail), one row per applied rule on every Call row of the call; rows already there are kept,
        so a retried run writes nothing twice. Answers how many rows were written. Without our package,
        the rows go into the call's note as a «Действия звонка:» section (replaced when written again)."""
        if not history.rows:
            return 0
        if not self.client.schema().has(CALL_ACTION):
            return self._history_in_note(entry_id, history)
        written = 0
        for call_id in self._calls(RuleCall(entry_id=entry_id, direction="incoming")):
            for row in history.rows:
                values = {
                    "Id": p.stable_id(call_id, f"action:{row.step}:{row.order}"),
                    "UsrCallId": call_id,
                    "UsrPosition": row.step,
                    "UsrRuleOrder": row.order,
                    "UsrDirection": DIRECTION_LABELS[row.direction]
                    if row.direction in ("incoming", "outgoing")
                    else None,
                    "UsrRole": row.role,
                    "UsrCondition": row.condition,
                    "UsrEntity": row.entity,
                    "UsrEntity2": row.entity2,
                    "UsrAction": row.action_label,
                    "UsrValue": row.value,
                    "UsrResult": row.message,
                }
                _, _, earlier = self.adapter._create(
                    CALL_ACTION, {k: v for k, v in values.items() if v is not None}
                )
                written += not earlier
        return written

    def _forget_in_notes(self, order: int) -> int:
        note = self.adapter.columns().column("Call", "note")
        if note is None:
            return 0
        mark = f"[правило {int(order)}]"
        rows = self.client.rows(
            "Call", {"$filter": f"contains({note},{p.literal(mark)})", "$select": f"Id,{note}"}
        )
        deleted = 0
        for row in rows:
            lines = str(row.get(note) or "").split("\n")
            kept = [line for line in lines if mark not in line]
            deleted += len(lines) - len(kept)
            self.client.patch(f"Call({row['Id']})", {note: "\n".join(kept)})
        return deleted

    def _history_in_note(self, entry_id: str, history: History) -> int:
        note = self.adapter.columns().column("Call", "note")
        if note is None:
            return 0
        lines = [_history_line(row) for row in history.rows]
        written = 0
        for call_id in self._calls(RuleCall(entry_id=entry_id, direction="incoming")):
            text = str((self.adapter._row("Call", call_id, note) or {}).get(note) or "")
            kept = text.split(f"\n{HISTORY_HEADER}")[0].removeprefix(HISTORY_HEADER).rstrip()
            updated = "\n".join(part for part in (kept, HISTORY_HEADER, *lines) if part)
            if updated != text:
                self.client.patch(f"Call({call_id})", {note: updated})
                written += len(lines)
        return written

    def forget_rule(self, order: int) -> int:
        """A rule deleted from the table leaves every call's history (seed 000, «Редактирование или
        удаление правила»: its application is deleted from the «Действия звонка» of all calls). Answers
        how many rows were deleted."""
        if not self.client.schema().has(CALL_ACTION):
            return self._forget_in_notes(order)
        deleted = 0
        while True:
            rows = self.client.rows(
                CALL_ACTION, {"$filter": f"UsrRuleOrder eq {int(order)}", "$select": "Id", "$top": "100"}
            )
            if not rows:
                return deleted
            answers = self.client.batch([("DELETE", f"{CALL_ACTION}({r['Id']})", None, None) for r in rows])
            for status, body in answers:
                if status >= 400 and status != 404:
                    raise ActionRefused(f"BPMSoft refused to delete a «Действия звонка» row: {body}")
            deleted += len(rows)

    # -- helpers ---------------------------------------------------------------------------------

    def _table(self, entity_type: str | None) -> str:
        table = TABLES.get((entity_type or "").strip())
        if table is None or not self.client.schema().has(table):
            known = ", ".join(f"«{t}»" for t in TABLES)
            raise ActionRefused(
                f"«{entity_type}» is not a record type this BPMSoft offers to the rules ({known})"
            )
        return table

    def _card_column(self, entity: Entity) -> str:
        column = CALL_CARD.get(self._table(entity.type))
        if column is None or not self.client.schema().has("Call", column):
            raise ActionRefused(f"a BPMSoft call has no field for «{entity.type}»")
        return column


def _guid(value: str) -> str:
    if not p.is_guid(value):
        raise ActionRefused(f"{value!r} is not a BPMSoft record id")
    return value.strip().lower()


def _any_id(ids: list[str]) -> str:
    return " or ".join(f"Id eq {_guid(i)}" for i in dict.fromkeys(ids))


def _owner(ids: tuple[str, ...]) -> str | None:
    return ids[0] if ids else None


def _entity(table: str, row: dict[str, Any]) -> Entity:
    return Entity(TYPES[table], str(row["Id"]), str(row.get(NAMES[table]) or ""), row.get("OwnerId"))


def _unique(entities: list[Entity]) -> list[Entity]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for entity in entities:
        if (entity.type, entity.id) not in seen:
            seen.add((entity.type, entity.id))
            unique.append(entity)
    return unique


HISTORY_HEADER = "Действия звонка:"
"""The call note's section that stands for «Действия звонка» on an instance without our package."""


def _history_line(row: Any) -> str:
    parts = [row.entity, row.entity2, row.action_label if row.action.value != "do_nothing" else None]
    said = " — ".join(str(p) for p in (*parts, row.message) if p)
    return f"{row.step}. [правило {row.order}] {said}"
