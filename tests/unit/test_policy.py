"""The call-processing policy, behaviour by behaviour (F2–F18 of docs/features.md).

Each test plays a Mango scenario, decides with the given settings and CRM facts, and asserts what the
CRM would be asked to do, written the way the seeds tell it: "create contact → u101" is a contact
created with CRM user u101 as its responsible; "log incoming answered: 105 → u-fallback
(save_all_calls)" is a call record of employee 105's conversation bound to the «Сохранять все звонки»
user.
"""

from __future__ import annotations

from typing import Any

import pytest

from mango_bridge.calls.model import CallAggregate
from mango_bridge.policy import (
    Capabilities,
    CreateCompany,
    CreateContact,
    CreateDeal,
    CreateLead,
    CreateUnsortedLead,
    CrmFacts,
    Decision,
    FoundEntity,
    LogCall,
    SaveCallTracking,
    UpdateResponsible,
    decide,
)
from mango_bridge.settings.model import (
    FallbackResponsible,
    LineFilter,
    NewNumberPolicy,
    RepeatCallPolicy,
    Responsibles,
    TenantSettings,
)
from tests.unit.test_policy_builders import (
    EVERYTHING,
    FALLBACK,
    HELPDESK_CRM,
    LEAD_CRM,
    NEW_NUMBER,
    OUTGOING_TRANSFER,
    PIPELINE_CRM,
    PROCESS_CRM,
    SERIAL_GROUP_MISSED,
    SEVERAL_DEVICES,
    SUPERVISOR,
    call_of,
    contact,
    creating,
    known,
    play,
    repeat,
    tenant,
    with_tracking,
)

LINE = "74951234567"


def asked(decision: Decision) -> list[str]:
    """The intents as a person would read them off the CRM."""
    lines = []
    for intent in decision.intents:
        if isinstance(intent, LogCall):
            who = intent.employee_extension or "-"
            lines.append(
                f"log {intent.direction} {intent.result}: {who} → {intent.responsible_user_id} ({intent.bound_by})"
            )
        elif isinstance(intent, UpdateResponsible):
            lines.append(f"update responsible → {intent.responsible_user_id}")
        elif isinstance(intent, SaveCallTracking):
            lines.append(f"save call tracking ({intent.number_type})")
        else:
            whom = getattr(intent, "responsible_user_id", None)
            lines.append(f"{intent.kind.replace('_', ' ')}" + (f" → {whom}" if whom else ""))
    return lines


def run(
    call: CallAggregate,
    settings: TenantSettings | None = None,
    facts: CrmFacts = NEW_NUMBER,
    capabilities: Capabilities = EVERYTHING,
) -> Decision:
    return decide(call, settings or tenant(), facts, capabilities)


def new_number(**cases: Any) -> NewNumberPolicy:
    return NewNumberPolicy(**cases)


def responsibles(**fields: Any) -> Responsibles:
    return Responsibles(**fields)


def on(user: str = SUPERVISOR) -> FallbackResponsible:
    return FallbackResponsible(enabled=True, crm_user_id=user)


SAVE_ALL = responsibles(save_all_calls_user=FALLBACK)


# --- F2: one record per conversation -------------------------------------------------------------

F2_TABLE = [
    pytest.param(
        "queue-parallel",
        {},
        ["log incoming answered: 102 → u102 (employee)"],
        [128],
        id="hunting group rings three, one answers: one record",
    ),
    pytest.param(
        "queue-serial",
        {"second": "102"},
        ["log incoming answered: 102 → u102 (employee)"],
        [62],
        id="serial queue, second operator answers: one record",
    ),
    pytest.param(
        "blind-transfer",
        {},
        ["log incoming answered: 101 → u101 (employee)", "log incoming answered: 103 → u103 (employee)"],
        [41, 70],
        id="blind transfer: a record per employee who talked",
    ),
    pytest.param(
        "consultative-transfer",
        {},
        ["log incoming answered: 101 → u101 (employee)", "log incoming answered: 102 → u102 (employee)"],
        [105, 78],
        id="consultative transfer: consultation time is the first employee's",
    ),
    pytest.param(
        "blind-transfer-return",
        {},
        ["log incoming answered: 104 → u104 (employee)"],
        [144],
        id="transfer not answered and returned: still one conversation",
    ),
    pytest.param(
        "callback",
        {"op": "104"},
        ["log outgoing reached: 104 → u104 (employee)"],
        [180],
        id="callback rings the employee first: one outgoing record",
    ),
]


@pytest.mark.parametrize(("scenario", "variables", "expected", "durations"), F2_TABLE)
def test_one_call_record_per_employee_conversation(
    scenario: str, variables: dict[str, str], expected: list[str], durations: list[int]
) -> None:
    decision = run(call_of(scenario, **variables))
    assert asked(decision) == expected
    assert [log.duration_seconds for log in decision.of(LogCall)] == durations


def test_hunting_group_record_accounts_for_every_leg_it_rang() -> None:
    played = play("queue-parallel")
    (log,) = run(played.call).of(LogCall)
    assert log.talk_leg_ids == (played.leg("op_b"),)
    assert sorted(log.leg_ids) == sorted(leg.call_id for leg in played.call.legs)


