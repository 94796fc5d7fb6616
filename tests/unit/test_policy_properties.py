"""Properties of the policy over generated calls, settings, CRM facts and capabilities.

The generated calls have the shapes Mango produces (an IVR leg, a queue, ringing and talking employee
legs chained by transfers, recordings on talking legs), with employees whose mapping, ignore flag and
fallbacks vary with the generated settings.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from mango_bridge.calls.model import CallAggregate, CallTrackingView, Leg, PartyView, Recording
from mango_bridge.policy import (
    Capabilities,
    CreateContact,
    CreateLead,
    CreateUnsortedLead,
    CrmFacts,
    FoundEntity,
    LogCall,
    SaveCallTracking,
    UpdateResponsible,
    decide,
)
from mango_bridge.policy.intents import CreateIntent
from mango_bridge.settings.model import (
    Durations,
    EmployeeMapping,
    FallbackResponsible,
    LineFilter,
    MangoConnection,
    NewNumberPolicy,
    RepeatCallPolicy,
    Responsibles,
    TenantSettings,
)
from tests.unit.test_policy_builders import FALLBACK, SUPERVISOR, USERS, creating, repeat

T0 = 1_764_000_000
EXTENSIONS = ("101", "102", "105", "107")
LINES = ("74951234567", "78005553535")
ROLES = ("mapped", "unmapped", "ignored")
CREATE_CHOICES = (
    (),
    ("contact",),
    ("contact", "company"),
    ("contact", "company", "lead"),
    ("lead",),
    ("contact", "deal"),
    ("company", "deal"),
    ("unsorted",),
    ("contact", "lead", "deal"),
)


@st.composite
def calls(draw: st.DrawFn) -> CallAggregate:
    direction = draw(st.sampled_from(["incoming", "outgoing"]))
    number = draw(st.sampled_from(["79161234567", "74955404444", ""]))
    line = draw(st.sampled_from(LINES))
    customer = PartyView(number=number or None, e164=f"+{number}" if number else None)
    legs: list[Leg] = []
    recordings: list[Recording] = []
    clock = T0
    group = direction == "incoming" and draw(st.booleans())
    if direction == "incoming" and draw(st.booleans()):
        legs.append(_pbx_leg("ivr", "ivr", customer, line, clock, clock + 5, None))
        clock += 5
    if group:
        legs.append(_pbx_leg("queue", "queue", customer, line, clock, clock + 30, "500"))
    attempts = draw(st.lists(st.tuples(st.sampled_from(EXTENSIONS), st.booleans()), max_size=4))
    previous: str | None = None
    talk = 0
    for index, (extension, answered) in enumerate(attempts):
        employee = PartyView(extension=extension, number=f"sip:{extension}@demo.mangosip.ru")
        dials = direction == "outgoing" and index == 0
        source = customer.model_copy(update={"extension": None})
        seconds = draw(st.integers(0, 120)) if answered else 0
        connected = clock + 3 if answered else None
        ended = clock + 3 + seconds if answered else clock + 20
        leg_id = f"leg{index}"
        legs.append(
            Leg(
                call_id=leg_id,
                location="abonent",
                extension=extension,
                number=employee.number,
                from_party=employee if dials else source,
                to_party=source if dials else employee,
                acd_group="500" if group else None,
                state="Disconnected",
                answered=answered,
                transferred_from=previous,
                appeared_at=clock,
                connected_at=connected,
                ended_at=ended,
                last_seq=3,
            )
        )
        if answered:
            previous = leg_id
            talk += seconds
            if draw(st.booleans()):
                recordings.append(
                    Recording(
                        recording_id=f"rec{index}", call_id=leg_id, extension=extension, started_at=connected
                    )
                )
        clock = ended
    talked = [leg.extension for leg in legs if leg.answered and leg.extension]
    caller_employee = PartyView(extension=attempts[0][0] if attempts else "101")
    tracking = draw(st.sampled_from([None, CallTrackingView(number="74991112233", type=1)]))
    return CallAggregate(
        entry_id="MToxMDIzOjQ1Ng==",
        status=draw(st.sampled_from(["completed", "completed", "completed", "in_progress"])),
        direction=direction,
        answered=bool(talked),
        started_at=T0,
        ended_at=clock,
        talk_seconds=talk,
        caller=customer if direction == "incoming" else caller_employee,
        callee=PartyView() if direction == "incoming" else customer,
        line_number=line,
        talked_extensions=talked,
        call_tracking=tracking,
        legs=legs,
        recordings=recordings,
        dtmf=[],
        timeline=[],
        event_count=len(legs),
    )


def _pbx_leg(
    call_id: str, location: str, customer: PartyView, line: str, start: int, end: int, group: str | None
) -> Leg:
    return Leg(
        call_id=call_id,
        location=location,
        from_party=customer,
        to_party=PartyView(number=line),
        acd_group=group,
        state="Disconnected",
        answered=False,
        appeared_at=start,
        ended_at=end,
        last_seq=2,
    )


@st.composite
def tenant_settings(draw: st.DrawFn) -> TenantSettings:
    roles = {ext: draw(st.sampled_from(ROLES)) for ext in EXTENSIONS}
    employees = [
        EmployeeMapping(extension=ext, crm_user_id=f"u{ext}", ignore_calls=role == "ignored")
        for ext, role in roles.items()
        if role != "unmapped"
    ]
    employees.append(EmployeeMapping(extension="200", crm_user_id=SUPERVISOR))
    ivr, group = draw(st.booleans()), draw(st.booleans())
    repeats = st.builds(
        repeat, st.sampled_from(["nothing", "lead", "deal"]), st.sampled_from(["always", "if_no_open"])
    )
    actions = st.sampled_from(CREATE_CHOICES).map(lambda kinds: creating(*kinds))
    return TenantSettings(
        mango=MangoConnection(api_key="demo-key-0001"),
        employees=employees,
        durations=Durations(
            min_answered_seconds=draw(st.sampled_from([0, 5, 60])),
            min_reached_seconds=draw(st.sampled_from([0, 5, 60])),
        ),
        new_number=NewNumberPolicy(
            answered_incoming=draw(actions), missed_incoming=draw(actions), outgoing=draw(actions)
        ),
        repeat_call=RepeatCallPolicy(answered=draw(repeats), missed=draw(repeats)),
        responsibles=Responsibles(
            missed_in_ivr=FallbackResponsible(enabled=ivr, crm_user_id=SUPERVISOR if ivr else None),
            missed_in_group=FallbackResponsible(enabled=group, crm_user_id=SUPERVISOR if group else None),
            update_on_transfer=draw(st.booleans()),
            save_all_calls_user=draw(st.sampled_from([None, FALLBACK])),
        ),
        source_line=draw(st.booleans()),
        line_filter=draw(st.sampled_from([LineFilter(), LineFilter(enabled=True, lines=[LINES[0]])])),
        disable_leads=draw(st.booleans()),
        recordings=draw(st.booleans()),
        call_tracking=draw(st.booleans()),
    )


found_entities = st.builds(
    FoundEntity,
    kind=st.sampled_from(["contact", "company", "lead", "deal", "case"]),
    id=st.sampled_from(["e-1", "e-2", "e-3"]),
    responsible_user_ids=st.lists(st.sampled_from([u.id for u in USERS] + ["u-nobody"]), max_size=3).map(
        tuple
    ),
    is_open=st.booleans(),
    open_deal_ids=st.sampled_from([(), ("d-1",)]),
    open_lead_ids=st.sampled_from([(), ("l-1",)]),
)
crm_facts = st.builds(CrmFacts, found=st.lists(found_entities, max_size=3).map(tuple), users=st.just(USERS))
capabilities = st.builds(
    Capabilities,
    contact=st.booleans(),
    company=st.booleans(),
    lead=st.booleans(),
    deal=st.booleans(),
    unsorted=st.booleans(),
    case=st.booleans(),
    call_tracking_fields=st.booleans(),
    customer_for_every_call=st.booleans(),
)
cases = given(call=calls(), tenant=tenant_settings(), facts=crm_facts, caps=capabilities)


def _role(tenant: TenantSettings, extension: str | None) -> str:
    employee = tenant.employee(extension)
    if employee is None:
        return "unmapped"
    return "ignored" if employee.ignore_calls else "mapped"


@cases
def test_no_decision_ever_creates_a_lead_when_leads_are_disabled(
    call: CallAggregate, tenant: TenantSettings, facts: CrmFacts, caps: Capabilities
) -> None:
    tenant = tenant.model_copy(update={"disable_leads": True})
    decision = decide(call, tenant, facts, caps)
    assert not [i for i in decision.intents if isinstance(i, CreateLead | CreateUnsortedLead)]


@cases
def test_unmapped_employees_without_save_all_calls_never_get_a_record(
    call: CallAggregate, tenant: TenantSettings, facts: CrmFacts, caps: Capabilities
) -> None:
    tenant = tenant.model_copy(
        update={"responsibles": tenant.responsibles.model_copy(update={"save_all_calls_user": None})}
    )
    decision = decide(call, tenant, facts, caps)
    for log in decision.of(LogCall):
        assert log.bound_by != "save_all_calls"
        if log.employee_extension is not None:
            assert _role(tenant, log.employee_extension) == "mapped"


@cases
def test_a_call_of_unmapped_employees_only_yields_nothing_without_the_fallback_settings(
    call: CallAggregate, tenant: TenantSettings, facts: CrmFacts, caps: Capabilities
) -> None:
    nobody = Responsibles()
    tenant = tenant.model_copy(update={"employees": [], "responsibles": nobody})
    decision = decide(call, tenant, facts, caps)
    assert decision.intents == []
    assert decision.skipped


@cases
def test_ignored_employees_never_get_a_record_even_with_save_all_calls(
    call: CallAggregate, tenant: TenantSettings, facts: CrmFacts, caps: Capabilities
) -> None:
    for log in decide(call, tenant, facts, caps).of(LogCall):
        assert log.employee_extension is None or _role(tenant, log.employee_extension) != "ignored"
        if log.bound_by == "save_all_calls":
            assert log.responsible_user_id == FALLBACK


@cases
def test_deciding_twice_gives_the_same_intents_with_unique_keys(
    call: CallAggregate, tenant: TenantSettings, facts: CrmFacts, caps: Capabilities
) -> None:
    first = decide(call, tenant, facts, caps)
    second = decide(call.model_copy(deep=True), tenant, facts, caps)
    assert first == second
    assert len(set(first.keys)) == len(first.keys)
    creates = Counter(type(i) for i in first.intents if isinstance(i, CreateIntent))
    assert all(count == 1 for count in creates.values())


@cases
def test_every_intent_and_every_skip_says_why(
    call: CallAggregate, tenant: TenantSettings, facts: CrmFacts, caps: Capabilities
) -> None:
    decision = decide(call, tenant, facts, caps)
    assert all(intent.reason.strip() for intent in decision.intents)
    assert all(reason.strip() for reason in decision.skipped)
    assert decision.intents or decision.skipped


@cases
def test_creates_come_first_and_every_link_points_at_a_create_of_the_same_decision(
    call: CallAggregate, tenant: TenantSettings, facts: CrmFacts, caps: Capabilities
) -> None:
    decision = decide(call, tenant, facts, caps)
    kinds = [
        "create" if isinstance(i, CreateIntent) else "log" if isinstance(i, LogCall) else "other"
        for i in decision.intents
    ]
    assert kinds == sorted(kinds, key=["create", "other", "log"].index)
    created = {i.key for i in decision.intents if isinstance(i, CreateIntent)}
    for intent in decision.intents:
        if isinstance(intent, LogCall):
            assert set(intent.related_keys) == created
        if isinstance(intent, UpdateResponsible | SaveCallTracking):
            assert intent.targets and set(intent.targets) <= created


@cases
def test_known_numbers_never_get_a_new_client(
    call: CallAggregate, tenant: TenantSettings, facts: CrmFacts, caps: Capabilities
) -> None:
    decision = decide(call, tenant, facts, caps)
    if facts.found and decision.intents:
        assert decision.customer == facts.found[0].ref()
        assert not [i for i in decision.intents if isinstance(i, CreateContact | CreateUnsortedLead)]
        assert not decision.of(SaveCallTracking)
        assert all(log.customer == decision.customer for log in decision.of(LogCall))


@cases
def test_each_leg_and_recording_is_accounted_to_at_most_one_record(
    call: CallAggregate, tenant: TenantSettings, facts: CrmFacts, caps: Capabilities
) -> None:
    logs = decide(call, tenant, facts, caps).of(LogCall)
    legs = [leg for log in logs for leg in log.leg_ids]
    recordings = [rec for log in logs for rec in log.recording_ids]
    assert len(legs) == len(set(legs))
    assert len(recordings) == len(set(recordings))
    assert all(set(log.talk_leg_ids) <= set(log.leg_ids) for log in logs)


@cases
def test_when_everyone_is_mapped_every_leg_of_a_finished_call_has_a_record(
    call: CallAggregate, tenant: TenantSettings, facts: CrmFacts, caps: Capabilities
) -> None:
    everyone = [EmployeeMapping(extension=ext, crm_user_id=f"u{ext}") for ext in (*EXTENSIONS, "200")]
    tenant = tenant.model_copy(update={"employees": everyone, "line_filter": LineFilter()})
    decision = decide(call, tenant, facts, caps)
    if call.status == "completed" and decision.of(LogCall):
        accounted = sorted(leg for log in decision.of(LogCall) for leg in log.leg_ids)
        assert accounted == sorted(leg.call_id for leg in call.legs)


@cases
def test_incoming_calls_on_lines_outside_the_filter_yield_nothing(
    call: CallAggregate, tenant: TenantSettings, facts: CrmFacts, caps: Capabilities
) -> None:
    tenant = tenant.model_copy(update={"line_filter": LineFilter(enabled=True, lines=["74990000000"])})
    decision = decide(call, tenant, facts, caps)
    if call.direction == "incoming":
        assert decision.intents == []
