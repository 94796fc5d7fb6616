"""What every end-to-end test does to follow calls into a CRM sandbox of the local stack, whichever the
CRM: a tenant of its own (the CRM credentials in moto's Secrets Manager, the settings through the admin
API, as an operator connects a CRM), Mango scenarios posted to that tenant's ingest URL, and waiting until
the post-call work of the calls played is done. The `<kind>_world` modules add what each CRM holds."""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import httpx

from sandbox.mango import player
from sandbox.mango.scenario import Scenario

_numbers = itertools.count(1)


def number_maker(prefix: str) -> Callable[[], str]:
    """Customer numbers no earlier run or other test used, so that what a CRM holds for one is this
    test's alone; one counter for every prefix keeps them apart across CRMs too."""

    def fresh_number() -> str:
        return f"{prefix}{int(time.time()) % 1000:03d}{next(_numbers):04d}"

    return fresh_number


def digits(number: Any, *, last: int | None = 10) -> str:
    """The digits of a phone number, by default its last ten: +7, 7 and 8 in front are the same number."""
    found = "".join(ch for ch in str(number or "") if ch.isdigit())
    return found[-last:] if last else found


def aws(stack: dict[str, Any], service: str) -> Any:
    """A boto3 client on the stack's own AWS: DynamoDB Local for `dynamodb`, moto for the rest."""
    endpoint = stack["dynamodb"]["url"] if service == "dynamodb" else stack["moto_url"]
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="eu-central-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def put_crm_secret(stack: dict[str, Any], tenant: str, credentials: dict[str, Any]) -> str:
    """The tenant's CRM credentials where the bridge reads them (created, or replaced when a test runs
    again against the same stack); returns the secret's name."""
    secrets = aws(stack, "secretsmanager")
    name = f"mango-bridge/local/tenants/{tenant}/crm"
    secret = json.dumps(credentials)
    try:
        secrets.create_secret(Name=name, SecretString=secret)
    except secrets.exceptions.ResourceExistsException:
        secrets.put_secret_value(SecretId=name, SecretString=secret)
    return name


def register_tenant(
    stack: dict[str, Any],
    admin: httpx.Client,
    tenant: str,
    *,
    kind: str,
    credentials: dict[str, Any],
    employees: list[dict[str, Any]],
    settings: dict[str, Any],
) -> str:
    """A tenant on the `kind` CRM sandbox of the stack, with the stack's Mango and these settings."""
    body = {
        "mango": {"api_key": stack["mango"]["api_key"], "api_base_url": stack["mango"]["api_url"]},
        "mango_api_salt": stack["mango"]["api_salt"],
        "employees": employees,
        "crm": {
            "kind": kind,
            "url": stack["crm_urls"][kind],
            "credentials": {"secret_name": put_crm_secret(stack, tenant, credentials)},
        },
        **settings,
    }
    response = admin.put(f"/tenants/{tenant}", json=body)
    assert response.status_code in (200, 201), response.text
    return tenant


def register_amocrm_tenant(
    stack: dict[str, Any],
    admin: httpx.Client,
    tenant: str,
    *,
    employees: list[dict[str, Any]],
    settings: dict[str, Any],
) -> str:
    """A tenant on the amoCRM sandbox with a long-lived token of its own (kept in Secrets Manager)."""
    with httpx.Client(base_url=stack["amocrm_url"], timeout=30, trust_env=False) as amo:
        token = amo.post("/_sandbox/tokens", json={"long_lived": True}).json()["access_token"]
    return register_tenant(
        stack,
        admin,
        tenant,
        kind="amocrm",
        credentials={"access_token": token, "base_url": stack["amocrm_url"]},
        employees=employees,
        settings=settings,
    )


def ingest_url(stack: dict[str, Any], tenant: str) -> str:
    return f"{stack['front_url']}/mango/{tenant}/"


def register_recordings(stack: dict[str, Any], deliveries: Sequence[player.Delivery]) -> None:
    """The Mango sandbox told which recordings the calls have, so that downloading them works."""
    with httpx.Client(trust_env=False) as http:
        player.register_recordings(http, stack["mango"]["api_url"], player.ready_recording_ids(deliveries))