def test_employee_rung_on_several_devices_is_one_record() -> None:
    played = play(SEVERAL_DEVICES, "answered")
    (log,) = run(played.call).of(LogCall)
    assert (log.employee_extension, log.talk_leg_ids) == ("101", (played.leg("mobile"),))
    assert set(log.leg_ids) == {played.leg("mobile"), played.leg("soft")}


def test_missed_call_to_several_devices_of_one_employee_is_one_record() -> None:
    decision = run(call_of(SEVERAL_DEVICES, "missed"))
    assert asked(decision) == ["log incoming missed: 101 → u101 (employee)"]


def test_every_transferred_legs_recording_stays_with_its_employees_record() -> None:
    played = play("consultative-transfer")
    first, second = run(played.call).of(LogCall)
    assert first.recording_ids == (played.leg("rec_first"),)  # moved onto the consultation leg, still 101's
    assert second.recording_ids == (played.leg("rec_second"),)


def test_recording_that_moved_with_its_employee_stays_with_that_conversation_when_they_talk_twice() -> None:
    """101 consults 102 and hands over (101's recording continues on 102's leg), then 102 hands back."""
    played = play("consultative-transfer")
    call = played.call
    back = call.legs[-1].model_copy(
        update={
            "call_id": "leg-back",
            "extension": "101",
            "to_party": call.legs[0].to_party,
            "transferred_from": played.leg("b"),
            "appeared_at": call.legs[-1].ended_at,
            "connected_at": (call.legs[-1].ended_at or 0) + 4,
            "ended_at": (call.legs[-1].ended_at or 0) + 60,
        }
    )
    later = call.recordings[-1].model_copy(
        update={
            "recording_id": "rec-back",
            "call_id": "leg-back",
            "extension": "101",
            "started_at": back.connected_at,
        }
    )
    call = call.model_copy(update={"legs": [*call.legs, back], "recordings": [*call.recordings, later]})
    first, second, third = run(call).of(LogCall)
    assert [log.employee_extension for log in (first, second, third)] == ["101", "102", "101"]
    assert (first.recording_ids, third.recording_ids) == ((played.leg("rec_first"),), ("rec-back",))


def test_returned_transfer_record_keeps_both_recordings() -> None:
    played = play("blind-transfer-return")
    (log,) = run(played.call).of(LogCall)
    assert sorted(log.recording_ids) == sorted([played.leg("rec_before"), played.leg("rec_after")])


def test_recordings_are_not_attached_when_links_are_switched_off() -> None:
    (log,) = run(call_of("incoming-answered"), tenant(recordings=False)).of(LogCall)
    assert log.recording_ids == ()


def test_callback_record_leaves_out_the_leg_that_rang_the_employee() -> None:
    played = play("callback", op="104")
    (log,) = run(played.call).of(LogCall)
    assert log.talk_leg_ids == (played.leg("dial"),)
    assert log.phone == "+79037654321"


# --- F3: answered or missed by the minimum talk time ---------------------------------------------

F3_TABLE = [
    pytest.param("short-call", {"min_answered_seconds": 5}, "missed", id="4 s incoming under a 5 s minimum"),
    pytest.param("short-call", {"min_answered_seconds": 4}, "answered", id="4 s incoming at a 4 s minimum"),
    pytest.param("outgoing", {"min_reached_seconds": 76}, "not_reached", id="75 s outgoing under 76 s"),
    pytest.param("outgoing", {"min_reached_seconds": 75}, "reached", id="75 s outgoing at 75 s"),
]


@pytest.mark.parametrize(("scenario", "durations", "outcome"), F3_TABLE)
def test_call_result_follows_the_minimum_durations(
    scenario: str, durations: dict[str, int], outcome: str
) -> None:
    decision = run(call_of(scenario), tenant(durations=durations))
    assert decision.outcome == outcome
    assert [log.result for log in decision.of(LogCall)] == [outcome]


def test_too_short_incoming_call_is_missed_and_creates_per_the_missed_settings() -> None:
    settings = tenant(
        durations={"min_answered_seconds": 5},
        new_number=new_number(
            answered_incoming=creating("contact", "deal"), missed_incoming=creating("contact")
        ),
    )
    decision = run(call_of("short-call"), settings, capabilities=PROCESS_CRM)
    assert asked(decision) == ["create contact → u103", "log incoming missed: 103 → u103 (employee)"]
    assert (
        "talked 4 s, under «Мин. длительность для успешно принятых» of 5 s" in decision.of(LogCall)[0].reason
    )
    assert decision.of(CreateContact)[0].name.endswith("пропущенный вызов)")


# --- F4: employee mapping and «Сохранять все звонки» (seed 002) -----------------------------------


def test_unmapped_employee_call_is_not_saved_without_save_all_calls() -> None:
    decision = run(
        call_of("dtmf-route"), tenant(new_number=new_number(answered_incoming=creating("contact")))
    )
    assert decision.intents == []
    assert decision.skipped == [
        "employee 12 is not mapped and «Сохранять все звонки» is off: their conversation is not saved"
    ]


def test_save_all_calls_incoming_call_of_unmapped_employee_binds_to_fallback() -> None:
    settings = tenant(responsibles=SAVE_ALL, new_number=new_number(answered_incoming=creating("contact")))
    decision = run(call_of("dtmf-route"), settings)
    assert asked(decision) == [
        "create contact → u-fallback",
        "log incoming answered: 12 → u-fallback (save_all_calls)",
    ]


