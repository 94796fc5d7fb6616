"""Seed 001 on Megaplan: a call from a known client goes straight to the client's manager while the
caller hears the greeting (F25, «Распределять вызовы от клиентов по ответственным сотрудникам»),
the route decided from what the Megaplan sandbox holds."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.megaplan_world import fresh_number, register, seed_client
from tests.e2e.routing_world import play, route_record, wait_for_route_slot
from tests.e2e.tenant_world import crm_status, eventually


def test_a_known_megaplan_client_is_routed_to_the_first_usable_responsible(
    stack: dict[str, Any], admin: httpx.Client
) -> None:
    tenant = register(
        stack,
        admin,
        "mp-routing",
        {
            "routing": {"route_to_responsible": True},
            "new_number": {"answered_incoming": {"create": ["contact"]}},
        },
    )
    caller = fresh_number()
    seed_client(stack, caller, responsible_ids=["8000002", "8000003"])  # Борис first, then Вера
    wait_for_route_slot()

    played = play(stack, tenant, "ivr-known-client", caller, seed=401)

    assert played.routed is not None and played.routed["to_number"] == "102"  # Борис's extension
    record = route_record(stack, tenant, played.entry_id)
    assert record is not None and record.status == "routed"
    assert record.decision is not None and record.decision.rule == "known client → responsible"
    assert eventually(lambda: crm_status(admin, tenant, played.entry_id) == "done")
