"""`docs/settings.schema.json` and `docs/settings.md`, generated from the model so they cannot drift.

python -m mango_bridge.settings.reference            # write both files
python -m mango_bridge.settings.reference --check    # exit 1 if the committed files are stale
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from mango_bridge.settings.model import (
    CREATABLE,
    CRM_KIND_LABELS,
    ENTITY_LABELS,
    MAX_ROLE_RULES,
    MAX_ROUTING_CONDITIONS,
    MAX_ROUTING_RULES,
    TenantSettings,
    TenantUpdate,
)

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
COMMAND = "python -m mango_bridge.settings.reference"


class _WithFactoryDefaults(GenerateJsonSchema):
    """Pydantic leaves `default_factory` defaults out of the schema; readers need them."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()  # type: ignore[call-arg]
        return super().get_default_value(schema)


def json_schema(model: type[BaseModel] = TenantSettings) -> JsonSchemaValue:
    schema = model.model_json_schema(schema_generator=_WithFactoryDefaults)
    return {"$schema": SCHEMA_DIALECT, **schema}


def schema_text() -> str:
    return json.dumps(json_schema(TenantSettings), ensure_ascii=False, indent=2) + "\n"


@dataclass(frozen=True)
class Section:
    title: str
    fields: tuple[str, ...]
    intro: str


def _creatable_table() -> str:
    rows = ["| CRM (`crm.kind`) | Can create from a call |", "|---|---|"]
    for kind, allowed in CREATABLE.items():
        entities = ", ".join(f"`{e}`" for e in ENTITY_LABELS if e in allowed)
        rows.append(f"| {CRM_KIND_LABELS[kind.value]} (`{kind.value}`) | {entities} |")
    return "\n".join(rows)


SECTIONS: tuple[Section, ...] = (
    Section(
        "Mango VPBX («API коннектор»)",
        ("mango", "mango_api_salt"),
        "Which VPBX the tenant is. In Mango's ЛК → Интеграции → API коннектор, set the external system's "
        "address to `https://<api>/mango/<tenant>/` (with the trailing slash); the key and salt shown there "
        "go here. The salt is write-only.",
    ),
    Section(
        "CRM connection (tab «Подключение»)",
        ("crm",),
        "Where the CRM account is and how to log in; «Проверить подключение» checks both and answers in plain "
        "words (F41). The credentials stay in Secrets Manager: the document names the secret. Until `crm` is "
        "set, calls are journaled but written nowhere.",
    ),
    Section(
        "Employees (tab «Сотрудники»)",
        ("employees",),
        "Each Mango extension maps to one CRM user (F4). Calls of employees missing from the list are not "
        "saved unless `responsibles.save_all_calls_user` names a fallback user; `ignore_calls` drops one "
        "employee's calls entirely (F40).",
    ),
    Section(
        "Call processing (tab «Обработка звонков»)",
        (
            "durations",
            "new_number",
            "repeat_call",
            "responsibles",
            "source_line",
            "call_tracking",
            "quality_score",
            "yellow_pages",
            "timezone",
        ),
        "How a finished call is judged and what it creates in the CRM (F3–F18, F22, F23, F44). What a call "
        "can create depends on the CRM; choosing something the CRM does not have is refused:\n\n"
        + _creatable_table()
        + "\n\nCreation is opt-in everywhere, as in Mango's integrations: by default calls are logged against "
        "what already exists and nothing new is created.",
    ),
    Section(
        "Smart routing and outgoing calls",
        ("routing", "outgoing_auto_answer"),
        f"While the caller hears the greeting, the bridge checks up to {MAX_ROUTING_RULES} smart rules of up "
        f"to {MAX_ROUTING_CONDITIONS} conditions each, top-down; the first enabled rule whose conditions all "
        "hold routes the call; then, if on, the call goes to the known client's responsible. Nothing matched, "
        "a timeout or an error → Mango's own scheme handles the call. The line's scheme must play a greeting "
        "of 5–8 s with «ожидать окончания» = да (F24–F27).",
    ),
    Section(
        "Additional (tab «Дополнительно»)",
        (
            "line_filter",
            "speech_analytics",
            "missing_call_sync",
            "disable_leads",
            "manual_entity_binding",
            "recordings",
        ),
        "Filters, speech analytics, reconciliation and recordings (F14, F17–F21, F30).",
    ),
    Section(
        "BPMSoft role-based action rules («Настройка действий в зависимости от роли»)",
        ("role_rules", "save_action_history"),
        f"An ordered table of at most {MAX_ROLE_RULES} rows (F31), BPMSoft only. Row 1 is the master switch: "
        "`final: true` there switches the whole table off, `false` switches it on; it carries nothing else. "
        "Rows run in ascending `order` (numbers may leave gaps); a deactivated row or one whose role, "
        "direction or condition does not fit the call is skipped; a fitting row runs its action; a row number "
        "in `value` (or `go_to_row`) jumps there; otherwise `final: true` stops and `false` goes on to the "
        "next row.\n\n"
        '`value` takes one of three forms: a row number (`15`); `"Var=Value"` sets a variable '
        '(`"НеСоздаватьЛид=Да"`); `"Var=Value;N"` checks a variable and jumps to row N if it holds '
        '(`"НеСоздаватьЛид=Да;40"`). Quotes are optional; `%number%` or `%номер%` in a value stand for the '
        "client's number. Every row a jump points at must exist. The `open_*` actions are instructions for "
        "the agent's screen: the bridge records them on the call.",
    ),
)