def test_save_all_calls_outgoing_call_of_unmapped_employee_binds_to_fallback() -> None:
    decision = run(call_of("outgoing", op="105"), tenant(responsibles=SAVE_ALL))
    assert asked(decision) == ["log outgoing reached: 105 → u-fallback (save_all_calls)"]


def test_save_all_calls_missed_group_call_ending_on_unmapped_employee_binds_to_fallback() -> None:
    call = call_of(SERIAL_GROUP_MISSED, first="105", second="108")
    settings = tenant(responsibles=SAVE_ALL, new_number=new_number(missed_incoming=creating("contact")))
    decision = run(call, settings)
    assert asked(decision) == [
        "create contact → u-fallback",
        "log incoming missed: 108 → u-fallback (save_all_calls)",
    ]


def test_missed_group_call_ending_on_unmapped_employee_after_a_mapped_one_binds_to_fallback() -> None:
    """Seed 002: «Если пропущенный звонок в группу завершился на несопоставленном сотруднике, и при этом
    выключена настройка «Указывать ответственного при пропущенных звонках в группу», то звонок будет
    привязан к сотруднику, указанному в настройке «Сохранять все звонки»». The group rang mapped 101
    first, then unmapped 105, where the call ended: the fallback user, not 101."""
    call = call_of(SERIAL_GROUP_MISSED, first="101", second="105")
    assert asked(run(call, tenant(responsibles=SAVE_ALL))) == [
        "log incoming missed: 105 → u-fallback (save_all_calls)"
    ]
    # «Сохранять все звонки» off: the seed does not apply, the first mapped employee it reached keeps it.
    assert asked(run(call, tenant())) == ["log incoming missed: 101 → u101 (employee)"]


def test_save_all_calls_gives_way_to_the_group_responsible_for_missed_group_calls() -> None:
    call = call_of(SERIAL_GROUP_MISSED, first="105", second="108")
    settings = tenant(responsibles=responsibles(save_all_calls_user=FALLBACK, missed_in_group=on()))
    assert asked(run(call, settings)) == ["log incoming missed: - → u200 (missed_in_group)"]


def test_save_all_calls_transfer_unmapped_to_mapped_binds_first_leg_to_fallback() -> None:
    settings = tenant(responsibles=SAVE_ALL, new_number=new_number(answered_incoming=creating("contact")))
    decision = run(call_of("blind-transfer", first="105", target="101"), settings)
    assert asked(decision) == [
        "create contact → u101",
        "log incoming answered: 105 → u-fallback (save_all_calls)",
        "log incoming answered: 101 → u101 (employee)",
    ]


def test_save_all_calls_outgoing_transfer_unmapped_to_mapped_creates_per_incoming_settings() -> None:
    """Seed 002's accountant calls a client and transfers them to the operator."""
    settings = tenant(
        responsibles=SAVE_ALL,
        new_number=new_number(answered_incoming=creating("contact", "deal"), outgoing=creating()),
    )
    played = play(OUTGOING_TRANSFER)
    decision = run(played.call, settings, capabilities=PIPELINE_CRM)
    assert asked(decision) == [
        "create contact → u101",
        "create deal → u101",
        "log outgoing reached: 105 → u-fallback (save_all_calls)",
        "log incoming answered: 101 → u101 (employee)",
    ]
    accountant, operator = decision.of(LogCall)
    assert accountant.recording_ids == (played.leg("rec_first"),)
    assert operator.recording_ids == (played.leg("rec_second"),)
    assert decision.of(CreateContact)[0].name.endswith("входящий вызов)")


def test_save_all_calls_transfer_mapped_to_unmapped_binds_second_leg_to_fallback() -> None:
    settings = tenant(responsibles=SAVE_ALL, new_number=new_number(answered_incoming=creating("contact")))
    decision = run(call_of("blind-transfer", first="101", target="105"), settings)
    assert asked(decision) == [
        "create contact → u101",
        "log incoming answered: 101 → u101 (employee)",
        "log incoming answered: 105 → u-fallback (save_all_calls)",
    ]


def test_transfer_to_unmapped_employee_without_save_all_keeps_only_the_mapped_conversation() -> None:
    decision = run(call_of("blind-transfer", first="101", target="105"))
    assert asked(decision) == ["log incoming answered: 101 → u101 (employee)"]
    assert decision.skipped == [
        "employee 105 is not mapped and «Сохранять все звонки» is off: their conversation is not saved"
    ]


def test_ignored_employee_calls_are_dropped_even_with_save_all_calls() -> None:
    settings = tenant(
        ignored=("107",), responsibles=SAVE_ALL, new_number=new_number(answered_incoming=creating("contact"))
    )
    decision = run(call_of("incoming-answered", op="107"), settings)
    assert decision.intents == []
    assert decision.skipped == [
        "employee 107 is set to «Игнорировать звонки этого оператора»: their conversation is not saved"
    ]


def test_transfer_to_ignored_employee_keeps_the_first_conversation_and_its_recordings() -> None:
    played = play("consultative-transfer", second="107")
    decision = run(played.call, tenant(ignored=("107",)))
    (log,) = decision.of(LogCall)
    assert (log.employee_extension, log.recording_ids) == ("101", (played.leg("rec_first"),))


