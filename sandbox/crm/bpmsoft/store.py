"""The instance's rows in memory, with the rules BPMSoft applies on writes.

* Writes are checked against the schema: an unknown column, a wrong type or a lookup to a missing row
  is refused (400), a second row with the same `Id` conflicts (409).
* Phone columns of contacts and accounts are mirrored into their communication options, with
  `SearchNumber` = the number's digits reversed, which is what CTI searches by (a prefix of the
  reversed digits is a suffix of the number).
* `CreatedOn`/`ModifiedOn`/`CreatedById` are set by the service (the logged-in user's contact).
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from sandbox.crm.bpmsoft import query as q
from sandbox.crm.bpmsoft.schema import (
    BOOL,
    CALL_DIRECTIONS,
    CAPTION_TABLES,
    CASE_STATUSES,
    COMMUNICATION_TYPES,
    DATE,
    DECIMAL,
    GUID,
    INT,
    LEAD_TYPES,
    NAMESPACE,
    OUR_PREFIX,
    PHONE_COLUMN_TYPES,
    QUALIFY_STATUSES,
    TEXT,
    Entity,
    entities,
    install_package,
    sandbox_id,
)

Row = dict[str, Any]


class ODataError(Exception):
    """A refused request, answered with `{"error": {"code", "message"}}`."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def search_number(number: str | None) -> str:
    return "".join(ch for ch in (number or "") if ch.isdigit())[::-1]


SUPERVISOR = {
    "id": sandbox_id("user:Supervisor"),
    "contact": sandbox_id("contact:Supervisor"),
    "name": "Supervisor",
}


