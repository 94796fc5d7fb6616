"""Manual binding (F14, «Ручная привязка звонка к сущностям»): a user picks which of the records found
by the caller's number the call belongs to, and the call records the bridge wrote move onto it.

By default a call is filed on the first record found; the decision keeps every candidate, so the
choice can only be one of them. The adapter re-files each call record (`rebind`); CRMs whose
adapter cannot do that refuse. The binding is stored on the call's CRM outcome, so the admin API
shows it and a second binding simply moves the records again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, get_args

from mango_bridge.crm.port import CrmAdapter, Executed
from mango_bridge.policy.facts import EntityRef, FoundKind
from mango_bridge.policy.intents import LogCall
from mango_bridge.settings.model import CRM_KIND_LABELS, TenantSettings
from mango_bridge.store.decisions import DecisionStore
from mango_bridge.store.outcomes import CrmOutcome, OutcomeStore
from mango_bridge.store.tenants import TenantStore

MANUAL_BINDING = "«Ручная привязка звонка к сущностям»"
BINDING_KEY = "manual_binding"
"""Where the binding is kept among the outcome's records when the outcome has no `binding` field."""

AdapterFactory = Callable[[str, TenantSettings], CrmAdapter]


class BindingRefused(ValueError):
    """The binding cannot be made; `status` is 400 for a malformed choice, 409 for a refusal."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def _default_adapters(tenant: str, settings: TenantSettings) -> CrmAdapter:
    from mango_bridge.crm.registry import adapter_for

    return adapter_for(tenant, settings)


def bind_call(
    tenant: str,
    entry_id: str,
    kind: str,
    entity_id: str,
    *,
    tenants: TenantStore | None = None,
    decisions: DecisionStore | None = None,
    outcomes: OutcomeStore | None = None,
    adapters: AdapterFactory = _default_adapters,
) -> dict[str, Any]:
    """Bind the call to the candidate `kind`/`entity_id`; the binding with every re-filed record."""
    if kind not in get_args(FoundKind):
        raise BindingRefused(
            f"kind must be one of {', '.join(get_args(FoundKind))}, not {kind!r}", status=400
        )
    record = (tenants or TenantStore()).get(tenant)
    if record is None:
        raise BindingRefused(f"tenant {tenant} does not exist")
    settings = record.settings
    if not settings.manual_entity_binding:
        raise BindingRefused(
            f"{MANUAL_BINDING} is off for tenant {tenant}: switch it on to bind calls by hand"
        )
    if settings.crm is None:
        raise BindingRefused(f"tenant {tenant} has no CRM connected")
    stored = (decisions or DecisionStore()).get(tenant, entry_id)
    if stored is None:
        raise BindingRefused(
            f"call {entry_id} has not been decided yet: bind it once it has been written to the CRM"
        )
    chosen = next((c for c in stored.decision.candidates if c.kind == kind and c.id == entity_id), None)
    if chosen is None:
        raise BindingRefused(_not_a_candidate(kind, entity_id, stored.decision.candidates))

    adapter = adapters(tenant, settings).for_call(entry_id)
    rebind = getattr(adapter, "rebind", None)
    if rebind is None:
        label = CRM_KIND_LABELS.get(settings.crm.kind.value, settings.crm.kind.value)
        raise BindingRefused(f"{label} does not support manual binding")

    outcome_store = outcomes or OutcomeStore()
    outcome = outcome_store.get(tenant, entry_id)
    keys = [i.key for i in stored.decision.of(LogCall) if outcome is not None and i.key in outcome.executed]
    if outcome is None or not keys:
        status = outcome.status if outcome else "not started"
        raise BindingRefused(
            f"call {entry_id} has no call record in the CRM yet (status: {status}): bind it once it is done"
        )

    executed = dict(outcome.executed)
    records = []
    for key in keys:
        moved: Executed = rebind(Executed.model_validate(executed[key]), chosen)
        executed[key] = moved.model_dump(mode="json")
        records.append(executed[key])
    binding = {
        "kind": chosen.kind,
        "id": chosen.id,
        "name": chosen.name,
        "previous": stored.decision.customer.model_dump() if stored.decision.customer else None,
        "records": keys,
        "bound_at": int(time.time()),
    }
    outcome_store.save(tenant, entry_id, _with_binding(outcome, executed, binding, chosen))
    return {**binding, "executed": records}


def _with_binding(
    outcome: CrmOutcome, executed: dict[str, Any], binding: dict[str, Any], chosen: EntityRef
) -> CrmOutcome:
    if "binding" in CrmOutcome.model_fields:
        return outcome.model_copy(update={"executed": executed, "binding": binding})
    note = Executed(
        key=BINDING_KEY,
        refs=(chosen,),
        detail=f"{MANUAL_BINDING}: bound by hand to {chosen.kind} {chosen.id} ({', '.join(binding['records'])})",
    )
    return outcome.model_copy(update={"executed": {**executed, BINDING_KEY: note.model_dump(mode="json")}})


def _not_a_candidate(kind: str, entity_id: str, candidates: list[EntityRef]) -> str:
    if not candidates:
        return f"{kind} {entity_id} is not a candidate: no record in the CRM had the caller's number"
    listed = ", ".join(f"{c.kind} {c.id}" + (f" «{c.name}»" if c.name else "") for c in candidates)
    return f"{kind} {entity_id} is not one of the records found by the caller's number ({listed})"