def test_missed_call_that_only_reached_ignored_employees_is_dropped() -> None:
    settings = tenant(ignored=("102",), new_number=new_number(missed_incoming=creating("contact")))
    decision = run(call_of("two-calls-at-once", "second"), settings)
    assert decision.intents == []
    assert "Игнорировать звонки этого оператора" in decision.skipped[0]


# --- F5: missed in the IVR -----------------------------------------------------------------------


def test_missed_in_ivr_is_not_recorded_when_the_setting_is_off() -> None:
    switched_off = FallbackResponsible(enabled=False, crm_user_id=SUPERVISOR)  # the user is kept when off
    settings = tenant(
        responsibles=responsibles(missed_in_ivr=switched_off),
        new_number=new_number(missed_incoming=creating("contact")),
    )
    decision = run(call_of("missed-ivr"), settings)
    assert decision.intents == []
    assert decision.skipped == [
        "missed before reaching any employee and «Фиксировать пропущенные в IVR» is off"
    ]


def test_missed_in_ivr_is_recorded_with_its_responsible_and_creates_the_new_client() -> None:
    settings = tenant(
        responsibles=responsibles(missed_in_ivr=on()),
        new_number=new_number(missed_incoming=creating("contact")),
    )
    decision = run(call_of("missed-ivr"), settings)
    assert asked(decision) == ["create contact → u200", "log incoming missed: - → u200 (missed_in_ivr)"]


def test_missed_in_ivr_from_a_known_client_is_filed_on_the_client() -> None:
    decision = run(
        call_of("missed-ivr"), tenant(responsibles=responsibles(missed_in_ivr=on())), known(contact())
    )
    (log,) = decision.of(LogCall)
    assert (log.customer.id if log.customer else None, log.responsible_user_id) == ("c-1", SUPERVISOR)


# --- F6: missed in a group -----------------------------------------------------------------------


def test_missed_group_call_from_new_number_uses_group_responsible() -> None:
    settings = tenant(
        responsibles=responsibles(missed_in_group=on()),
        new_number=new_number(missed_incoming=creating("contact", "deal")),
    )
    decision = run(call_of("missed-group"), settings, capabilities=PROCESS_CRM)
    assert asked(decision) == [
        "create contact → u200",
        "create deal → u200",
        "log incoming missed: - → u200 (missed_in_group)",
    ]


def test_missed_group_call_without_group_responsible_goes_to_the_first_employee_it_was_distributed_to() -> (
    None
):
    settings = tenant(new_number=new_number(missed_incoming=creating("contact")))
    decision = run(call_of(SERIAL_GROUP_MISSED), settings)
    assert asked(decision) == ["create contact → u104", "log incoming missed: 104 → u104 (employee)"]


def test_missed_group_call_passes_over_unmapped_employees_to_the_first_mapped_one() -> None:
    decision = run(call_of(SERIAL_GROUP_MISSED, first="105", second="102"))
    assert asked(decision) == ["log incoming missed: 102 → u102 (employee)"]


def test_simultaneously_rung_group_picks_the_same_first_employee_on_every_replay() -> None:
    """Leg ids differ on every play; the first employee of a parallel ring must not."""
    seen = {tuple(asked(run(play("missed-group", seed=seed).call))) for seed in range(8)}
    assert seen == {("log incoming missed: 101 → u101 (employee)",)}


def test_group_responsible_does_not_apply_to_a_call_put_through_to_one_employee() -> None:
    settings = tenant(responsibles=responsibles(missed_in_group=on()))
    decision = run(call_of("two-calls-at-once", "second"), settings)
    assert asked(decision) == ["log incoming missed: 102 → u102 (employee)"]


# --- F7: the responsible of a client created from a transferred call ------------------------------


def test_client_created_from_a_transferred_call_belongs_to_the_first_handler() -> None:
    settings = tenant(new_number=new_number(answered_incoming=creating("contact")))
    decision = run(call_of("consultative-transfer"), settings)
    assert asked(decision)[0] == "create contact → u101"
    assert decision.of(UpdateResponsible) == []


def test_update_on_transfer_passes_the_created_client_to_the_last_handler() -> None:
    settings = tenant(
        new_number=new_number(answered_incoming=creating("contact", "company")),
        responsibles=responsibles(update_on_transfer=True),
    )
    decision = run(call_of("consultative-transfer"), settings)
    assert asked(decision)[:3] == [
        "create contact → u101",
        "create company → u101",
        "update responsible → u102",
    ]
    (update,) = decision.of(UpdateResponsible)
    assert update.targets == ("create_contact", "create_company")
    assert "«Обновлять ответственного при переводах входящих вызовов»" in update.reason


def test_update_on_transfer_changes_nothing_when_one_employee_handled_the_call() -> None:
    settings = tenant(
        new_number=new_number(answered_incoming=creating("contact")),
        responsibles=responsibles(update_on_transfer=True),
    )
    assert run(call_of("incoming-answered"), settings).of(UpdateResponsible) == []


def test_update_on_transfer_keeps_the_client_with_a_mapped_employee_when_the_last_one_is_unmapped() -> None:
    settings = tenant(
        new_number=new_number(answered_incoming=creating("contact")),
        responsibles=responsibles(update_on_transfer=True, save_all_calls_user=FALLBACK),
    )
    decision = run(call_of("blind-transfer", first="101", target="105"), settings)
    assert decision.of(UpdateResponsible) == []


