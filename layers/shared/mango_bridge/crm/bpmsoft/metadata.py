"""What one BPMSoft instance has, read from its OData `$metadata` (EDMX / CSDL 4.0).

Editions and package versions differ (leads exist only in some editions; the integration package adds
the call-status, recording, speech-analytics and ДКТ columns), so the adapter writes only columns the
instance lists and says which it skipped.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

from mango_bridge.crm.errors import CrmUnavailable


@dataclass(frozen=True)
class Schema:
    entities: dict[str, frozenset[str]] = field(default_factory=dict)
    """Entity set name → its columns (lookups as `<Name>Id`)."""
    targets: dict[str, dict[str, str]] = field(default_factory=dict)
    """Entity set name → lookup column (`<Name>Id`) → the entity it points at."""

    def has(self, entity: str, column: str | None = None) -> bool:
        columns = self.entities.get(entity)
        return columns is not None and (column is None or column in columns)

    def target(self, entity: str, column: str) -> str | None:
        return self.targets.get(entity, {}).get(column)

    def fit(self, entity: str, values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The values this instance can hold, and `Entity.Column` of those it cannot."""
        columns = self.entities.get(entity, frozenset())
        kept = {k: v for k, v in values.items() if k in columns}
        return kept, [f"{entity}.{k}" for k in values if k not in columns]

    def missing(self, entity: str, columns: Iterable[str]) -> list[str]:
        have = self.entities.get(entity, frozenset())
        return [c for c in columns if c not in have]


def parse_metadata(text: str | bytes) -> Schema:
    """One streaming pass over the document: a real instance lists thousands of entity types (several
    MB), so elements are dropped as soon as they are read."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    types: dict[str, set[str]] = {}
    navigations: dict[str, dict[str, str]] = {}
    sets: dict[str, str] = {}
    current: str | None = None
    try:
        for event, element in ElementTree.iterparse(io.BytesIO(data), events=("start", "end")):
            tag = _local(element.tag)
            if event == "start":
                if tag == "EntityType":
                    current = element.get("Name") or ""
                    types.setdefault(current, set())
                continue
            if tag == "Property" and current is not None:
                types[current].add(element.get("Name") or "")
            elif tag == "NavigationProperty" and current is not None and element.get("Name"):
                column = f"{element.get('Name')}Id"
                types[current].add(column)
                target = (element.get("Type") or "").removeprefix("Collection(").rstrip(")")
                navigations.setdefault(current, {})[column] = target.rsplit(".", 1)[-1]
            elif tag == "EntitySet":
                type_name = (element.get("EntityType") or "").rsplit(".", 1)[-1]
                sets[element.get("Name") or type_name] = type_name
            elif tag == "EntityType":
                current = None
                element.clear()
    except ElementTree.ParseError as problem:
        raise CrmUnavailable(
            f"BPMSoft answered $metadata with a document that is not EDMX: {problem}"
        ) from None
    if not sets:
        sets = {name: name for name in types}
    by_type = {name: frozenset(columns) for name, columns in types.items()}
    return Schema(
        {name: by_type.get(type_name, frozenset()) for name, type_name in sets.items()},
        {name: navigations.get(type_name, {}) for name, type_name in sets.items()},
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