def deliver(stack: dict[str, Any], tenant: str, deliveries: Sequence[player.Delivery]) -> None:
    """Mango's notifications posted, signed, to the tenant's ingest URL; every one must be accepted."""
    statuses = player.post(
        deliveries,
        to_url=ingest_url(stack, tenant),
        api_key=stack["mango"]["api_key"],
        api_salt=stack["mango"]["api_salt"],
    )
    assert set(statuses) == {200}, statuses


def play(
    stack: dict[str, Any],
    tenant: str,
    scenario: str | Path | Scenario,
    number: str | None = None,
    *,
    seed: int,
    var: str = "caller",
    variables: dict[str, Any] | None = None,
    base_time: int | None = None,
    tracking_number: str | None = None,
    **reorder: Any,
) -> player.Rendered:
    """One Mango scenario (a bundled name or a story) with `number` as its `var`, posted to the tenant's
    ingest URL, its notifications reordered as `reorder` says (Mango's parallel senders); with
    `tracking_number`, every leg carries Mango's dynamic call-tracking block (`dct.type` 1)."""
    loaded = scenario if isinstance(scenario, Scenario) else player.load_scenario(scenario)
    values = {**loaded.vars, **(variables or {}), **({var: number} if number is not None else {})}
    loaded = loaded.model_copy(update={"vars": values})
    rendered = player.render(loaded, base_time=base_time or int(time.time()) - 3600, seed=seed)
    deliveries = player.reorder(rendered.deliveries, seed=seed, **reorder)
    if tracking_number:
        deliveries = [_with_tracking(d, tracking_number) for d in deliveries]
    register_recordings(stack, deliveries)
    deliver(stack, tenant, deliveries)
    return rendered


def _with_tracking(delivery: player.Delivery, number: str) -> player.Delivery:
    data = delivery.data
    if "dct" not in data:
        return delivery
    data["dct"] = {"type": 1, "number": number}
    return dataclasses.replace(delivery, json_text=json.dumps(data, ensure_ascii=False))


def play_in_order(stack: dict[str, Any], admin: httpx.Client, tenant: str, rendered: player.Rendered) -> None:
    """A rendered day posted call by call, each landed before the next: callbacks find earlier calls."""
    register_recordings(stack, rendered.deliveries)
    for entry in dict.fromkeys(d.entry for d in rendered.deliveries):
        deliver(stack, tenant, [d for d in rendered.deliveries if d.entry == entry])
        wait_until_done(admin, tenant, {rendered.entry_ids[entry]})


def call_detail(admin: httpx.Client, tenant: str, entry_id: str) -> dict[str, Any]:
    return admin.get(f"/tenants/{tenant}/calls/{quote(entry_id, safe='')}").json()


def crm_status(admin: httpx.Client, tenant: str, entry_id: str) -> str | None:
    return (call_detail(admin, tenant, entry_id).get("crm") or {}).get("status")


def wait_until_done(
    admin: httpx.Client, tenant: str, entry_ids: Iterable[str], timeout: float = 120.0
) -> None:
    """Waits until the post-call work of every call is done; a call that is not names its CRM state."""
    deadline = time.monotonic() + timeout
    pending = set(entry_ids)
    while pending:
        pending = {e for e in pending if crm_status(admin, tenant, e) != "done"}
        if not pending:
            return
        if time.monotonic() > deadline:
            details = {e: call_detail(admin, tenant, e).get("crm") for e in pending}
            raise AssertionError(f"calls not done in {timeout} s: {details}")
        time.sleep(0.3)


def landed(admin: httpx.Client, tenant: str, *played: player.Rendered, timeout: float = 120.0) -> None:
    """Waits until the post-call work of every call played is done (the next call's facts must see
    what these left in the CRM, as they would minutes later in real life)."""
    wait_until_done(admin, tenant, {e for rendered in played for e in rendered.entry_ids.values()}, timeout)


def eventually(check: Callable[[], Any], timeout: float = 90.0) -> Any:
    """`check`'s first truthy answer, or its last answer once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)