def test_client_is_created_as_soon_as_the_call_is_answered() -> None:
    settings = tenant(new_number=new_number(answered_incoming=creating("contact")))
    early = run(play("incoming-answered", until=20).call, settings)
    final = run(call_of("incoming-answered"), settings)
    assert asked(early) == ["create contact → u101"]
    assert early.of(CreateContact) == final.of(CreateContact)  # same key, same fields: created once
    assert early.skipped[0].startswith("call in progress")


def test_call_in_progress_waits_for_the_end_when_a_minimum_talk_time_is_set() -> None:
    settings = tenant(
        new_number=new_number(answered_incoming=creating("contact")), durations={"min_answered_seconds": 10}
    )
    early = run(play("incoming-answered", until=20).call, settings)
    assert (early.intents, early.skipped) == ([], ["call in progress: it is recorded when it ends"])


# --- F8: BPMSoft's «От нового клиента» multi-select -------------------------------------------------


def test_new_number_answered_creates_every_selected_entity_with_the_phone() -> None:
    settings = tenant(new_number=new_number(answered_incoming=creating("contact", "company", "lead")))
    decision = run(call_of("incoming-answered"), settings, capabilities=LEAD_CRM)
    assert asked(decision) == [
        "create contact → u101",
        "create company → u101",
        "create lead → u101",
        "log incoming answered: 101 → u101 (employee)",
    ]
    company, lead, log = decision.of(CreateCompany)[0], decision.of(CreateLead)[0], decision.of(LogCall)[0]
    assert {c.phone for c in (decision.of(CreateContact)[0], company, lead)} == {"+79161234567"}
    assert company.contact_key == "create_contact"
    assert (lead.need_type, lead.stage, lead.related_keys) == (
        "need-answered",
        "stage-answered",
        ("create_contact", "create_company"),
    )
    assert log.related_keys == ("create_contact", "create_company", "create_lead")
    assert decision.of(CreateContact)[0].reason == (
        "«От нового клиента» → create contact (answered incoming call from a new number); "
        "responsible: employee 101 (CRM user u101)"
    )


def test_new_number_missed_lead_uses_the_need_type_and_stage_for_missed_calls() -> None:
    settings = tenant(
        new_number=new_number(
            answered_incoming=creating("lead"),
            missed_incoming=creating("lead", need_type="need-missed", stage="stage-missed"),
        )
    )
    (lead,) = run(call_of("two-calls-at-once", "second"), settings, capabilities=LEAD_CRM).of(CreateLead)
    assert (lead.need_type, lead.stage, lead.responsible_user_id) == ("need-missed", "stage-missed", "u102")


# --- F9: Megaplan's client and «процесс» -----------------------------------------------------------


def test_answered_new_number_creates_client_and_deal_in_the_chosen_program_and_status() -> None:
    settings = tenant(
        new_number=new_number(answered_incoming=creating("contact", "deal", program="support", status="new"))
    )
    decision = run(call_of("incoming-answered"), settings, capabilities=PROCESS_CRM)
    (deal,) = decision.of(CreateDeal)
    assert (deal.program, deal.status, deal.responsible_user_id, deal.related_keys) == (
        "support",
        "new",
        "u101",
        ("create_contact",),
    )


NAME_TABLE = [
    pytest.param(
        "incoming-answered", "answered_incoming", "Новый (19:00 24.11.2025, входящий вызов)", id="answered"
    ),
    pytest.param(
        "missed-group", "missed_incoming", "Новый (19:00 24.11.2025, пропущенный вызов)", id="missed"
    ),
    pytest.param("outgoing", "outgoing", "Новый (19:00 24.11.2025, исходящий вызов)", id="outgoing"),
]


@pytest.mark.parametrize(("scenario", "case", "name"), NAME_TABLE)
def test_new_client_is_named_after_the_call_in_the_tenants_time(scenario: str, case: str, name: str) -> None:
    settings = tenant(new_number=new_number(**{case: creating("contact")}))
    assert run(call_of(scenario), settings).of(CreateContact)[0].name == name


def test_new_client_name_follows_the_tenants_time_zone() -> None:
    settings = tenant(
        timezone="Asia/Yekaterinburg", new_number=new_number(answered_incoming=creating("contact"))
    )
    assert run(call_of("incoming-answered"), settings).of(CreateContact)[0].name == (
        "Новый (21:00 24.11.2025, входящий вызов)"
    )


def test_outgoing_call_to_a_new_number_creates_the_client_with_the_caller_responsible() -> None:
    settings = tenant(new_number=new_number(outgoing=creating("contact")))
    decision = run(call_of("outgoing"), settings, capabilities=PROCESS_CRM)
    assert asked(decision) == ["create contact → u106", "log outgoing reached: 106 → u106 (employee)"]
    assert decision.of(CreateContact)[0].phone == "+74955404444"


def test_unanswered_outgoing_call_to_a_new_number_still_creates_the_client() -> None:
    settings = tenant(
        new_number=new_number(outgoing=creating("contact")), durations={"min_reached_seconds": 600}
    )
    decision = run(call_of("outgoing"), settings, capabilities=PROCESS_CRM)
    assert asked(decision) == ["create contact → u106", "log outgoing not_reached: 106 → u106 (employee)"]


