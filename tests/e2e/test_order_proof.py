"""Every conversation, once, whatever order and however many times Mango delivers: proven on what the
CRM holds, across the whole pipeline (ingest → fold → post-call workflow → CRM sandbox).

For generated call days (IVR, hunting groups, blind and consultative transfers, callbacks, repeat
callers, missed and short calls, outgoing calls), the day delivered in Mango's own order, call by call,
and the same day delivered at once, reordered within a window and with duplicates — summaries before
their legs, a callback before the call it returns — leave exactly the same contacts, leads, deals,
cases, call records and responsibles in the CRM.

`ORDER_PROOF_DAYS` sets how many days each CRM plays (default: enough for CI); `ORDER_PROOF_SEED`
where the generated seeds start, so a failure is replayed by its seed.
"""

from __future__ import annotations

import difflib
import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from sandbox.crm.megaplan.demo import SETTINGS as MEGAPLAN_SETTINGS
from sandbox.stack.stack import DEMO_EMPLOYEES
from tests.e2e import bpmsoft_world, crm_world, megaplan_world, omnidesk_world, order_world, tenant_world

pytestmark = pytest.mark.timeout(1800)  # a day takes seconds; a batch of days takes minutes

DAYS = {"amocrm": 40, "megaplan": 20, "omnidesk": 20}
_registering = threading.Lock()
PARALLEL_DAYS = 4
WINDOW = 8
DUPLICATES = 0.3

Register = Callable[[dict[str, Any], httpx.Client, str], None]
Held = Callable[[dict[str, Any], str], Any]


def _days(kind: str) -> int:
    return int(os.environ.get("ORDER_PROOF_DAYS", DAYS[kind]))


def _first_seed() -> int:
    return int(os.environ.get("ORDER_PROOF_SEED", "1"))


def _amo_register(settings: dict[str, Any]) -> Register:
    def register(stack: dict[str, Any], admin: httpx.Client, tenant: str) -> None:
        tenant_world.register_amocrm_tenant(stack, admin, tenant, employees=DEMO_EMPLOYEES, settings=settings)

    return register


def _amo_held(stack: dict[str, Any], number: str) -> Any:
    """The customer's contacts, deals and call notes, and the other notes on those records (a
    recording stored after its call note was written is added as a note on the same record)."""
    with httpx.Client(base_url=stack["amocrm_url"], timeout=30, trust_env=False) as amo:
        held = crm_world.held_for(amo, number)
        notes = amo.get("/_sandbox/state").json()["notes"]
    owners = {("contacts", c["id"]) for c in held["contacts"]} | {("leads", d["id"]) for d in held["leads"]}
    owners |= {(n["entity_type"], n["entity_id"]) for n in held["notes"]}
    held["other_notes"] = [
        n for n in notes if n["note_type"] == "common" and (n["entity_type"], n["entity_id"]) in owners
    ]
    return held


def _omnidesk_register(stack: dict[str, Any], admin: httpx.Client, tenant: str) -> None:
    new_number = {"create": ["contact"]}
    omnidesk_world.register(
        stack,
        admin,
        tenant,
        new_number={"answered_incoming": new_number, "missed_incoming": new_number, "outgoing": new_number},
        recordings=True,
    )


def _bpmsoft_register(stack: dict[str, Any], admin: httpx.Client, tenant: str) -> None:
    bpmsoft_world.register(stack, admin, tenant, bpmsoft_world.GUIDE_SETTINGS)


def _megaplan_register(stack: dict[str, Any], admin: httpx.Client, tenant: str) -> None:
    megaplan_world.register(stack, admin, tenant, MEGAPLAN_SETTINGS)