class InstanceStore:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.schema: dict[str, Entity] = {}
        self.tables: dict[str, dict[str, Row]] = {}
        self.reset()

    # -- schema ----------------------------------------------------------------------------------

    def reset(
        self,
        *,
        app_installed: bool = True,
        drop_columns: dict[str, list[str]] | None = None,
        prefix: str = OUR_PREFIX,
        captions: bool = True,
    ) -> None:
        """`app_installed`: our package (under `prefix`: another prefix is a vendor's package, or columns
        made by hand); `captions`: the caption tables are readable by the API user."""
        schema = entities()
        package_rows = install_package(schema, prefix) if app_installed else {}
        if not captions:
            for name in CAPTION_TABLES:
                schema.pop(name)
        for name, columns in (drop_columns or {}).items():
            entity = schema.get(name)
            if entity is None:
                raise ValueError(f"no entity {name} to drop columns from")
            for column in columns:
                if column in ("Id",):
                    raise ValueError("Id cannot be dropped")
                entity.columns.pop(column, None)
                entity.captions.pop(column, None)
                if column.endswith("Id") and column[:-2] in entity.lookups:
                    entity.lookups.pop(column[:-2])
                    entity.captions.pop(column[:-2], None)
        self.schema = schema
        self.app_installed = app_installed
        self.prefix = prefix if app_installed else None
        self.dropped = {k: list(v) for k, v in (drop_columns or {}).items()}
        self.tables = {name: {} for name in schema}
        self._seed_lookups()
        now = self._now()
        for name, rows in package_rows.items():
            for row in rows:
                self._put(name, row, now)
        self._seed_captions(now)

    def _seed_captions(self, now: str) -> None:
        """`SysSchema` (one row per object), `SysEntitySchemaColumn` and `VwSysEntitySchemaColumn`."""
        for entity in self.schema.values():
            if entity.name in CAPTION_TABLES:
                continue
            schema_uid = sandbox_id(f"schema:{entity.name}")
            self._put(
                "SysSchema",
                {
                    "Id": schema_uid,
                    "UId": schema_uid,
                    "Name": entity.name,
                    "Caption": entity.caption or entity.name,
                    "ManagerName": "EntitySchemaManager",
                },
                now,
            )
            for column, caption in entity.captions.items():
                column_uid = sandbox_id(f"column:{entity.name}.{column}")
                self._put(
                    "SysEntitySchemaColumn",
                    {
                        "Id": column_uid,
                        "UId": column_uid,
                        "SysEntitySchemaUId": schema_uid,
                        "Name": column,
                        "Caption": caption,
                    },
                    now,
                )
                self._put(
                    "VwSysEntitySchemaColumn",
                    {"Id": column_uid, "EntitySchemaName": entity.name, "Name": column, "Caption": caption},
                    now,
                )

    def entity(self, name: str) -> Entity:
        entity = self.schema.get(name)
        if entity is None:
            raise ODataError(404, f"No HTTP resource was found that matches the request URI '{name}'.")
        return entity

    def _seed_lookups(self) -> None:
        now = self._now()
        supervisor = {"Id": SUPERVISOR["contact"], "Name": SUPERVISOR["name"]}
        self._put("Contact", supervisor, now)
        self._put(
            "SysAdminUnit",
            {
                "Id": SUPERVISOR["id"],
                "Name": "Supervisor",
                "Active": True,
                "SysAdminUnitTypeValue": 4,
                "ContactId": SUPERVISOR["contact"],
            },
            now,
        )
        for guid, name in CALL_DIRECTIONS.items():
            self._put("CallDirection", {"Id": guid, "Name": name}, now)
        for guid, name in COMMUNICATION_TYPES.items():
            self._put("CommunicationType", {"Id": guid, "Name": name}, now)
        for guid, name in LEAD_TYPES.items():
            self._put("LeadType", {"Id": guid, "Name": name}, now)
        for guid, (name, final, position) in QUALIFY_STATUSES.items():
            self._put(
                "QualifyStatus", {"Id": guid, "Name": name, "IsFinal": final, "Position": position}, now
            )
        for guid, (name, final) in CASE_STATUSES.items():
            self._put("CaseStatus", {"Id": guid, "Name": name, "IsFinal": final}, now)

    def _put(self, name: str, values: Row, now: str) -> None:
        if name not in self.schema:
            return
        entity = self.schema[name]
        row = {column: None for column in entity.all_columns()}
        row.update({k: v for k, v in values.items() if k in row})
        row["CreatedOn"] = row["ModifiedOn"] = now
        self.tables[name][row["Id"]] = row

    def _now(self) -> str:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    # -- writes ----------------------------------------------------------------------------------

    def _check(self, entity: Entity, values: Any, *, creating: bool) -> Row:
        if not isinstance(values, dict):
            raise ODataError(400, "The request body must be a JSON object.")
        columns = entity.all_columns()
        clean: Row = {}
        for column, value in values.items():
            if column.startswith("@odata"):
                continue
            kind = columns.get(column)
            if kind is None:
                raise ODataError(
                    400,
                    f"The property '{column}' does not exist on type '{NAMESPACE}.{entity.name}'. Make sure "
                    "to only use property names that are defined by the type or mark the type as open type.",
                )
            if column in ("CreatedOn", "ModifiedOn", "CreatedById", "ModifiedById"):
                continue
            if column == "Id" and not creating:
                raise ODataError(400, "The key property 'Id' cannot be changed.")
            clean[column] = _typed(entity.name, column, kind, value)
        for column, value in clean.items():
            if (
                column.endswith("Id")
                and column != "Id"
                and value is not None
                and column[:-2] in entity.lookups
            ):
                target = entity.lookups[column[:-2]]
                if value not in self.tables.get(target, {}):
                    raise ODataError(
                        400,
                        f"Insert or update of '{entity.name}' violates the reference '{column}': there is no "
                        f"'{target}' with Id {value}.",
                    )
        return clean

    def create(self, name: str, values: Any, user_contact: str) -> Row:
        entity = self.entity(name)
        clean = self._check(entity, values, creating=True)
        row_id = clean.get("Id") or str(uuid.uuid4())
        if row_id in self.tables[name]:
            raise ODataError(409, f"A '{name}' with Id {row_id} already exists (duplicate key).")
        row = {column: None for column in entity.all_columns()}
        row.update(clean)
        now = self._now()
        row.update(Id=row_id, CreatedOn=now, ModifiedOn=now)
        if "CreatedById" in row:
            row["CreatedById"] = row["ModifiedById"] = user_contact
        self.tables[name][row_id] = row
        self._sync_communications(name, row, clean)
        return row

    def update(self, name: str, row_id: str, values: Any, user_contact: str) -> Row:
        entity = self.entity(name)
        row = self.get(name, row_id)
        clean = self._check(entity, values, creating=False)
        row.update(clean)
        row["ModifiedOn"] = self._now()
        if "ModifiedById" in row:
            row["ModifiedById"] = user_contact
        self._sync_communications(name, row, clean)
        return row

    def delete(self, name: str, row_id: str) -> None:
        self.entity(name)
        self.get(name, row_id)
        del self.tables[name][row_id]

    def get(self, name: str, row_id: str) -> Row:
        row = self.tables[self.entity(name).name].get(row_id.lower())
        if row is None:
            raise ODataError(404, f"The '{name}' with Id {row_id} was not found.")
        return row

    def _sync_communications(self, name: str, row: Row, changed: Row) -> None:
        """BPMSoft keeps a contact's / account's phone columns and its communication options in step."""
        table = {"Contact": "ContactCommunication", "Account": "AccountCommunication"}.get(name)
        if table is None or table not in self.tables:
            return
        owner = "ContactId" if name == "Contact" else "AccountId"
        for column, value in changed.items():
            type_id = PHONE_COLUMN_TYPES.get((name, column))
            if type_id is None:
                continue
            rows = self.tables[table]
            existing = next(
                (r for r in rows.values() if r[owner] == row["Id"] and r["CommunicationTypeId"] == type_id),
                None,
            )
            if not value:
                if existing:
                    del rows[existing["Id"]]
                continue
            values = {"Number": value, "SearchNumber": search_number(value)}
            if existing:
                existing.update(values)
            else:
                self._put(
                    table,
                    {
                        "Id": str(uuid.uuid4()),
                        owner: row["Id"],
                        "CommunicationTypeId": type_id,
                        "Primary": True,
                        **values,
                    },
                    self._now(),
                )

    # -- reads -----------------------------------------------------------------------------------

    def resolve(self, entity_name: str) -> q.Resolve:
        def resolve(row: Row, path: list[str]) -> Any:
            current_entity, current = self.entity(entity_name), row
            for index, part in enumerate(path):
                last = index == len(path) - 1
                if part in current_entity.lookups:
                    target_id = current.get(f"{part}Id")
                    if last:
                        raise q.QueryError(f"The lookup '{part}' cannot be compared: use '{part}/Id'.")
                    if path[index + 1] == "Id" and index + 1 == len(path) - 1:
                        return target_id
                    current_entity = self.entity(current_entity.lookups[part])
                    current = self.tables[current_entity.name].get(target_id or "") or {}
                    continue
                if part not in current_entity.all_columns():
                    raise q.QueryError(
                        f"Could not find a property named '{part}' on type '{NAMESPACE}.{current_entity.name}'."
                    )
                if not last:
                    raise q.QueryError(f"'{part}' is not a lookup and cannot be followed.")
                return current.get(part)
            return None

        return resolve

    def query(
        self,
        name: str,
        *,
        filter_text: str | None,
        orderby: str | None,
        top: int | None,
        skip: int | None,
    ) -> tuple[list[Row], int]:
        entity = self.entity(name)
        rows = list(self.tables[entity.name].values())
        if filter_text:
            node = q.parse_filter(filter_text)
            resolve = self.resolve(entity.name)
            rows = [row for row in rows if q.evaluate(node, row, resolve)]
        for column, descending in reversed(q.parse_orderby(orderby)):
            if column not in entity.all_columns():
                raise q.QueryError(
                    f"Could not find a property named '{column}' on type '{NAMESPACE}.{name}'."
                )
            rows.sort(key=lambda r, c=column: (r.get(c) is None, r.get(c) or ""), reverse=descending)
        total = len(rows)
        start = skip or 0
        rows = rows[start : start + top] if top is not None else rows[start:]
        return rows, total

    def render(self, name: str, row: Row, select: list[str] | None, expand: list[q.Expand]) -> Row:
        entity = self.entity(name)
        columns = entity.all_columns()
        wanted = select or list(columns)
        out: Row = {}
        for column in wanted:
            if column in entity.lookups and any(e.name == column for e in expand):
                continue
            if column not in columns:
                raise q.QueryError(
                    f"Could not find a property named '{column}' on type '{NAMESPACE}.{name}'."
                )
            out[column] = row.get(column)
        for item in expand:
            target = entity.lookups.get(item.name)
            if target is None:
                raise q.QueryError(f"Could not find a navigation property named '{item.name}' on '{name}'.")
            related = self.tables[target].get(row.get(f"{item.name}Id") or "")
            out[item.name] = self.render(target, related, item.select, item.expand) if related else None
        return out

    def dump(self) -> dict[str, list[Row]]:
        return {name: copy.deepcopy(list(rows.values())) for name, rows in self.tables.items()}


def _typed(entity: str, column: str, kind: str, value: Any) -> Any:
    if value is None:
        return None
    problem = ODataError(
        400, f"Cannot convert the literal '{value}' to the expected type '{kind}' of '{entity}.{column}'."
    )
    if kind == GUID:
        if not isinstance(value, str):
            raise problem
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise problem from None
    if kind == TEXT:
        if not isinstance(value, str):
            raise problem
        return value
    if kind == INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise problem
        return value
    if kind == DECIMAL:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise problem
        return value
    if kind == BOOL:
        if not isinstance(value, bool):
            raise problem
        return value
    if kind == DATE:
        if not isinstance(value, str):
            raise problem
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise problem from None
        if parsed.tzinfo is None:
            raise problem
        return parsed.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value