def test_new_number_with_nothing_to_create_only_logs_the_call() -> None:
    decision = run(call_of("incoming-answered"), tenant(), capabilities=PROCESS_CRM)
    assert asked(decision) == ["log incoming answered: 101 → u101 (employee)"]
    assert decision.of(LogCall)[0].customer is None


# --- F10: amoCRM per case: nothing / contact / contact + deal / unsorted ----------------------------

F10_TABLE = [
    pytest.param("incoming-answered", "answered_incoming", (), [], id="answered: nothing"),
    pytest.param(
        "incoming-answered",
        "answered_incoming",
        ("contact",),
        ["create contact → u101"],
        id="answered: contact",
    ),
    pytest.param(
        "incoming-answered",
        "answered_incoming",
        ("contact", "deal"),
        ["create contact → u101", "create deal → u101"],
        id="answered: contact + deal",
    ),
    pytest.param(
        "incoming-answered",
        "answered_incoming",
        ("unsorted",),
        ["create unsorted → u101"],
        id="answered: unsorted",
    ),
    pytest.param(
        "two-calls-at-once",
        "missed_incoming",
        ("unsorted",),
        ["create unsorted → u102"],
        id="missed: unsorted",
    ),
    pytest.param(
        "outgoing",
        "outgoing",
        ("contact", "deal"),
        ["create contact → u106", "create deal → u106"],
        id="outgoing: contact + deal",
    ),
]


@pytest.mark.parametrize(("scenario", "case", "kinds", "creates"), F10_TABLE)
def test_pipeline_crm_creates_per_case_what_the_settings_choose(
    scenario: str, case: str, kinds: tuple[str, ...], creates: list[str]
) -> None:
    entry = "second" if scenario == "two-calls-at-once" else "entry"
    settings = tenant(new_number=new_number(**{case: creating(*kinds)}))
    decision = run(call_of(scenario, entry), settings, capabilities=PIPELINE_CRM)
    assert [line for line in asked(decision) if line.startswith("create")] == creates
    assert len(decision.of(LogCall)) == 1


def test_unsorted_incoming_lead_carries_the_line_and_the_call() -> None:
    settings = tenant(new_number=new_number(answered_incoming=creating("unsorted")))
    (unsorted,) = run(call_of("incoming-answered"), settings, capabilities=PIPELINE_CRM).of(
        CreateUnsortedLead
    )
    assert (unsorted.phone, unsorted.line_number, unsorted.duration_seconds) == ("+79161234567", LINE, 95)


# --- F11: a CRM that files every call under a person ----------------------------------------------


def test_helpdesk_crm_creates_a_user_from_a_new_number_without_being_asked() -> None:
    decision = run(call_of("incoming-answered"), tenant(), capabilities=HELPDESK_CRM)
    assert asked(decision) == ["create contact → u101", "log incoming answered: 101 → u101 (employee)"]
    assert decision.of(CreateContact)[0].reason.startswith("This CRM files every call under a person")


def test_helpdesk_crm_creates_no_user_for_a_known_number() -> None:
    decision = run(call_of("incoming-answered"), tenant(), known(contact()), HELPDESK_CRM)
    assert asked(decision) == ["log incoming answered: 101 → u101 (employee)"]


def test_helpdesk_crm_ignores_calls_that_reached_no_employee() -> None:
    assert run(call_of("missed-ivr"), tenant(), capabilities=HELPDESK_CRM).intents == []


# --- F12 / F13: repeat calls -----------------------------------------------------------------------


def test_repeat_answered_call_creates_a_lead_for_the_known_client() -> None:
    settings = tenant(repeat_call=RepeatCallPolicy(answered=repeat("lead")))
    decision = run(call_of("incoming-answered"), settings, known(contact()), LEAD_CRM)
    (lead,) = decision.of(CreateLead)
    assert (lead.need_type, lead.stage, lead.customer.id if lead.customer else None) == (
        "need-repeat",
        "stage-repeat",
        "c-1",
    )
    assert lead.reason.startswith(
        "«При повторном звонке» → create lead (answered repeat call from contact c-1"
    )


def test_repeat_missed_call_uses_the_missed_lead_settings() -> None:
    settings = tenant(
        repeat_call=RepeatCallPolicy(
            answered=repeat("lead"), missed=repeat("lead", need_type="need-callback", stage="stage-callback")
        )
    )
    (lead,) = run(call_of("two-calls-at-once", "second"), settings, known(contact()), LEAD_CRM).of(CreateLead)
    assert (lead.need_type, lead.stage) == ("need-callback", "stage-callback")


def test_repeat_call_with_nothing_to_create_files_the_call_on_the_client() -> None:
    decision = run(call_of("incoming-answered"), tenant(), known(contact()), PROCESS_CRM)
    assert asked(decision) == ["log incoming answered: 101 → u101 (employee)"]
    assert decision.of(LogCall)[0].customer == contact().ref()


F13_TABLE = [
    pytest.param("always", (), True, id="always, no open deal"),
    pytest.param("always", ("d-7",), True, id="always, even with an open deal"),
    pytest.param("if_no_open", (), True, id="only without an open deal: none open"),
    pytest.param("if_no_open", ("d-7",), False, id="only without an open deal: one open"),
]


