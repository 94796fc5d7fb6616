"""What one BPMSoft instance has, read from its OData `$metadata` (EDMX / CSDL 4.0).

Editions and package versions differ (leads exist only in some editions; the integration package adds
the call-status, recording, speech-analytics and ДКТ columns), so the adapter writes only columns the
instance lists and says which it skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from mango_bridge.crm.errors import CrmUnavailable


@dataclass(frozen=True)
class Schema:
    entities: dict[str, frozenset[str]] = field(default_factory=dict)
    """Entity set name → its columns (lookups as `<Name>Id`)."""

    def has(self, entity: str, column: str | None = None) -> bool:
        columns = self.entities.get(entity)
        return columns is not None and (column is None or column in columns)

    def fit(self, entity: str, values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The values this instance can hold, and `Entity.Column` of those it cannot."""
        columns = self.entities.get(entity, frozenset())
        kept = {k: v for k, v in values.items() if k in columns}
        return kept, [f"{entity}.{k}" for k in values if k not in columns]

    def missing(self, entity: str, columns: Iterable[str]) -> list[str]:
        have = self.entities.get(entity, frozenset())
        return [c for c in columns if c not in have]


def parse_metadata(text: str) -> Schema:
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as problem:
        raise CrmUnavailable(
            f"BPMSoft answered $metadata with a document that is not EDMX: {problem}"
        ) from None
    types: dict[str, set[str]] = {}
    for element in root.iter():
        if _local(element.tag) != "EntityType":
            continue
        columns = types.setdefault(element.get("Name") or "", set())
        for child in element:
            tag = _local(child.tag)
            if tag == "Property":
                columns.add(child.get("Name") or "")
            elif tag == "NavigationProperty" and child.get("Name"):
                columns.add(f"{child.get('Name')}Id")
    sets: dict[str, frozenset[str]] = {}
    for element in root.iter():
        if _local(element.tag) == "EntitySet":
            type_name = (element.get("EntityType") or "").rsplit(".", 1)[-1]
            sets[element.get("Name") or type_name] = frozenset(types.get(type_name, ()))
    if not sets:
        sets = {name: frozenset(columns) for name, columns in types.items()}
    return Schema(sets)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
