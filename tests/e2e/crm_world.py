"""Helpers for end-to-end tests that follow the demo tenant's calls into the amoCRM sandbox."""

from __future__ import annotations

from typing import Any

import httpx

from sandbox.mango import player
from tests.e2e import tenant_world
from tests.e2e.tenant_world import digits, number_maker

fresh_number = number_maker("7916")


def amo_state(amo: httpx.Client) -> dict[str, Any]:
    return amo.get("/_sandbox/state").json()


def held_for(amo: httpx.Client, number: str) -> dict[str, list[dict[str, Any]]]:
    """Everything amoCRM holds for one customer number."""
    state = amo_state(amo)

    def has_phone(entity: dict[str, Any]) -> bool:
        for field in entity.get("custom_fields_values") or []:
            for value in field.get("values", []):
                if digits(str(value.get("value"))) == digits(number):
                    return True
        return False

    contacts = [c for c in state["contacts"] if has_phone(c)]
    notes = [
        n
        for n in state["notes"]
        if n.get("note_type") in ("call_in", "call_out")
        and digits(str((n.get("params") or {}).get("phone", ""))) == digits(number)
    ]
    contact_ids = {c["id"] for c in contacts}
    leads = [
        lead
        for lead in state["leads"]
        if {c["id"] for c in (lead.get("_embedded") or {}).get("contacts", [])} & contact_ids
    ]
    return {"contacts": contacts, "leads": leads, "notes": notes}


def play(
    stack: dict[str, Any], name: str, caller: str, seed: int, *, var: str = "caller", **reorder: Any
) -> player.Rendered:
    """One Mango scenario posted to the demo tenant, the one the stack connects to amoCRM."""
    return tenant_world.play(stack, stack["tenant_id"], name, caller, seed=seed, var=var, **reorder)
