"""Calls, settings and CRM facts for the policy tests.

Calls are played from Mango scenarios (the bundled files, some with their employees swapped through
`vars`, and a few small stories written here) and folded by the real assembly, so the policy is
tested on aggregates shaped exactly like production ones. The tests at the bottom check that the
stories written here fold into the call a person would count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from mango_bridge.calls.assembly import assemble
from mango_bridge.calls.model import CallAggregate, CallTrackingView
from mango_bridge.mango.notifications import parse_notification
from mango_bridge.policy import Capabilities, CrmFacts, CrmUser, FoundEntity
from mango_bridge.settings.model import (
    CreateAction,
    EmployeeMapping,
    MangoConnection,
    RepeatAction,
    TenantSettings,
)
from sandbox.mango.player import Rendered, Scenario, load_scenario, render

BASE_TIME = 1_764_000_000  # 2025-11-24 19:00 MSK (16:00 UTC)

MAPPED = ("101", "102", "103", "104", "106", "200")
"""Employees with a CRM user `u<extension>`; 105, 108, 109 and 12 are not mapped. 200 is the supervisor
that the missed-in-IVR / missed-in-group settings name."""
SUPERVISOR = "u200"
FALLBACK = "u-fallback"

# amoCRM-like: contacts, companies, deals in pipelines, unsorted incoming leads.
PIPELINE_CRM = Capabilities(
    contact=True, company=True, deal=True, unsorted=True, tasks=True, call_tracking_fields=True
)
# BPMSoft-like: contacts, accounts, qualification leads.
LEAD_CRM = Capabilities(contact=True, company=True, lead=True, tasks=True, call_tracking_fields=True)
# Megaplan-like: clients (people / companies) and deals («процессы»).
PROCESS_CRM = Capabilities(contact=True, company=True, deal=True, tasks=True, call_tracking_fields=True)
# Omnidesk-like: users and cases; every call is filed under a user.
HELPDESK_CRM = Capabilities(contact=True, case=True, customer_for_every_call=True)
EVERYTHING = Capabilities(
    contact=True,
    company=True,
    lead=True,
    deal=True,
    unsorted=True,
    case=True,
    tasks=True,
    call_tracking_fields=True,
)

NEW_NUMBER = CrmFacts()


# --- calls ---------------------------------------------------------------------------------------


@dataclass
class Played:
    call: CallAggregate
    rendered: Rendered

    def leg(self, name: str) -> str:
        """The call_id the scenario's `@name` placeholder became."""
        return self.rendered.ids[name]


def story(text: str) -> Scenario:
    return Scenario.model_validate(yaml.safe_load(text))


def play(
    scenario: str | Scenario,
    entry: str = "entry",
    *,
    until: int | None = None,
    seed: int = 11,
    **variables: Any,
) -> Played:
    """A scenario folded into its aggregate; `until` stops the play at that second, before the summary."""
    loaded = load_scenario(scenario) if isinstance(scenario, str) else scenario
    if variables:
        loaded = loaded.model_copy(update={"vars": {**loaded.vars, **variables}})
    rendered = render(loaded, base_time=BASE_TIME, seed=seed)
    deliveries = [d for d in rendered.deliveries if d.entry == entry]
    if until is not None:
        deliveries = [d for d in deliveries if d.at <= BASE_TIME + until and d.suffix != "events/summary"]
    notifications = [parse_notification(d.suffix, d.json_text) for d in deliveries]
    return Played(assemble(rendered.entry_ids[entry], notifications), rendered)


def call_of(scenario: str | Scenario, entry: str = "entry", **variables: Any) -> CallAggregate:
    return play(scenario, entry, **variables).call


def with_tracking(call: CallAggregate, number: str = "74991112233", number_type: int = 1) -> CallAggregate:
    return call.model_copy(update={"call_tracking": CallTrackingView(number=number, type=number_type)})