def _prove(stack: dict[str, Any], admin: httpx.Client, kind: str, register: Register, held: Held) -> None:
    first = _first_seed()
    seeds = range(first, first + _days(kind))

    def one_day(seed: int) -> str | None:
        day = order_world.generate(seed)
        runs = []
        for mode in ("in-order", "disordered"):
            tenant = f"order-{kind[:4]}-{mode[:2]}-{seed}-{order_world.fresh_numbers(1)[0][-6:]}"
            with _registering:  # the admin API is exercised elsewhere; here only the calls run concurrently
                register(stack, admin, tenant)
            numbers = order_world.fresh_numbers(day.customers)
            # Mango's ids are unique across accounts: each run gets its own (the CRM sandbox is shared).
            rendered = order_world.render(day, numbers, seed=seed * 2 + len(runs))
            if mode == "in-order":
                order_world.play_in_order(stack, admin, tenant, rendered)
            else:
                order_world.play_disordered(
                    stack, admin, tenant, rendered, seed=seed, window=WINDOW, duplicate=DUPLICATES
                )
            runs.append(order_world.canonical([held(stack, n) for n in numbers], numbers))
        if runs[0] == runs[1]:
            return None
        diff = difflib.unified_diff(
            json.dumps(runs[0], ensure_ascii=False, indent=1).splitlines(),
            json.dumps(runs[1], ensure_ascii=False, indent=1).splitlines(),
            "in order",
            "reordered, duplicated",
            lineterm="",
            n=2,
        )
        return f"seed {seed} ({day.describe()}):\n" + "\n".join(diff)

    with ThreadPoolExecutor(PARALLEL_DAYS) as pool:
        failures = [failure for failure in pool.map(one_day, seeds) if failure]
    assert not failures, f"{len(failures)} of {len(seeds)} days differ:\n\n" + "\n\n".join(failures[:5])


def test_amocrm_holds_the_same_whatever_order_and_duplicates(
    stack: dict[str, Any], admin: httpx.Client
) -> None:
    demo = admin.get(f"/tenants/{stack['tenant_id']}/settings").json()["settings"]
    settings = {k: v for k, v in demo.items() if k not in ("mango", "crm", "employees")}
    _prove(stack, admin, "amocrm", _amo_register(settings), _amo_held)


def test_megaplan_holds_the_same_whatever_order_and_duplicates(
    stack: dict[str, Any], admin: httpx.Client
) -> None:
    _prove(stack, admin, "megaplan", _megaplan_register, megaplan_world.held_for)


def test_omnidesk_holds_the_same_whatever_order_and_duplicates(
    stack: dict[str, Any], admin: httpx.Client
) -> None:
    _prove(stack, admin, "omnidesk", _omnidesk_register, omnidesk_world.held_for)


def _demo_day(stack: dict[str, Any], admin: httpx.Client, kind: str, register: Register, held: Held) -> None:
    """`make run`'s own day, shuffled within 8 deliveries with 30 % duplicates, against in order."""
    runs = []
    for mode in ("in-order", "disordered"):
        tenant = f"demo-{kind[:4]}-{mode[:2]}-{order_world.fresh_numbers(1)[0][-6:]}"
        with _registering:
            register(stack, admin, tenant)
        numbers = order_world.fresh_numbers(order_world.DEMO_DAY_CUSTOMERS)
        rendered, originals = order_world.demo_day(numbers, seed=7 + len(runs))
        numbers = numbers[: len(originals)]
        if mode == "in-order":
            order_world.play_in_order(stack, admin, tenant, rendered)
        else:
            order_world.play_disordered(
                stack, admin, tenant, rendered, seed=7, window=WINDOW, duplicate=DUPLICATES
            )
        runs.append(order_world.canonical([held(stack, n) for n in numbers], numbers))
    assert runs[0] == runs[1], "\n".join(
        difflib.unified_diff(
            json.dumps(runs[0], ensure_ascii=False, indent=1).splitlines(),
            json.dumps(runs[1], ensure_ascii=False, indent=1).splitlines(),
            "in order",
            "reordered, duplicated",
            lineterm="",
        )
    )


def test_the_demo_day_shuffled_with_duplicates_writes_what_in_order_writes(
    stack: dict[str, Any], admin: httpx.Client
) -> None:
    demo = admin.get(f"/tenants/{stack['tenant_id']}/settings").json()["settings"]
    settings = {k: v for k, v in demo.items() if k not in ("mango", "crm", "employees")}
    crms: list[tuple[str, Register, Held]] = [
        ("amocrm", _amo_register(settings), _amo_held),
        ("megaplan", _megaplan_register, megaplan_world.held_for),
        ("omnidesk", _omnidesk_register, omnidesk_world.held_for),
        ("bpmsoft", _bpmsoft_register, bpmsoft_world.held_for),
    ]
    with ThreadPoolExecutor(len(crms)) as pool:
        list(pool.map(lambda crm: _demo_day(stack, admin, *crm), crms))