@pytest.mark.parametrize(("when", "open_deals", "creates"), F13_TABLE)
def test_repeat_call_deal_per_the_open_deals_policy(
    when: str, open_deals: tuple[str, ...], creates: bool
) -> None:
    settings = tenant(repeat_call=RepeatCallPolicy(answered=repeat("deal", when)))
    facts = known(contact("c-1", "u-owner", open_deal_ids=open_deals))
    decision = run(call_of("incoming-answered"), settings, facts, PROCESS_CRM)
    assert [d.customer for d in decision.of(CreateDeal)] == ([contact().ref()] if creates else [])
    if not creates:
        assert decision.skipped == [
            "«При повторном звонке»: contact c-1 already has an open deal, and a new one is created only if "
            "there is none"
        ]


def test_found_open_deal_counts_as_the_clients_open_deal() -> None:
    settings = tenant(repeat_call=RepeatCallPolicy(answered=repeat("deal", "if_no_open")))
    facts = known(FoundEntity(kind="deal", id="d-3", responsible_user_ids=("u-owner",)))
    assert run(call_of("incoming-answered"), settings, facts, PROCESS_CRM).of(CreateDeal) == []


def test_outgoing_call_to_a_known_number_creates_no_repeat_deal() -> None:
    settings = tenant(repeat_call=RepeatCallPolicy(answered=repeat("deal"), missed=repeat("deal")))
    decision = run(call_of("outgoing"), settings, known(contact()), PROCESS_CRM)
    assert asked(decision) == ["log outgoing reached: 106 → u106 (employee)"]


# --- F14: several records with the number ----------------------------------------------------------


def test_several_records_with_the_number_file_the_call_on_the_first_found_and_expose_all() -> None:
    first = contact("c-1", "u-owner")
    second = FoundEntity(kind="company", id="co-2", name="ООО Ромашка")
    decision = run(call_of("incoming-answered"), tenant(), known(first, second, first))
    assert decision.customer == first.ref()
    assert decision.candidates == [first.ref(), second.ref()]
    assert decision.of(LogCall)[0].customer == first.ref()


# --- F15: the responsible of an existing client ----------------------------------------------------

F15_TABLE = [
    pytest.param(("u-owner", "u-second-owner"), "u-owner", id="first responsible"),
    pytest.param(("u-blocked", "u-owner"), "u-owner", id="blocked one skipped"),
    pytest.param(("u-deleted", "u-second-owner"), "u-second-owner", id="deleted one skipped"),
    pytest.param(("u-client", "u-owner"), "u-owner", id="a client as responsible is ignored"),
    pytest.param(("u-nobody", "u-owner"), "u-owner", id="an id that is no CRM user is ignored"),
    pytest.param(("u-blocked", "u-client"), "u101", id="none usable: the employee who answered"),
]


@pytest.mark.parametrize(("owners", "responsible"), F15_TABLE)
def test_repeat_deal_goes_to_the_clients_first_usable_responsible(
    owners: tuple[str, ...], responsible: str
) -> None:
    settings = tenant(repeat_call=RepeatCallPolicy(answered=repeat("deal")))
    decision = run(call_of("incoming-answered"), settings, known(contact("c-1", *owners)), PROCESS_CRM)
    assert decision.of(CreateDeal)[0].responsible_user_id == responsible
    assert decision.customer_responsible_user_id == (None if responsible == "u101" else responsible)


# --- F16: the line the client dialled on what is created --------------------------------------------


def test_source_line_is_stored_on_clients_created_from_incoming_calls() -> None:
    settings = tenant(source_line=True, new_number=new_number(answered_incoming=creating("contact", "deal")))
    decision = run(call_of("incoming-answered"), settings, capabilities=PROCESS_CRM)
    assert {c.source_line for c in (*decision.of(CreateContact), *decision.of(CreateDeal))} == {LINE}
    assert "«Указывать источник при входящих звонках» stores line 74951234567" in decision.intents[0].reason


def test_source_line_is_not_stored_when_the_setting_is_off() -> None:
    settings = tenant(new_number=new_number(answered_incoming=creating("contact")))
    assert run(call_of("incoming-answered"), settings).of(CreateContact)[0].source_line is None


def test_source_line_is_not_stored_on_clients_created_from_outgoing_calls() -> None:
    settings = tenant(source_line=True, new_number=new_number(outgoing=creating("contact")))
    assert run(call_of("outgoing"), settings).of(CreateContact)[0].source_line is None


# --- F17: line filter ----------------------------------------------------------------------------


def test_line_filter_drops_incoming_calls_on_other_lines() -> None:
    settings = tenant(line_filter=LineFilter(enabled=True, lines=["74957654321"]))
    decision = run(call_of("incoming-answered"), settings)
    assert decision.intents == []
    assert decision.skipped == ["line 74951234567 is not in «Фильтровать входящие звонки по линиям»"]


def test_line_filter_keeps_calls_on_a_selected_line_however_it_is_written() -> None:
    settings = tenant(line_filter=LineFilter(enabled=True, lines=["+7 (495) 123-45-67"]))
    assert asked(run(call_of("incoming-answered"), settings)) == [
        "log incoming answered: 101 → u101 (employee)"
    ]


def test_line_filter_does_not_apply_to_outgoing_calls() -> None:
    settings = tenant(line_filter=LineFilter(enabled=True, lines=["74957654321"]))
    assert asked(run(call_of("outgoing"), settings)) == ["log outgoing reached: 106 → u106 (employee)"]