HEADER = """\
# Tenant settings reference

<!-- Generated by `{command}` from `mango_bridge.settings.model`. Do not edit by hand: a test fails when
this file or `settings.schema.json` differs from what the model produces. -->

One settings document per tenant (one VPBX connected to one CRM account): every setting of Mango's CRM
integrations, under an English name, with the Russian name it has on Mango's settings pages. The model
is `mango_bridge.settings.model.TenantSettings`; its JSON Schema is [`settings.schema.json`](settings.schema.json);
realistic documents are in [`examples/`](examples/) ([BPMSoft](examples/settings-bpmsoft.yaml),
[amoCRM](examples/settings-amocrm.yaml)).

## Writing settings

**`PUT /admin/tenants/{{tenant}}`** creates or replaces a tenant. The body is the settings document (every
field below) plus the write-only `mango_api_salt` — the fields of `TenantUpdate`. The salt is required
when the tenant is created and may be omitted later to keep the stored one; it goes to Secrets Manager
and is never returned. Tenant ids are 2–63 characters of lower-case latin letters, digits and `-`,
starting with a letter or digit.

```json
{{"mango": {{"api_key": "<Уникальный код вашей АТС>"}}, "mango_api_salt": "<Ключ для создания подписи>",
 "crm": {{"kind": "bpmsoft", "url": "https://company.bpmsoft.ru",
         "credentials": {{"secret_name": "mango-bridge/prod/tenants/acme/crm"}}}},
 "employees": [{{"extension": "101", "crm_user_id": "5f1c…", "name": "Анна Петрова"}}]}}
```

**`GET /admin/tenants/{{tenant}}/settings`** returns the settings document and its `version`; secrets are
never included.

**`PUT /admin/tenants/{{tenant}}/settings`** replaces the whole document; omitted fields take their defaults.

**`PATCH /admin/tenants/{{tenant}}/settings`** applies a JSON merge patch (RFC 7396, `Content-Type:
application/merge-patch+json`) to the stored document and validates the result as a whole. Objects merge
key by key; `null` removes a key, which returns it to its default; arrays and scalars replace what was
there, so adding one employee means sending the whole `employees` list.

```json
{{"durations": {{"min_answered_seconds": 5}},
 "responsibles": {{"missed_in_ivr": {{"enabled": true, "crm_user_id": "42"}}}}}}
```

**Concurrency.** Every stored document has a `version`. Send `If-Match: <version>` with a PUT or PATCH
to apply it only to that version: if someone changed the tenant in between, the request is refused with
409 `version_conflict` and nothing is written. Without `If-Match` the last write wins.

**Errors.** An invalid document is rejected whole — nothing is stored — with 400 `invalid_settings` and
every problem listed, each as `{{"field": "routing.rules[2].conditions[0].value", "message": "required for
operator 'equals'"}}`, where `field` is the path to the value (`mango_bridge.settings.errors.validation_errors`).
Unknown fields are errors too: a typo must not silently do nothing. Rules that relate several fields are
checked once every field is valid on its own, so fixing a first round of errors may reveal a second.

## Conventions

- **Ids of CRM objects** (users, need types, stages, programs, pipelines, statuses, roles) are strings;
  numbers are accepted and stored as strings; a blank string means "not chosen".
- **Lines and numbers** are kept as typed, minus spaces: `+7 495 123-45-67` is stored as `+7495123-45-67`.
  A line is written the way Mango reports it in `to.line_number`.
- **Switching an option off is a one-field change**: values that belong to it (a responsible, a list of
  lines or topics, a need type) are kept and ignored while it is off.
- **Secrets by reference**: the document names a Secrets Manager secret; it never holds a password.
- **Defaults** follow Mango's integrations; where the seeds are silent the field's notes say what was
  chosen and why.

## Rules that relate several fields

- `employees[].extension` is unique; `employees[].crm_user_id` is unique among employees whose calls are
  kept (click-to-call must know which extension rings).
- `responsibles.missed_in_ivr` / `missed_in_group`: when `enabled`, `crm_user_id` is required and must be a
  mapped employee whose calls are kept (Mango offers only employees with an extension).
- `responsibles.save_all_calls_user` must not be an employee whose calls are ignored.
- `new_number.*.create`: no entity twice; `deal` needs `contact` or `company`; `unsorted` stands alone;
  `lead` needs `lead_need_type` and `lead_stage`; `deal` needs `deal_program` and `deal_status`. The same
  holds for `repeat_call.*`. When `crm` is set, only what that CRM can create is accepted (`unsorted` is
  amoCRM's; `lead` is BPMSoft's).
- `line_filter`: when `enabled`, at least one line; lines are unique (so are `routing.lines`).
- `speech_analytics`: `topics_enabled` needs at least one topic; `texts_enabled` needs `recordings`.
- `routing.rules`: at most {rules} rules with unique names, at most {conditions} conditions each. A
  condition's `value` is required except for `empty` / `not_empty` (which take none); `greater` / `less`
  need a number, `in_list` at least one comma-separated item. The `responsible` action takes no `target`;
  `number` needs a phone number or SIP URI, `group` and `extension` an internal number (digits); `fallback`
  is any of those.
- `role_rules`: at most {roles} rows, BPMSoft only; `order` unique, row 1 present and carrying only
  `final`; `value` has the form its action needs (`go_to_row` a row number, `set_variable` `"Var=Value"`,
  `check_variable` `"Var=Value;N"`); every row a value points at exists, is not the row itself and is not
  row 1; actions that work on entities name them (`entity`, and `entity2` where two are involved).
- `timezone` is an IANA zone (checked with `zoneinfo`); `crm.url` is an http(s) address, stored trimmed,
  lower-cased and without a trailing slash; `crm.notification_emails` are e-mail addresses, unique.
"""


