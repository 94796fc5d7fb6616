"""Helpers for end-to-end tests that follow calls into the amoCRM sandbox."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from sandbox.mango import player

_numbers = itertools.count(1)


def fresh_number() -> str:
    return f"7916{int(time.time()) % 1000:03d}{next(_numbers):04d}"


def amo_state(amo: httpx.Client) -> dict[str, Any]:
    return amo.get("/_sandbox/state").json()


def digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())[-10:]


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
    stack: dict[str, Any], name: str, caller: str, seed: int, *, var: str = "caller", **kwargs: Any
) -> player.Rendered:
    scenario = player.load_scenario(name)
    scenario.vars[var] = caller
    rendered = player.render(scenario, base_time=int(time.time()) - 3600, seed=seed)
    deliveries = player.reorder(rendered.deliveries, seed=seed, **kwargs)
    with httpx.Client(trust_env=False) as http:
        player.register_recordings(http, stack["mango"]["api_url"], player.ready_recording_ids(deliveries))
    statuses = player.post(
        deliveries,
        to_url=stack["ingest_url"],
        api_key=stack["mango"]["api_key"],
        api_salt=stack["mango"]["api_salt"],
    )
    assert set(statuses) == {200}
    return rendered


def eventually(check: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def crm_status(admin: httpx.Client, tenant: str, entry_id: str) -> str | None:
    body = admin.get(f"/tenants/{tenant}/calls/{quote(entry_id, safe='')}").json()
    return (body.get("crm") or {}).get("status")