OUTGOING_TRANSFER = story(
    """
name: outgoing-transfer
description: >
  Seed 002's example: the accountant (105) calls a client to check an order, then blind-transfers the
  client to the operator (101), who talks until the client hangs up.
vars:
  customer: "79035550011"
  line: "74951234567"
  first: "105"
  first_number: "sip:buh@demo.mangosip.ru"
  target: "101"
  target_number: "sip:petrov@demo.mangosip.ru"
x-parties:
  first: &first {extension: $first, number: $first_number}
  customer: &customer {number: $customer, line_number: $line}
  target: &target {extension: $target, number: $target_number}
  customer_moved: &customer_moved {number: $customer, taken_from_call_id: "@a"}
steps:
  - {t: 0, event: events/call, data: {call_id: "@a", call_state: Appeared, location: abonent, from: *first, to: *customer}}
  - {t: 9, event: events/call, data: {call_id: "@a", call_state: Connected, location: abonent, from: *first, to: *customer}}
  - {t: 9, event: events/recording, data: {recording_id: "@rec_first", recording_state: Started, call_id: "@a", extension: $first}}
  - {t: 60, event: events/call, data: {call_id: "@a", call_state: OnHold, location: abonent, from: *first, to: *customer}}
  - {t: 61, event: events/call, data: {call_id: "@b", call_state: Appeared, location: abonent, from: *first, to: *target}}
  - {t: 63, event: events/call, data: {call_id: "@a", call_state: Disconnected, location: abonent, from: *first, to: *customer, disconnect_reason: 1120}}
  - {t: 63, event: events/recording, data: {recording_id: "@rec_first", recording_state: Completed, call_id: "@a", extension: $first, completion_code: 1000, recipient: Cloud}}
  - {t: 63, event: events/call, data: {call_id: "@b", call_state: Appeared, location: abonent, transfer: blind, from: *customer_moved, to: *target}}
  - {t: 70, event: events/call, data: {call_id: "@b", call_state: Connected, location: abonent, transfer: blind, from: *customer_moved, to: *target}}
  - {t: 70, event: events/recording, data: {recording_id: "@rec_second", recording_state: Started, call_id: "@b", extension: $target}}
  - {t: 150, event: events/call, data: {call_id: "@b", call_state: Disconnected, location: abonent, transfer: blind, from: *customer_moved, to: *target, disconnect_reason: 1110}}
  - {t: 150, event: events/recording, data: {recording_id: "@rec_second", recording_state: Completed, call_id: "@b", extension: $target, completion_code: 1000, recipient: Cloud}}
  - t: 151
    event: events/summary
    data: {call_direction: 2, from: *first, to: {number: $customer}, line_number: $line,
           create_time: T, forward_time: T, talk_time: T+9, end_time: T+150, entry_result: 1, disconnect_reason: 1110}
"""
)