@dataclass(frozen=True)
class Row:
    path: str
    ui_name: str
    type: str
    default: str
    limits: str
    notes: str
    choices: tuple[tuple[str, str], ...] = ()


def _split_description(path: str, node: dict[str, Any]) -> tuple[str, str]:
    description = node.get("description")
    if not description or " — " not in description:
        raise ValueError(f"{path}: the description must start with the Russian UI name and ' — '")
    ui_name, notes = description.split(" — ", 1)
    return ui_name, notes


def _resolve(defs: dict[str, Any], node: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The schema a property really has (through `$ref` and nullable `anyOf`), and whether null is allowed."""
    local = {key: value for key, value in node.items() if key not in ("anyOf", "$ref")}
    nullable = False
    inner = node
    if "anyOf" in node:
        options = [option for option in node["anyOf"] if option.get("type") != "null"]
        nullable = len(options) < len(node["anyOf"])
        inner = options[0] if len(options) == 1 else {"anyOf": options}
    if "$ref" in inner:
        inner = {**defs[inner["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in inner.items() if k != "$ref"}}
    merged = {**inner, **local}
    if "description" in node:
        merged["description"] = node["description"]
    return merged, nullable


def _is_object(node: dict[str, Any]) -> bool:
    return node.get("type") == "object" and "properties" in node


def _limits(node: dict[str, Any], each: bool = False) -> list[str]:
    found: list[str] = []
    if "minimum" in node or "maximum" in node:
        found.append(f"{node.get('minimum', '…')}–{node.get('maximum', '…')}")
    if "minLength" in node and "maxLength" in node:
        found.append(f"{node['minLength']}–{node['maxLength']} characters")
    elif "maxLength" in node:
        found.append(f"≤ {node['maxLength']} characters")
    if "maxItems" in node:
        found.append(f"≤ {node['maxItems']} items")
    if node.get("format") == "email":
        found.append("e-mail address")
    if "pattern" in node:
        found.append(f"pattern `{node['pattern']}`")
    return [f"each {item}" for item in found] if each else found


def _type_and_choices(
    defs: dict[str, Any], node: dict[str, Any], nullable: bool
) -> tuple[str, list[str], tuple[tuple[str, str], ...]]:
    labels: dict[str, str] = node.get("x-labels", {})
    choices: tuple[tuple[str, str], ...] = ()
    limits = _limits(node)
    if node.get("type") == "array":
        item, _ = _resolve(defs, node.get("items", {}))
        if "enum" in item:
            kind = "list of choices"
            choices = tuple((str(v), labels.get(str(v), "")) for v in item["enum"])
        elif _is_object(item):
            kind = "list of objects"
        else:
            kind = f"list of {item.get('type', 'values')}s"
            limits += _limits(item, each=True)
    elif "enum" in node:
        kind = "choice"
        choices = tuple((str(v), labels.get(str(v), "")) for v in node["enum"])
    elif _is_object(node):
        kind = "object"
    else:
        kind = str(node.get("type", "value"))
    if nullable:
        kind += " or null"
    return kind, limits, choices


def _default(node: dict[str, Any], required: bool) -> str:
    if required:
        return "required"
    if "default" not in node:
        return "—"
    if _is_object(node) and isinstance(node["default"], dict):
        return "see below"
    return f"`{json.dumps(node['default'], ensure_ascii=False)}`"


def _rows(defs: dict[str, Any], node: dict[str, Any], prefix: str) -> Iterator[Row]:
    required = set(node.get("required", ()))
    for name, raw in node["properties"].items():
        path = f"{prefix}{name}"
        prop, nullable = _resolve(defs, raw)
        ui_name, notes = _split_description(path, prop)
        kind, limits, choices = _type_and_choices(defs, prop, nullable)
        yield Row(path, ui_name, kind, _default(prop, name in required), ", ".join(limits), notes, choices)
        if _is_object(prop):
            yield from _rows(defs, prop, f"{path}.")
        elif prop.get("type") == "array":
            item, _ = _resolve(defs, prop.get("items", {}))
            if _is_object(item):
                yield from _rows(defs, item, f"{path}[].")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or " "


def _section(section: Section, rows: list[Row]) -> str:
    lines = [f"## {section.title}", "", section.intro, ""]
    lines += [
        "| Setting | UI name | Type | Default | Limits | Notes |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| `{row.path}` | {_cell(row.ui_name)} | {_cell(row.type)} | {_cell(row.default)} | "
        f"{_cell(row.limits)} | {_cell(row.notes)} |"
        for row in rows
    ]
    grouped: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for row in rows:
        if row.choices:
            grouped.setdefault(row.choices, []).append(f"`{row.path}`")
    for choices, paths in grouped.items():
        lines += ["", f"Choices of {', '.join(paths)}:", ""]
        lines += [f"- `{value}`" + (f" — {label}" if label else "") for value, label in choices]
    return "\n".join(lines) + "\n"


def markdown() -> str:
    schema = json_schema(TenantUpdate)
    defs = schema.get("$defs", {})
    top = list(schema["properties"])
    placed = [name for section in SECTIONS for name in section.fields]
    missing = [name for name in top if name not in placed]
    unknown = [name for name in placed if name not in top]
    twice = sorted({name for name in placed if placed.count(name) > 1})
    if missing or unknown or twice:
        raise ValueError(
            f"sections out of step with the model: missing {missing}, unknown {unknown}, twice {twice}"
        )
    header = HEADER.format(
        command=COMMAND, rules=MAX_ROUTING_RULES, conditions=MAX_ROUTING_CONDITIONS, roles=MAX_ROLE_RULES
    )
    parts = [header]
    required = set(schema.get("required", ()))
    for section in SECTIONS:
        rows: list[Row] = []
        for name in section.fields:
            single: dict[str, Any] = {"properties": {name: schema["properties"][name]}}
            if name in required:
                single["required"] = [name]
            rows += _rows(defs, single, "")
        parts.append(_section(section, rows))
    return "\n".join(parts)


def outputs(docs: Path) -> dict[Path, str]:
    return {docs / "settings.schema.json": schema_text(), docs / "settings.md": markdown()}


def _default_docs() -> Path:
    root = Path(__file__).resolve().parents[4]
    return root / "docs" if (root / "pyproject.toml").exists() else Path.cwd() / "docs"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ from the model")
    parser.add_argument("--docs", type=Path, default=_default_docs(), help="the docs directory")
    args = parser.parse_args(argv)
    files = outputs(args.docs)
    if args.check:
        stale = [path for path, text in files.items() if not path.exists() or path.read_text("utf-8") != text]
        for path in stale:
            print(f"{path} is out of date: run `{COMMAND}`", file=sys.stderr)
        return 1 if stale else 0
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
