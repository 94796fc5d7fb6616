"""The tenant settings model: Mango's defaults, every validation rule named by its field path, the limits,
the examples, and the generated reference staying in step with the model."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from mango_bridge.settings import reference
from mango_bridge.settings.errors import InvalidSettings, validation_errors
from mango_bridge.settings.model import (
    DEFAULT_MANGO_API,
    CrmConnection,
    EmployeeMapping,
    MangoConnection,
    RoleAction,
    RoleRule,
    RoutingCondition,
    TenantSettings,
    TenantUpdate,
    check_tenant_id,
    parse_role_value,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
BASE: dict[str, Any] = {"mango": {"api_key": "vpbxkey-0123456789"}}
EMPLOYEES = [
    {"extension": "101", "crm_user_id": "7", "name": "Анна"},
    {"extension": "102", "crm_user_id": "8"},
    {"extension": "150", "crm_user_id": "9", "ignore_calls": True},
]


def doc(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(BASE), **copy.deepcopy(changes)}


def errors_of(document: Any, model: type[BaseModel] = TenantSettings) -> list[dict[str, str]]:
    try:
        model.model_validate(document)
    except ValidationError as error:
        return validation_errors(error)
    return []


def assert_refused(document: Any, path: str, fragment: str, model: type[BaseModel] = TenantSettings) -> None:
    found = errors_of(document, model)
    assert any(e["field"] == path and fragment in e["message"] for e in found), found


def valid(document: dict[str, Any]) -> TenantSettings:
    assert errors_of(document) == []
    return TenantSettings.model_validate(document)


def rule(name: str = "r", conditions: list[dict[str, Any]] | None = None, **action: Any) -> dict[str, Any]:
    condition = {"source": "call", "field": "line_number", "operator": "equals", "value": "74951234567"}
    return {
        "name": name,
        "conditions": [condition] if conditions is None else conditions,
        "action": action or {"kind": "extension", "target": "101"},
    }


def bpmsoft(**changes: Any) -> dict[str, Any]:
    return doc(crm={"kind": "bpmsoft", "url": "https://company.bpmsoft.ru"}, **changes)


# Defaults --------------------------------------------------------------------------------------------


def test_defaults_match_mangos_integrations() -> None:
    settings = valid(doc())
    assert settings.mango.api_base_url == DEFAULT_MANGO_API
    assert settings.crm is None
    assert settings.timezone == "Europe/Moscow"
    assert settings.employees == []
    assert (settings.durations.min_answered_seconds, settings.durations.min_reached_seconds) == (0, 0)
    for case in (settings.new_number.answered_incoming, settings.new_number.missed_incoming):
        assert case.create == [] and case.lead_need_type is None and case.deal_program is None
    assert settings.new_number.outgoing.create == []
    for repeat in (settings.repeat_call.answered, settings.repeat_call.missed):
        assert (repeat.create, repeat.when) == ("nothing", "always")
    assert not settings.responsibles.missed_in_ivr.enabled
    assert not settings.responsibles.missed_in_group.enabled
    assert settings.responsibles.update_on_transfer is False
    assert settings.responsibles.save_all_calls_user is None
    assert settings.recordings is True
    for flag in (
        "source_line",
        "disable_leads",
        "quality_score",
        "call_tracking",
        "yellow_pages",
        "missing_call_sync",
        "manual_entity_binding",
        "outgoing_auto_answer",
        "save_action_history",
    ):
        assert getattr(settings, flag) is False, flag
    assert (settings.line_filter.enabled, settings.line_filter.lines) == (False, [])
    sa = settings.speech_analytics
    assert (sa.topics_enabled, sa.topics, sa.texts_enabled) == (False, [], False)
    assert settings.routing.rules == [] and settings.routing.lines == []
    assert not settings.routing.route_to_responsible and not settings.routing.contact_centre_statuses
    assert settings.role_rules == [] and not settings.role_table_enabled


def test_a_document_stored_before_the_catalogue_grew_still_loads() -> None:
    stored = (
        '{"mango": {"api_key": "acmekey0123456789"}, "employees": [{"extension": "101", "crm_user_id": "1"}]}'
    )
    settings = TenantSettings.model_validate_json(stored)
    assert settings.employee("101") is not None and settings.recordings


def test_schema_defaults_are_the_models_defaults() -> None:
    schema = reference.json_schema(TenantSettings)
    dumped = TenantSettings.model_validate(BASE).model_dump(mode="json")
    for name, prop in schema["properties"].items():
        if name != "mango":
            assert prop["default"] == dumped[name], name


def test_employee_lookup() -> None:
    settings = valid(doc(employees=EMPLOYEES))
    assert settings.employee("101").crm_user_id == "7"  # type: ignore[union-attr]
    assert settings.employee("999") is None
    assert settings.employee(None) is None and settings.employee("") is None


def test_tenant_ids() -> None:
    assert check_tenant_id("acme-2") == "acme-2"
    for bad in ("A", "a", "-acme", "acme_1", "x" * 64):
        with pytest.raises(ValueError, match="tenant id"):
            check_tenant_id(bad)


def test_unknown_fields_are_refused() -> None:
    assert_refused(doc(recordigns=False), "recordigns", "Extra inputs")
    assert_refused(doc(durations={"min_answered": 3}), "durations.min_answered", "Extra inputs")


# The PUT body ----------------------------------------------------------------------------------------


def test_tenant_update_carries_every_setting_plus_the_write_only_salt() -> None:
    body = bpmsoft(
        mango_api_salt="salt-0123456789", employees=EMPLOYEES, recordings=False, quality_score=True
    )
    update = TenantUpdate.model_validate(body)
    settings = update.settings()
    assert isinstance(settings, TenantSettings) and not isinstance(update, TenantSettings)
    assert "mango_api_salt" not in settings.model_dump()
    assert settings.recordings is False and settings.quality_score is True
    assert settings.crm is not None and settings.crm.kind == "bpmsoft"
    assert set(TenantUpdate.model_fields) == set(TenantSettings.model_fields) | {"mango_api_salt"}
    schema = TenantUpdate.model_json_schema()
    assert schema["properties"]["mango_api_salt"]["writeOnly"] is True
    assert_refused(doc(mango_api_salt="short"), "mango_api_salt", "at least 8", TenantUpdate)
    assert_refused(doc(mango_api_salt="salt-0123456789"), "mango_api_salt", "Extra inputs")


def test_tenant_update_applies_the_cross_field_rules_too() -> None:
    body = doc(
        mango_api_salt="salt-0123456789",
        responsibles={"missed_in_ivr": {"enabled": True, "crm_user_id": "1"}},
    )
    assert_refused(body, "responsibles.missed_in_ivr.crm_user_id", "not an employee", TenantUpdate)


# CRM connection --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_url", "stored"),
    [
        (" HTTPS://Company.BPMSoft.RU/ ", "https://company.bpmsoft.ru"),
        ("https://cvetochnaya-lavka.amocrm.ru", "https://cvetochnaya-lavka.amocrm.ru"),
        ("http://127.0.0.1:8081/", "http://127.0.0.1:8081"),
        ("https://crm.example.local/BPMSoft//", "https://crm.example.local/bpmsoft"),
    ],
)
def test_crm_url_is_trimmed_and_lower_cased(given_url: str, stored: str) -> None:
    assert CrmConnection(kind="bpmsoft", url=given_url).url == stored


@pytest.mark.parametrize(
    "bad",
    [
        "company.bpmsoft.ru",
        "ftp://company.bpmsoft.ru",
        "https://",
        "https://a b.ru",
        "https://u:p@x.ru",
        "https://x.ru/?a=1",
    ],
)
def test_crm_url_must_be_a_bare_http_address(bad: str) -> None:
    assert_refused(doc(crm={"kind": "bpmsoft", "url": bad}), "crm.url", "url must")


@given(
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}\.(ru|RU|com|Io)", fullmatch=True),
    st.sampled_from(["", "/", "//"]),
)
def test_crm_url_normalisation_is_idempotent(host: str, tail: str) -> None:
    once = CrmConnection(kind="megaplan", url=f"  HTTPS://{host}{tail} ").url
    assert once == f"https://{host.lower()}"
    assert CrmConnection(kind="megaplan", url=once).url == once


def test_crm_kind_is_one_of_the_four() -> None:
    assert_refused(doc(crm={"kind": "bitrix24", "url": "https://x.ru"}), "crm.kind", "amocrm")
    assert_refused(doc(crm={"url": "https://x.ru"}), "crm.kind", "Field required")


def test_credentials_are_a_secret_reference() -> None:
    settings = valid(bpmsoft())
    assert settings.crm is not None and settings.crm.credentials is None
    crm = {"kind": "omnidesk", "url": "https://help.omnidesk.ru", "credentials": {"secret_name": "mb/t/crm"}}
    assert valid(doc(crm=crm)).crm.credentials.secret_name == "mb/t/crm"  # type: ignore[union-attr]
    crm["credentials"] = {"secret_name": "has spaces"}
    assert_refused(doc(crm=crm), "crm.credentials.secret_name", "pattern")
    crm["credentials"] = {"login": "admin", "password": "hunter2"}
    assert_refused(doc(crm=crm), "crm.credentials.password", "Extra inputs")


def test_notification_emails_are_split_like_the_ui_field() -> None:
    crm = {
        "kind": "bpmsoft",
        "url": "https://x.bpmsoft.ru",
        "notification_emails": " it@x.ru, Boss@X.ru ;ops@x.ru,",
    }
    settings = valid(doc(crm=crm))
    assert settings.crm is not None and settings.crm.notification_emails == [
        "it@x.ru",
        "Boss@X.ru",
        "ops@x.ru",
    ]
    crm["notification_emails"] = ["it@x.ru"]
    assert valid(doc(crm=crm)).crm.notification_emails == ["it@x.ru"]  # type: ignore[union-attr]


def test_notification_emails_are_validated_one_by_one() -> None:
    crm = {
        "kind": "bpmsoft",
        "url": "https://x.bpmsoft.ru",
        "notification_emails": "it@x.ru, not-an-email, a@b",
    }
    found = errors_of(doc(crm=crm))
    assert {e["field"] for e in found} == {"crm.notification_emails[1]", "crm.notification_emails[2]"}
    assert all("is not an e-mail address" in e["message"] for e in found)
    crm["notification_emails"] = "it@x.ru, IT@X.RU"
    assert_refused(doc(crm=crm), "crm.notification_emails[1]", "listed twice")
    crm["notification_emails"] = [f"u{i}@x.ru" for i in range(21)]
    assert_refused(doc(crm=crm), "crm.notification_emails", "at most 20")


# Employees -------------------------------------------------------------------------------------------


def test_employee_mapping_fields() -> None:
    employee = EmployeeMapping.model_validate({"extension": " 0101 ", "crm_user_id": 42, "name": "  "})
    assert (employee.extension, employee.crm_user_id, employee.name) == ("0101", "42", None)
    assert_refused(
        doc(employees=[{"extension": "10a", "crm_user_id": "1"}]), "employees[0].extension", "pattern"
    )
    assert_refused(doc(employees=[{"extension": "101"}]), "employees[0].crm_user_id", "Field required")


def test_extensions_are_unique() -> None:
    employees = [*EMPLOYEES, {"extension": "101", "crm_user_id": "99"}]
    assert_refused(doc(employees=employees), "employees[3].extension", "mapped twice")


def test_a_crm_user_has_one_extension_unless_ignored() -> None:
    assert_refused(
        doc(employees=[*EMPLOYEES, {"extension": "103", "crm_user_id": "7"}]),
        "employees[3].crm_user_id",
        "two extensions",
    )
    valid(doc(employees=[*EMPLOYEES, {"extension": "151", "crm_user_id": "9", "ignore_calls": True}]))


# Responsibles ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["missed_in_ivr", "missed_in_group"])
def test_an_enabled_fallback_responsible_needs_a_user(name: str) -> None:
    assert_refused(
        doc(responsibles={name: {"enabled": True}}),
        f"responsibles.{name}.crm_user_id",
        "required when enabled",
    )
    assert_refused(
        doc(responsibles={name: {"enabled": True, "crm_user_id": "  "}}),
        f"responsibles.{name}.crm_user_id",
        "required when enabled",
    )


@pytest.mark.parametrize("name", ["missed_in_ivr", "missed_in_group"])
def test_the_fallback_responsible_is_a_mapped_employee_whose_calls_are_kept(name: str) -> None:
    assert_refused(
        doc(employees=EMPLOYEES, responsibles={name: {"enabled": True, "crm_user_id": "404"}}),
        f"responsibles.{name}.crm_user_id",
        "not an employee",
    )
    assert_refused(
        doc(employees=EMPLOYEES, responsibles={name: {"enabled": True, "crm_user_id": "9"}}),
        f"responsibles.{name}.crm_user_id",
        "not an employee",
    )
    settings = valid(doc(employees=EMPLOYEES, responsibles={name: {"enabled": True, "crm_user_id": 7}}))
    assert getattr(settings.responsibles, name).crm_user_id == "7"


def test_switching_a_responsible_off_keeps_its_user() -> None:
    settings = valid(doc(responsibles={"missed_in_ivr": {"enabled": False, "crm_user_id": "404"}}))
    assert settings.responsibles.missed_in_ivr.crm_user_id == "404"


def test_save_all_calls_user_is_not_an_ignored_employee() -> None:
    assert_refused(
        doc(employees=EMPLOYEES, responsibles={"save_all_calls_user": "9"}),
        "responsibles.save_all_calls_user",
        "ignored",
    )
    assert (
        valid(
            doc(employees=EMPLOYEES, responsibles={"save_all_calls_user": "500"})
        ).responsibles.save_all_calls_user
        == "500"
    )


# New numbers and repeat calls ------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["answered_incoming", "missed_incoming", "outgoing"])
def test_a_lead_needs_its_need_type_and_stage(case: str) -> None:
    found = errors_of(doc(new_number={case: {"create": ["contact", "lead"]}}))
    assert {e["field"] for e in found} == {
        f"new_number.{case}.lead_need_type",
        f"new_number.{case}.lead_stage",
    }
    assert all("required when a lead is created" in e["message"] for e in found)
    valid(doc(new_number={case: {"create": ["lead"], "lead_need_type": "n", "lead_stage": "s"}}))


@pytest.mark.parametrize("case", ["answered_incoming", "missed_incoming", "outgoing"])
def test_a_deal_needs_a_program_status_and_client(case: str) -> None:
    found = errors_of(doc(new_number={case: {"create": ["deal"]}}))
    paths = {e["field"] for e in found}
    assert paths == {
        f"new_number.{case}.deal_program",
        f"new_number.{case}.deal_status",
        f"new_number.{case}.create",
    }
    assert_refused(
        doc(new_number={case: {"create": ["deal"]}}), f"new_number.{case}.create", "'contact' or 'company'"
    )
    valid(doc(new_number={case: {"create": ["company", "deal"], "deal_program": 44, "deal_status": "2"}}))


def test_new_number_choices_are_consistent() -> None:
    assert_refused(
        doc(new_number={"outgoing": {"create": ["contact", "contact"]}}),
        "new_number.outgoing.create[1]",
        "twice",
    )
    assert_refused(
        doc(new_number={"missed_incoming": {"create": ["unsorted", "contact"]}}),
        "new_number.missed_incoming.create",
        "cannot be combined",
    )
    assert_refused(
        doc(new_number={"outgoing": {"create": ["task"]}}), "new_number.outgoing.create[0]", "contact"
    )


def test_unused_fields_are_kept_while_an_option_is_off() -> None:
    settings = valid(
        doc(new_number={"answered_incoming": {"create": [], "lead_need_type": "n", "deal_status": "1"}})
    )
    assert settings.new_number.answered_incoming.lead_need_type == "n"


@pytest.mark.parametrize("case", ["answered", "missed"])
def test_repeat_calls_need_what_they_create(case: str) -> None:
    assert_refused(doc(repeat_call={case: {"create": "lead"}}), f"repeat_call.{case}.lead_stage", "required")
    assert_refused(
        doc(repeat_call={case: {"create": "deal", "when": "if_no_open"}}),
        f"repeat_call.{case}.deal_program",
        "required",
    )
    assert_refused(doc(repeat_call={case: {"when": "sometimes"}}), f"repeat_call.{case}.when", "if_no_open")
    settings = valid(
        doc(
            repeat_call={
                case: {"create": "deal", "when": "if_no_open", "deal_program": "1", "deal_status": "2"}
            }
        )
    )
    assert getattr(settings.repeat_call, case).when == "if_no_open"


def test_unsorted_is_an_amocrm_notion_checked_only_when_the_crm_is_known() -> None:
    missed = {"missed_incoming": {"create": ["unsorted"]}}
    valid(doc(new_number=missed))
    valid(doc(crm={"kind": "amocrm", "url": "https://shop.amocrm.ru"}, new_number=missed))
    assert_refused(
        bpmsoft(new_number=missed), "new_number.missed_incoming.create[0]", "cannot be created in BPMSoft"
    )
    assert_refused(
        doc(crm={"kind": "megaplan", "url": "https://shop.megaplan.ru"}, new_number=missed),
        "new_number.missed_incoming.create[0]",
        "crm.kind 'megaplan'",
    )


def test_what_a_crm_can_create_is_checked_against_crm_kind() -> None:
    lead = {"answered_incoming": {"create": ["contact", "lead"], "lead_need_type": "n", "lead_stage": "s"}}
    valid(bpmsoft(new_number=lead))
    amo = {"kind": "amocrm", "url": "https://shop.amocrm.ru"}
    assert_refused(
        doc(crm=amo, new_number=lead), "new_number.answered_incoming.create[1]", "«сделки» are 'deal'"
    )
    deal = {"create": "deal", "deal_program": "1", "deal_status": "2"}
    assert_refused(
        bpmsoft(repeat_call={"missed": deal}), "repeat_call.missed.create", "cannot be created in BPMSoft"
    )
    valid(doc(crm={"kind": "megaplan", "url": "https://shop.megaplan.ru"}, repeat_call={"missed": deal}))


def test_disable_leads_overrides_rather_than_conflicts() -> None:
    lead = {"answered_incoming": {"create": ["lead"], "lead_need_type": "n", "lead_stage": "s"}}
    assert valid(bpmsoft(disable_leads=True, new_number=lead)).disable_leads


# Lines, speech analytics, durations, time zone ------------------------------------------------------


def test_line_filter_needs_a_line_when_enabled() -> None:
    assert_refused(doc(line_filter={"enabled": True}), "line_filter.lines", "at least one line")
    assert valid(doc(line_filter={"enabled": False, "lines": ["74951234567"]})).line_filter.lines == [
        "74951234567"
    ]


def test_lines_and_numbers_lose_only_their_spaces() -> None:
    lines = [" +7 495 123-45-67 ", "8 (800) 555 35 35", "sip:line1@vpbx.mangosip.ru", 74957778899]
    settings = valid(
        doc(line_filter={"enabled": True, "lines": lines}, routing={"lines": ["7 495 000 00 00"]})
    )
    assert settings.line_filter.lines == [
        "+7495123-45-67",
        "8(800)5553535",
        "sip:line1@vpbx.mangosip.ru",
        "74957778899",
    ]
    assert settings.routing.lines == ["74950000000"]


def test_lines_are_unique_and_look_like_lines() -> None:
    assert_refused(
        doc(line_filter={"lines": ["74951234567", "7 495 123 45 67"]}), "line_filter.lines[1]", "listed twice"
    )
    assert_refused(doc(routing={"lines": ["1", "1"]}), "routing.lines[1]", "listed twice")
    assert_refused(doc(line_filter={"lines": ["main line"]}), "line_filter.lines[0]", "pattern")
    assert_refused(doc(line_filter={"lines": ["  "]}), "line_filter.lines[0]", "at least 1")


def test_speech_analytics_rules() -> None:
    assert_refused(
        doc(speech_analytics={"topics_enabled": True}), "speech_analytics.topics", "at least one topic"
    )
    assert_refused(
        doc(speech_analytics={"topics": ["Слова паразиты", " Слова паразиты "]}),
        "speech_analytics.topics[1]",
        "twice",
    )
    assert_refused(
        doc(speech_analytics={"texts_enabled": True}, recordings=False),
        "speech_analytics.texts_enabled",
        "recordings",
    )
    settings = valid(
        doc(
            speech_analytics={
                "topics_enabled": True,
                "topics": ["Сотрудник поздоровался"],
                "texts_enabled": True,
            }
        )
    )
    assert settings.speech_analytics.topics == ["Сотрудник поздоровался"]


def test_duration_limits() -> None:
    assert valid(doc(durations={"min_answered_seconds": 3600})).durations.min_answered_seconds == 3600
    assert_refused(
        doc(durations={"min_answered_seconds": -1}), "durations.min_answered_seconds", "greater than or equal"
    )
    assert_refused(
        doc(durations={"min_reached_seconds": 3601}), "durations.min_reached_seconds", "less than or equal"
    )


@pytest.mark.parametrize("zone", ["Europe/Moscow", " Asia/Yekaterinburg ", "UTC", "Asia/Vladivostok"])
def test_timezone_is_an_iana_zone(zone: str) -> None:
    assert valid(doc(timezone=zone)).timezone == zone.strip()


@pytest.mark.parametrize("zone", ["Mars/Olympus", "MSK+3", "../../etc/passwd", ""])
def test_timezone_that_zoneinfo_does_not_know_is_refused(zone: str) -> None:
    assert_refused(doc(timezone=zone), "timezone", "not an IANA time zone")


# Smart routing ---------------------------------------------------------------------------------------


def test_twenty_rules_of_five_conditions_fit_and_more_do_not() -> None:
    conditions = [{"source": "crm", "field": f"f{i}", "operator": "not_empty"} for i in range(5)]
    rules = [rule(f"r{i}", conditions) for i in range(20)]
    assert len(valid(doc(routing={"rules": rules})).routing.rules) == 20
    assert_refused(doc(routing={"rules": [*rules, rule("r20")]}), "routing.rules", "at most 20 items")
    six = [*conditions, {"source": "call", "field": "x", "operator": "empty"}]
    assert_refused(doc(routing={"rules": [rule("r", six)]}), "routing.rules[0].conditions", "at most 5 items")


@pytest.mark.parametrize(
    "operator", ["equals", "not_equals", "contains", "not_contains", "greater", "less", "in_list"]
)
def test_operators_that_compare_need_a_value(operator: str) -> None:
    condition = {"source": "crm", "field": "Категория", "operator": operator}
    assert_refused(
        doc(routing={"rules": [rule("r", [condition])]}),
        "routing.rules[0].conditions[0].value",
        f"required for operator '{operator}'",
    )


@pytest.mark.parametrize("operator", ["empty", "not_empty"])
def test_empty_and_not_empty_take_no_value(operator: str) -> None:
    condition = {"source": "crm", "field": "email", "operator": operator, "value": "x"}
    assert_refused(
        doc(routing={"rules": [rule("r", [condition])]}),
        "routing.rules[0].conditions[0].value",
        "takes no value",
    )
    condition["value"] = ""
    valid(doc(routing={"rules": [rule("r", [condition])]}))


def test_greater_less_and_in_list_values() -> None:
    def condition(operator: str, value: str) -> dict[str, Any]:
        return {
            "routing": {
                "rules": [
                    rule("r", [{"source": "crm", "field": "sum", "operator": operator, "value": value}])
                ]
            }
        }

    for operator in ("greater", "less"):
        assert_refused(
            doc(**condition(operator, "many")), "routing.rules[0].conditions[0].value", "must be a number"
        )
        valid(doc(**condition(operator, "-1.5")))
    assert_refused(
        doc(**condition("in_list", " , ,")), "routing.rules[0].conditions[0].value", "at least one item"
    )
    parsed = RoutingCondition.model_validate(
        {"source": "vpbx", "field": "ivr", "operator": "in_list", "value": "1, 2,,3 "}
    )
    assert parsed.values() == ["1", "2", "3"]
    assert RoutingCondition(source="crm", field="a", operator="equals", value="x, y").values() == ["x, y"]


def test_conditions_read_call_vpbx_or_crm() -> None:
    bad = {"source": "weather", "field": "sky", "operator": "equals", "value": "blue"}
    assert_refused(
        doc(routing={"rules": [rule("r", [bad])]}), "routing.rules[0].conditions[0].source", "'crm'"
    )
    blank = {"source": "crm", "field": "  ", "operator": "not_empty"}
    assert_refused(
        doc(routing={"rules": [rule("r", [blank])]}), "routing.rules[0].conditions[0].field", "blank"
    )


def test_routing_actions_and_their_targets() -> None:
    def with_action(**action: Any) -> dict[str, Any]:
        return doc(routing={"rules": [rule("r", **action)]})

    assert_refused(
        with_action(kind="responsible", target="101"), "routing.rules[0].action.target", "must be empty"
    )
    for kind in ("number", "group", "extension"):
        assert_refused(with_action(kind=kind), "routing.rules[0].action.target", f"required for '{kind}'")
    assert_refused(with_action(kind="extension", target="ext101"), "routing.rules[0].action.target", "digits")
    assert_refused(with_action(kind="group", target="sales"), "routing.rules[0].action.target", "digits")
    assert_refused(
        with_action(kind="number", target="call me"), "routing.rules[0].action.target", "phone number"
    )
    assert_refused(
        with_action(kind="extension", target="101", fallback="busy"),
        "routing.rules[0].action.fallback",
        "extension",
    )
    settings = valid(with_action(kind="number", target="+7 495 123-45-67", fallback=" 2 00 "))
    action = settings.routing.rules[0].action
    assert (action.target, action.fallback) == ("+7495123-45-67", "200")
    assert valid(with_action(kind="responsible", fallback="101")).routing.rules[0].action.target is None
    assert (
        valid(with_action(kind="number", target="sip:duty@vpbx.mangosip.ru")).routing.rules[0].action.target
    )


def test_rule_names_are_unique() -> None:
    assert_refused(
        doc(routing={"rules": [rule("VIP"), rule(" vip ")]}), "routing.rules[1].name", "used twice"
    )
    assert_refused(doc(routing={"rules": [rule(" ")]}), "routing.rules[0].name", "at least 1")


# BPMSoft role rules ----------------------------------------------------------------------------------

SEED_TABLE = [
    {"order": 1, "final": False},
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
    {"order": 15, "entity": "Обращение", "action": "create_entity", "final": True},
    {"order": 20, "entity": "Контакт", "action": "bind_to_call", "final": True},
    {"order": 40, "action": "do_nothing", "final": True},
]


def test_mangos_own_table_with_gaps_in_order_is_valid() -> None:
    settings = valid(bpmsoft(role_rules=SEED_TABLE))
    assert settings.role_table_enabled
    assert [r.order for r in settings.ordered_role_rules()] == [1, 2, 3, 4, 10, 11, 12, 15, 20, 40]
    off = copy.deepcopy(SEED_TABLE)
    off[0]["final"] = True
    assert not valid(bpmsoft(role_rules=off)).role_table_enabled


def test_forty_role_rules_fit_and_forty_one_do_not() -> None:
    rows = [{"order": 1}] + [{"order": n, "action": "do_nothing"} for n in range(2, 41)]
    assert len(valid(bpmsoft(role_rules=rows)).role_rules) == 40
    assert_refused(bpmsoft(role_rules=[*rows, {"order": 41}]), "role_rules", "at most 40 items")


def test_role_rule_orders_are_unique_and_row_one_is_the_switch() -> None:
    assert_refused(bpmsoft(role_rules=[*SEED_TABLE, {"order": 10}]), "role_rules[10].order", "used twice")
    assert_refused(bpmsoft(role_rules=SEED_TABLE[1:4]), "role_rules", "row 1")
    first = {"order": 1, "action": "create_entity", "entity": "Лид"}
    assert_refused(bpmsoft(role_rules=[first]), "role_rules[0].entity", "master switch")
    assert_refused(
        bpmsoft(role_rules=[{"order": 1, "deactivated": True}]), "role_rules[0].deactivated", "final"
    )
    assert_refused(bpmsoft(role_rules=[{"order": 0}]), "role_rules[0].order", "greater than or equal to 1")


def test_go_to_values_point_at_existing_rows() -> None:
    rows = [{"order": 1}, {"order": 2, "action": "go_to_row", "value": "99"}]
    assert_refused(bpmsoft(role_rules=rows), "role_rules[1].value", "row 99, which does not exist")
    rows[1]["value"] = "2"
    assert_refused(bpmsoft(role_rules=rows), "role_rules[1].value", "jumps to itself")
    rows[1]["value"] = "1"
    assert_refused(bpmsoft(role_rules=rows), "role_rules[1].value", "master switch")
    check = [{"order": 1}, {"order": 2, "action": "check_variable", "value": '"НеСоздаватьЛид=Да;2440"'}]
    assert_refused(bpmsoft(role_rules=check), "role_rules[1].value", "row 2440")
    valid(bpmsoft(role_rules=[*check, {"order": 2440, "entity": "Лид", "action": "create_entity"}]))


@pytest.mark.parametrize(
    ("text", "row", "variable", "expected"),
    [
        ("15", 15, None, None),
        ('"НеСоздаватьЛид=Да"', None, "НеСоздаватьЛид", "Да"),
        ("Var=Value", None, "Var", "Value"),
        ('"НеСоздаватьЛид=Да;2440"', 2440, "НеСоздаватьЛид", "Да"),
        ('"Номер"=%номер%', None, "Номер", "%номер%"),
        ("Title = Звонок %number% ; 12", 12, "Title", "Звонок %number%"),
    ],
)
def test_role_values_parse(text: str, row: int | None, variable: str | None, expected: str | None) -> None:
    parsed = parse_role_value(text)
    assert (parsed.row, parsed.variable, parsed.expected) == (row, variable, expected)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Var", "row number"),
        ("=x", "row number"),
        ("Var=", "missing"),
        ("Var=Value;x", "must be a number"),
        ("Var=%nomer%", "unknown placeholder"),
        ("-3", "row number"),
    ],
)
def test_malformed_role_values_are_refused(text: str, fragment: str) -> None:
    rows = [{"order": 1}, {"order": 2, "action": "do_nothing", "value": text}]
    assert_refused(bpmsoft(role_rules=rows), "role_rules[1].value", fragment)


@pytest.mark.parametrize(
    ("action", "value", "fragment"),
    [
        ("go_to_row", None, "go_to_row needs the row number"),
        ("go_to_row", "A=B", "go_to_row needs the row number"),
        ("set_variable", None, 'set_variable needs "Var=Value"'),
        ("set_variable", "A=B;1", 'set_variable needs "Var=Value"'),
        ("check_variable", "A=B", 'check_variable needs "Var=Value;N"'),
        ("check_variable", "1", 'check_variable needs "Var=Value;N"'),
    ],
)
def test_each_action_gets_the_value_form_it_needs(action: str, value: str | None, fragment: str) -> None:
    rows = [{"order": 1}, {"order": 2, "action": action, "value": value}]
    assert_refused(bpmsoft(role_rules=rows), "role_rules[1].value", fragment)


def test_entity_actions_name_their_entities() -> None:
    rows = [
        {"order": 1},
        {"order": 2, "action": "create_entity"},
        {"order": 3, "action": "bind_entity_to_entity2", "entity": "Контакт"},
    ]
    found = errors_of(bpmsoft(role_rules=rows))
    assert {(e["field"], e["message"]) for e in found} == {
        ("role_rules[1].entity", "required for action 'create_entity'"),
        ("role_rules[2].entity2", "required for action 'bind_entity_to_entity2'"),
    }


def test_role_actions_are_the_ones_bpmsoft_offers() -> None:
    assert_refused(
        bpmsoft(role_rules=[{"order": 1}, {"order": 2, "action": "launch_rocket"}]),
        "role_rules[1].action",
        "go_to_row",
    )
    assert len(RoleAction) == 17
    assert RoleRule(order=5, action="go_to_row", value="7").action == "go_to_row"
    assert RoleRule(order=5, action="go_to_row", value="7").parsed_value().row == 7  # type: ignore[union-attr]


def test_role_rules_are_a_bpmsoft_feature() -> None:
    amo = {"kind": "amocrm", "url": "https://shop.amocrm.ru"}
    assert_refused(doc(crm=amo, role_rules=SEED_TABLE), "role_rules", "BPMSoft feature")
    valid(doc(role_rules=SEED_TABLE))


# Errors as a list ------------------------------------------------------------------------------------


def test_validation_errors_lists_every_field_error_with_its_path() -> None:
    document = doc(
        durations={"min_answered_seconds": "soon"},
        employees=[{"extension": "101", "crm_user_id": "1"}, {"extension": "x", "crm_user_id": "2"}],
        routing={"rules": [rule("r", kind="responsible", target="5")]},
        responsibles={"missed_in_group": {"enabled": True}},
        timezone="Nowhere/Special",
    )
    found = errors_of(document)
    assert [e["field"] for e in found] == [
        "timezone",
        "employees[1].extension",
        "durations.min_answered_seconds",
        "responsibles.missed_in_group.crm_user_id",
        "routing.rules[0].action.target",
    ]
    assert not any(e["message"].startswith(("Value error", "Assertion")) for e in found)


def test_cross_field_problems_are_all_reported_together() -> None:
    document = doc(
        employees=[*EMPLOYEES, {"extension": "101", "crm_user_id": "11"}],
        responsibles={"missed_in_ivr": {"enabled": True, "crm_user_id": "404"}, "save_all_calls_user": "9"},
        speech_analytics={"texts_enabled": True},
        recordings=False,
    )
    assert [e["field"] for e in errors_of(document)] == [
        "employees[3].extension",
        "responsibles.missed_in_ivr.crm_user_id",
        "responsibles.save_all_calls_user",
        "speech_analytics.texts_enabled",
    ]


def test_validation_errors_of_a_body_that_is_not_an_object() -> None:
    assert errors_of([1, 2]) == [
        {"field": "", "message": "Input should be a valid dictionary or instance of TenantSettings"}
    ]
    assert errors_of({}) == [{"field": "mango", "message": "Field required"}]


def test_invalid_settings_reads_well_in_plain_pydantic_output() -> None:
    with pytest.raises(ValidationError) as caught:
        TenantSettings.model_validate(doc(line_filter={"enabled": True}))
    assert "line_filter\n" in str(caught.value) and "lines: at least one line" in str(caught.value)
    assert str(InvalidSettings([("a.b", "bad"), ("", "worse")])) == "a.b: bad; worse"


# Examples and the generated reference ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["settings-bpmsoft.yaml", "settings-amocrm.yaml"])
def test_examples_are_valid_and_stable(name: str) -> None:
    settings = valid(yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8")))
    assert settings.crm is not None and name == f"settings-{settings.crm.kind}.yaml"
    assert settings.employees and settings.routing.rules
    dumped = settings.model_dump(mode="json")
    assert TenantSettings.model_validate(dumped).model_dump(mode="json") == dumped


def test_committed_docs_match_the_model() -> None:
    assert reference.main(["--check"]) == 0, f"docs are stale: run `{reference.COMMAND}`"


def test_check_fails_on_stale_docs_and_writing_fixes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert reference.main(["--check", "--docs", str(tmp_path)]) == 1
    assert reference.main(["--docs", str(tmp_path)]) == 0
    assert reference.main(["--check", "--docs", str(tmp_path)]) == 0
    (tmp_path / "settings.md").write_text("# edited by hand\n", encoding="utf-8")
    assert reference.main(["--check", "--docs", str(tmp_path)]) == 1
    assert "settings.md is out of date" in capsys.readouterr().err


def _fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for name, info in model.model_fields.items():
        found.append((f"{prefix}{name}", info.description or ""))
        annotation = info.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            for inner in (candidate, *getattr(candidate, "__args__", ())):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    found += _fields(inner, f"{prefix}{name}.")
    return found


def test_every_setting_is_described_with_its_russian_ui_name_and_documented() -> None:
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    fields = _fields(TenantUpdate)
    assert len(fields) > 100
    for path, description in fields:
        ui_name, _, notes = description.partition(" — ")
        assert re.search("[А-Яа-яЁё]", ui_name) and notes, f"{path}: {description!r}"
    documented = {
        path.replace("[]", "") for path in re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE)
    }
    assert {path for path, _ in fields} <= documented


def test_mango_connection_is_unchanged() -> None:
    mango = MangoConnection(api_key="  vpbxkey-0123456789 ", api_base_url="http://127.0.0.1:3001/vpbx")
    assert (mango.api_key, mango.api_base_url) == ("vpbxkey-0123456789", "http://127.0.0.1:3001/vpbx/")
    assert_refused(
        doc(mango={"api_key": "vpbxkey-0123456789", "api_base_url": "app.mango"}),
        "mango.api_base_url",
        "http(s)",
    )


def test_yellow_pages_is_refused_until_a_provider_is_configured() -> None:
    """Seed 000: «Если флаг "Использовать желтые страницы" включен, то ... приложение автоматически
    определит информацию о новом контакте по открытым источникам». The bridge has no such source: the
    flag is refused by name, in Russian and English, instead of being accepted and ignored."""
    from mango_bridge.settings.model import STORED

    assert_refused(doc(yellow_pages=True), "yellow_pages", "Использовать желтые страницы")
    assert_refused(doc(yellow_pages=True), "yellow_pages", "no yellow-pages provider is configured")
    assert_refused(doc(yellow_pages=True), "yellow_pages", "поставщик данных «Желтых страниц» не подключен")
    # A document saved before the rule still loads (ingest must not lock the tenant out).
    stored = TenantSettings.model_validate(doc(yellow_pages=True), context={STORED: True})
    assert stored.yellow_pages is True