SEVERAL_DEVICES = story(
    """
name: several-devices
description: >
  Employee 101 is rung on the softphone and the mobile at once. In "@answered" the mobile picks up; in
  "@missed" neither does and the customer hangs up.
vars:
  first_caller: "79160000001"
  second_caller: "79160000002"
  line: "74951234567"
  op: "101"
x-parties:
  first_caller: &first_caller {number: $first_caller}
  second_caller: &second_caller {number: $second_caller}
  softphone: &softphone {extension: $op, number: "sip:petrov@demo.mangosip.ru", line_number: $line}
  mobile: &mobile {extension: $op, number: "79261110101", line_number: $line}
steps:
  - {t: 0, entry: "@answered", event: events/call, data: {call_id: "@soft", call_state: Appeared, location: abonent, from: *first_caller, to: *softphone}}
  - {t: 0, entry: "@answered", event: events/call, data: {call_id: "@mobile", call_state: Appeared, location: abonent, from: *first_caller, to: *mobile}}
  - {t: 6, entry: "@answered", event: events/call, data: {call_id: "@mobile", call_state: Connected, location: abonent, from: *first_caller, to: *mobile}}
  - {t: 6, entry: "@answered", event: events/call, data: {call_id: "@soft", call_state: Disconnected, location: abonent, from: *first_caller, to: *softphone, disconnect_reason: 1100}}
  - {t: 66, entry: "@answered", event: events/call, data: {call_id: "@mobile", call_state: Disconnected, location: abonent, from: *first_caller, to: *mobile, disconnect_reason: 1110}}
  - t: 67
    entry: "@answered"
    event: events/summary
    data: {call_direction: 1, from: *first_caller, to: {extension: $op, number: "79261110101"}, line_number: $line,
           create_time: T, forward_time: T, talk_time: T+6, end_time: T+66, entry_result: 1, disconnect_reason: 1110}
  - {t: 0, entry: "@missed", event: events/call, data: {call_id: "@soft2", call_state: Appeared, location: abonent, from: *second_caller, to: *softphone}}
  - {t: 0, entry: "@missed", event: events/call, data: {call_id: "@mobile2", call_state: Appeared, location: abonent, from: *second_caller, to: *mobile}}
  - {t: 30, entry: "@missed", event: events/call, data: {call_id: "@soft2", call_state: Disconnected, location: abonent, from: *second_caller, to: *softphone, disconnect_reason: 1110}}
  - {t: 30, entry: "@missed", event: events/call, data: {call_id: "@mobile2", call_state: Disconnected, location: abonent, from: *second_caller, to: *mobile, disconnect_reason: 1110}}
  - t: 31
    entry: "@missed"
    event: events/summary
    data: {call_direction: 1, from: *second_caller, to: {extension: $op}, line_number: $line,
           create_time: T, forward_time: 0, talk_time: 0, end_time: T+30, entry_result: 0, disconnect_reason: 1110}
"""
)


# --- settings ------------------------------------------------------------------------------------


def tenant(
    *, mapped: tuple[str, ...] = MAPPED, ignored: tuple[str, ...] = (), **fields: Any
) -> TenantSettings:
    """Valid settings with the standard staff; every other field as given."""
    employees = [
        EmployeeMapping(extension=ext, crm_user_id=f"u{ext}") for ext in mapped if ext not in ignored
    ]
    employees += [EmployeeMapping(extension=ext, crm_user_id=f"u{ext}", ignore_calls=True) for ext in ignored]
    return TenantSettings(mango=MangoConnection(api_key="demo-key-0001"), employees=employees, **fields)


def creating(
    *kinds: str,
    need_type: str = "need-answered",
    stage: str = "stage-answered",
    program: str = "sales",
    status: str = "first-contact",
) -> CreateAction:
    """One «от нового клиента» case; lead and deal details are filled in when they are asked for."""
    return CreateAction(
        create=list(kinds),
        lead_need_type=need_type if "lead" in kinds else None,
        lead_stage=stage if "lead" in kinds else None,
        deal_program=program if "deal" in kinds or "unsorted" in kinds else None,
        deal_status=status if "deal" in kinds else None,
    )


def repeat(
    create: str = "nothing",
    when: str = "always",
    *,
    need_type: str = "need-repeat",
    stage: str = "stage-repeat",
    program: str = "sales",
    status: str = "repeat-contact",
) -> RepeatAction:
    return RepeatAction(
        create=create,
        when=when,
        lead_need_type=need_type if create == "lead" else None,
        lead_stage=stage if create == "lead" else None,
        deal_program=program if create == "deal" else None,
        deal_status=status if create == "deal" else None,
    )


# --- CRM facts -----------------------------------------------------------------------------------

USERS = (
    *(CrmUser(id=f"u{ext}") for ext in MAPPED),
    CrmUser(id="u-blocked", blocked=True),
    CrmUser(id="u-deleted", deleted=True),
    CrmUser(id="u-client", is_client=True),
    CrmUser(id="u-owner"),
    CrmUser(id="u-second-owner"),
)


def known(*entities: FoundEntity) -> CrmFacts:
    return CrmFacts(found=entities, users=USERS)


