"""Manual binding (F14) end to end below the API: a call filed on the first contact with the number is
bound by hand to another candidate, and BPMSoft's Call row moves with it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mango_bridge.crm.bpmsoft import BpmSoftAdapter, BpmSoftClient, StaticCredentials
from mango_bridge.crm.errors import CrmRejected
from mango_bridge.crm.port import Executed
from mango_bridge.policy.engine import Decision
from mango_bridge.policy.intents import LogCall
from mango_bridge.settings.model import TenantSettings
from mango_bridge.store.decisions import DecisionStore
from mango_bridge.store.outcomes import CrmOutcome, OutcomeStore
from mango_bridge.store.tenants import TenantStore
from mango_bridge.workflows.binding import BindingRefused, bind_call
from sandbox.crm.bpmsoft import DEFAULT_LOGIN, DEFAULT_PASSWORD, BpmSoftSandbox, sandbox_id

TENANT, ENTRY = "bpm-binding", "MToxMDE4NTg2OTkxOTowMDI="
NUMBER = "+79161234567"
BORIS = sandbox_id("contact:boris")


@pytest.fixture
def bpm() -> Iterator[BpmSoftSandbox]:
    with BpmSoftSandbox(port=0) as sandbox:
        sandbox.seed(users=[{"id": BORIS, "name": "Борис Иванов"}])
        yield sandbox


@pytest.fixture
def adapter(bpm: BpmSoftSandbox) -> BpmSoftAdapter:
    return BpmSoftAdapter(BpmSoftClient(bpm.url, StaticCredentials(DEFAULT_LOGIN, DEFAULT_PASSWORD)))


def settings(bpm: BpmSoftSandbox, *, manual: bool = True, kind: str = "bpmsoft") -> TenantSettings:
    return TenantSettings.model_validate(
        {
            "mango": {"api_key": "bindingkey0123"},
            "crm": {"kind": kind, "url": bpm.url, "credentials": {"secret_name": "x"}},
            "manual_entity_binding": manual,
        }
    )


def written_call(aws: Any, bpm: BpmSoftSandbox, adapter: BpmSoftAdapter, **tenant: Any) -> dict[str, str]:
    """Two contacts share the number; the call was filed on the first one found, as F14 says."""
    account = bpm.seed(Account=[{"Name": "ООО Второй"}])["Account"][0]
    first, second = bpm.seed(
        Contact=[
            {"Name": "Первый", "MobilePhone": NUMBER, "OwnerId": BORIS},
            {"Name": "Второй", "MobilePhone": NUMBER, "AccountId": account},
        ]
    )["Contact"]
    TenantStore().put(TENANT, settings(bpm, **tenant), None)
    facts = adapter.facts(NUMBER)
    customer = facts.found[0].ref()
    log = LogCall(
        key="log_call:leg-1",
        reason="t",
        direction="incoming",
        result="answered",
        started_at=1_772_700_000,
        duration_seconds=40,
        responsible_user_id=BORIS,
        bound_by="employee",
        employee_extension="102",
        talk_leg_ids=("leg-1",),
        leg_ids=("leg-1",),
        phone=NUMBER,
        customer=customer,
    )
    decision = Decision(
        entry_id=ENTRY,
        outcome="answered",
        customer=customer,
        candidates=[f.ref() for f in facts.found],
        intents=[log],
    )
    DecisionStore().put_first(TENANT, ENTRY, decision, facts)
    done = adapter.for_call(ENTRY).execute(log, {}, {})
    OutcomeStore().save(
        TENANT, ENTRY, CrmOutcome(status="done", executed={log.key: done.model_dump(mode="json")})
    )
    return {"first": first, "second": second, "account": account}


def test_binding_moves_the_call_to_the_chosen_contact_and_is_kept_on_the_outcome(
    aws: Any, bpm: BpmSoftSandbox, adapter: BpmSoftAdapter
) -> None:
    ids = written_call(aws, bpm, adapter)
    (call,) = bpm.rows("Call")
    assert call["ContactId"] == ids["first"]
    bound = bind_call(TENANT, ENTRY, "contact", ids["second"], adapters=lambda t, s: adapter)
    (call,) = bpm.rows("Call")
    assert (call["ContactId"], call["AccountId"]) == (ids["second"], ids["account"])
    assert bound["id"] == ids["second"] and bound["previous"]["id"] == ids["first"]
    outcome = OutcomeStore().get(TENANT, ENTRY)
    assert outcome is not None
    record = Executed.model_validate(outcome.executed["log_call:leg-1"])
    assert record.refs[0].id == ids["second"]
    stored = getattr(outcome, "binding", None) or outcome.executed["manual_binding"]
    assert ids["second"] in str(stored)


def test_only_a_candidate_can_be_chosen(aws: Any, bpm: BpmSoftSandbox, adapter: BpmSoftAdapter) -> None:
    ids = written_call(aws, bpm, adapter)
    with pytest.raises(
        BindingRefused, match="is not one of the records found by the caller's number"
    ) as refused:
        bind_call(TENANT, ENTRY, "contact", sandbox_id("someone-else"), adapters=lambda t, s: adapter)
    assert refused.value.status == 409
    assert "«Второй»" in str(refused.value)
    with pytest.raises(BindingRefused, match="kind must be one of") as malformed:
        bind_call(TENANT, ENTRY, "deal-ish", ids["second"], adapters=lambda t, s: adapter)
    assert malformed.value.status == 400
    assert bpm.rows("Call")[0]["ContactId"] == ids["first"]


def test_binding_needs_the_setting_and_a_crm_that_can_rebind(
    aws: Any, bpm: BpmSoftSandbox, adapter: BpmSoftAdapter
) -> None:
    ids = written_call(aws, bpm, adapter, manual=False)
    with pytest.raises(BindingRefused, match="«Ручная привязка звонка к сущностям» is off"):
        bind_call(TENANT, ENTRY, "contact", ids["second"], adapters=lambda t, s: adapter)

    class NoRebind:
        def for_call(self, entry_id: str) -> Any:
            return object()

    record = TenantStore().get(TENANT)
    assert record is not None
    TenantStore().put(TENANT, settings(bpm, kind="amocrm"), record.version)
    with pytest.raises(BindingRefused, match="amoCRM does not support manual binding"):
        bind_call(TENANT, ENTRY, "contact", ids["second"], adapters=lambda t, s: NoRebind())  # type: ignore[arg-type,return-value]


def test_a_call_not_yet_written_cannot_be_bound_and_a_deleted_call_is_a_crm_refusal(
    aws: Any, bpm: BpmSoftSandbox, adapter: BpmSoftAdapter
) -> None:
    ids = written_call(aws, bpm, adapter)
    OutcomeStore().save(TENANT, ENTRY, CrmOutcome(status="pending_recordings", pending=["log_call:leg-1"]))
    with pytest.raises(
        BindingRefused, match=r"has no call record in the CRM yet \(status: pending_recordings\)"
    ):
        bind_call(TENANT, ENTRY, "contact", ids["second"], adapters=lambda t, s: adapter)
    written_again = adapter.for_call(ENTRY)
    (call,) = bpm.rows("Call")
    bpm.store.delete("Call", call["Id"])
    OutcomeStore().save(
        TENANT, ENTRY, CrmOutcome(status="done", executed={"log_call:leg-1": {"key": "log_call:leg-1"}})
    )
    with pytest.raises(CrmRejected, match="holds no call"):
        bind_call(TENANT, ENTRY, "contact", ids["second"], adapters=lambda t, s: written_again)