# --- F18: «Отключить работу с лидами» --------------------------------------------------------------


def test_disable_leads_drops_lead_creation_but_keeps_everything_else() -> None:
    settings = tenant(
        disable_leads=True, new_number=new_number(answered_incoming=creating("contact", "company", "lead"))
    )
    decision = run(call_of("incoming-answered"), settings, capabilities=LEAD_CRM)
    assert asked(decision) == [
        "create contact → u101",
        "create company → u101",
        "log incoming answered: 101 → u101 (employee)",
    ]
    assert decision.skipped == ["«От нового клиента» asks for a lead, but «Отключить работу с лидами» is on"]


def test_disable_leads_drops_repeat_call_leads() -> None:
    settings = tenant(disable_leads=True, repeat_call=RepeatCallPolicy(answered=repeat("lead")))
    decision = run(call_of("incoming-answered"), settings, known(contact()), LEAD_CRM)
    assert asked(decision) == ["log incoming answered: 101 → u101 (employee)"]
    assert decision.skipped == [
        "«При повторном звонке» asks for a lead, but «Отключить работу с лидами» is on"
    ]


def test_disable_leads_drops_unsorted_incoming_leads_too() -> None:
    settings = tenant(disable_leads=True, new_number=new_number(answered_incoming=creating("unsorted")))
    decision = run(call_of("incoming-answered"), settings, capabilities=PIPELINE_CRM)
    assert asked(decision) == ["log incoming answered: 101 → u101 (employee)"]


def test_disable_leads_keeps_deals() -> None:
    settings = tenant(
        disable_leads=True, new_number=new_number(answered_incoming=creating("contact", "deal"))
    )
    decision = run(call_of("incoming-answered"), settings, capabilities=PIPELINE_CRM)
    assert [c.kind for c in decision.intents] == ["create_contact", "create_deal", "log_call"]


# --- capabilities, call tracking, calls without customers ------------------------------------------


def test_what_the_crm_cannot_hold_is_not_created_and_says_so() -> None:
    settings = tenant(new_number=new_number(answered_incoming=creating("contact", "company", "lead")))
    decision = run(call_of("incoming-answered"), settings, capabilities=Capabilities(contact=True))
    assert asked(decision) == ["create contact → u101", "log incoming answered: 101 → u101 (employee)"]
    assert decision.skipped == [
        "«От нового клиента» asks for a company, which this CRM does not have",
        "«От нового клиента» asks for a lead, which this CRM does not have",
    ]


def test_call_tracking_data_goes_on_what_is_created_for_a_new_client() -> None:
    settings = tenant(call_tracking=True, new_number=new_number(missed_incoming=creating("contact", "deal")))
    call = with_tracking(call_of("two-calls-at-once", "second"))
    decision = run(call, settings, capabilities=PROCESS_CRM)
    (tracking,) = decision.of(SaveCallTracking)
    assert (tracking.targets, tracking.tracking_number, tracking.number_type) == (
        ("create_contact", "create_deal"),
        "74991112233",
        "dynamic",
    )


def test_call_tracking_data_is_not_written_on_an_existing_client() -> None:
    settings = tenant(call_tracking=True)
    decision = run(with_tracking(call_of("incoming-answered")), settings, known(contact()), PROCESS_CRM)
    assert decision.of(SaveCallTracking) == []
    assert decision.skipped == [
        "«Записывать данные Коллтрекинга»: the client already exists, its call-tracking data is not updated"
    ]


def test_internal_calls_are_not_saved() -> None:
    decision = run(call_of("internal"), tenant(new_number=new_number(answered_incoming=creating("contact"))))
    assert (decision.intents, decision.skipped) == (
        [],
        ["internal call: only calls with customers are saved in the CRM"],
    )


def test_hidden_number_creates_nothing_but_the_call_is_still_logged() -> None:
    call = call_of("incoming-answered")
    hidden = call.model_copy(update={"caller": call.caller.model_copy(update={"number": None, "e164": None})})
    decision = run(hidden, tenant(new_number=new_number(answered_incoming=creating("contact"))))
    assert asked(decision) == ["log incoming answered: 101 → u101 (employee)"]
    assert decision.skipped == [
        "the customer's number is unknown or hidden: «От нового клиента» has nothing to create from"
    ]


def test_a_call_known_only_from_its_summary_is_still_recorded() -> None:
    call = call_of("incoming-answered").model_copy(update={"legs": [], "recordings": []})
    decision = run(call, tenant(new_number=new_number(answered_incoming=creating("contact"))))
    assert asked(decision) == ["create contact → u101", "log incoming answered: 101 → u101 (employee)"]
    assert decision.of(LogCall)[0].key == "log_call:entry"


def test_a_decision_survives_being_stored_as_json() -> None:
    settings = tenant(
        responsibles=responsibles(update_on_transfer=True),
        call_tracking=True,
        new_number=new_number(answered_incoming=creating("contact", "deal")),
    )
    decision = run(with_tracking(call_of("consultative-transfer")), settings, capabilities=PROCESS_CRM)
    assert {i.kind for i in decision.intents} == {
        "create_contact",
        "create_deal",
        "save_call_tracking",
        "update_responsible",
        "log_call",
    }
    assert Decision.model_validate_json(decision.model_dump_json()) == decision