def contact(entity_id: str = "c-1", *responsibles: str, **fields: Any) -> FoundEntity:
    return FoundEntity(
        kind="contact", id=entity_id, name="Иванов", responsible_user_ids=responsibles, **fields
    )


# --- the stories above fold into the calls a person would count ------------------------------------


def test_outgoing_transfer_story_is_an_outgoing_call_talked_by_the_accountant_then_the_operator() -> None:
    played = play(OUTGOING_TRANSFER)
    call = played.call
    assert (call.direction, call.answered, call.talk_seconds) == ("outgoing", True, 141)
    assert call.talked_extensions == ["105", "101"]
    assert call.callee.e164 == "+79035550011"
    legs = {leg.call_id: leg for leg in call.legs}
    assert legs[played.leg("b")].transferred_from == played.leg("a")
    assert legs[played.leg("b")].from_party.number == "79035550011"


def test_several_devices_story_rings_one_employee_twice() -> None:
    answered = call_of(SEVERAL_DEVICES, "answered")
    missed = call_of(SEVERAL_DEVICES, "missed")
    assert [leg.extension for leg in answered.legs] == ["101", "101"]
    assert answered.talked_extensions == ["101"]
    assert (missed.answered, [leg.extension for leg in missed.legs]) == (False, ["101", "101"])


def test_scenario_vars_swap_the_employees_of_a_bundled_story() -> None:
    call = call_of("blind-transfer", first="105", target="101")
    assert call.talked_extensions == ["105", "101"]


def test_stopping_a_play_early_gives_a_call_in_progress() -> None:
    call = play("incoming-answered", until=20).call
    assert (call.status, call.answered) == ("in_progress", True)


SERIAL_GROUP_MISSED = story(
    """
name: serial-group-missed
description: >
  The support group 510 rings its operators one after another: 104 for 20 s, then 102 for 20 s; nobody
  answers and the customer gives up in the queue.
vars:
  caller: "79857770000"
  line: "74951234567"
  group: "510"
  first: "104"
  second: "102"
x-parties:
  customer: &customer {number: $caller}
  group: &group {line_number: $line, acd_group: $group}
  from_queue: &from_queue {number: $caller, taken_from_call_id: "@queue"}
  first: &first {extension: $first, number: "sip:first@demo.mangosip.ru", line_number: $line, acd_group: $group}
  second: &second {extension: $second, number: "sip:second@demo.mangosip.ru", line_number: $line, acd_group: $group}
steps:
  - {t: 0, event: events/call, data: {call_id: "@queue", call_state: Appeared, location: queue, from: *customer, to: *group}}
  - {t: 0, event: events/call, data: {call_id: "@first", call_state: Appeared, location: abonent, from: *from_queue, to: *first}}
  - {t: 20, event: events/call, data: {call_id: "@first", call_state: Disconnected, location: abonent, from: *from_queue, to: *first, disconnect_reason: 1111}}
  - {t: 20, event: events/call, data: {call_id: "@second", call_state: Appeared, location: abonent, from: *from_queue, to: *second}}
  - {t: 40, event: events/call, data: {call_id: "@second", call_state: Disconnected, location: abonent, from: *from_queue, to: *second, disconnect_reason: 1111}}
  - {t: 44, event: events/call, data: {call_id: "@queue", call_state: Disconnected, location: queue, from: *customer, to: *group, disconnect_reason: 1110}}
  - t: 45
    event: events/summary
    data: {call_direction: 1, from: *customer, to: {extension: $group}, line_number: $line,
           create_time: T, forward_time: 0, talk_time: 0, end_time: T+44, entry_result: 0, disconnect_reason: 1110}
"""
)


def test_serial_group_story_rings_two_operators_in_turn_and_nobody_answers() -> None:
    call = call_of(SERIAL_GROUP_MISSED)
    assert call.answered is False
    assert [leg.extension for leg in call.legs if leg.location == "abonent"] == ["104", "102"]
