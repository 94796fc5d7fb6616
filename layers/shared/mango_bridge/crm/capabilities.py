"""What each CRM can hold, as the policy sees it. Adapters declare the same object; the admin API's
decision preview uses it without loading an adapter."""

from __future__ import annotations

from mango_bridge.calls.model import CallAggregate
from mango_bridge.policy.engine import Decision, decide
from mango_bridge.policy.facts import Capabilities, CrmFacts
from mango_bridge.settings.model import CrmKind, TenantSettings

CAPABILITIES: dict[CrmKind, Capabilities] = {
    CrmKind.AMOCRM: Capabilities(
        contact=True, company=True, deal=True, unsorted=True, tasks=True, call_tracking_fields=True
    ),
    CrmKind.BPMSOFT: Capabilities(contact=True, company=True, lead=True, call_tracking_fields=True),
    CrmKind.MEGAPLAN: Capabilities(
        contact=True, company=True, deal=True, tasks=True, call_tracking_fields=True
    ),
    CrmKind.OMNIDESK: Capabilities(contact=True, case=True, customer_for_every_call=True),
}


def capabilities_of(kind: CrmKind | None) -> Capabilities:
    """Without a CRM nothing can be created; calls are still decided and explained."""
    return CAPABILITIES[kind] if kind is not None else Capabilities()


def preview(call: CallAggregate, settings: TenantSettings, facts: CrmFacts) -> Decision:
    """The decision for a call as the tenant's CRM would be asked, without touching the CRM."""
    return decide(call, settings, facts, capabilities_of(settings.crm.kind if settings.crm else None))
