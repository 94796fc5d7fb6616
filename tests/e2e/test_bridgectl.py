"""bridgectl against the running local stack, the way an operator works: files in, tables out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox.mango import player
from tests.e2e.tenant_world import deliver

ROOT = Path(__file__).resolve().parents[2]


def bridgectl(
    stack_file: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "bridgectl", "--stack", str(stack_file), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def stack_file(stack: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ctl") / "stack.json"
    path.write_text(json.dumps(stack))
    return path


@pytest.fixture(scope="module")
def own_tenant(stack_file: Path) -> str:
    """A tenant of this module's own, so its settings changes cannot change other tests' calls."""
    result = bridgectl(
        stack_file,
        "tenants",
        "register",
        "ctl-settings",
        "--api-key",
        "ctlsettingskey00",
        "--salt",
        "ctlsettingssalt0",
    )
    assert result.returncode == 0, result.stderr
    return "ctl-settings"


def test_settings_patch_from_yaml_then_get(stack_file: Path, own_tenant: str, tmp_path: Path) -> None:
    patch = tmp_path / "patch.yaml"
    patch.write_text("disable_leads: true\ndurations:\n  min_answered_seconds: 7\n", encoding="utf-8")
    result = bridgectl(stack_file, "settings", "patch", own_tenant, str(patch))
    assert result.returncode == 0, result.stderr
    assert "saved: version" in result.stdout
    shown = bridgectl(stack_file, "--format", "json", "settings", "get", own_tenant)
    settings = json.loads(shown.stdout)
    assert settings["disable_leads"] is True
    assert settings["durations"]["min_answered_seconds"] == 7


def test_invalid_settings_file_lists_every_problem(
    stack_file: Path, stack: dict[str, Any], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "durations:\n  min_answered_seconds: -5\nline_filter:\n  enabled: maybe\n", encoding="utf-8"
    )
    result = bridgectl(stack_file, "settings", "patch", stack["tenant_id"], str(bad))
    assert result.returncode == 2
    assert "durations.min_answered_seconds" in result.stderr
    assert "line_filter.enabled" in result.stderr


def test_calls_list_prints_the_journal(stack_file: Path, stack: dict[str, Any]) -> None:
    rendered = player.render(player.load_scenario("incoming-answered"), base_time=1_763_800_000, seed=4242)
    deliver(stack, stack["tenant_id"], rendered.deliveries)
    day = "2025-11-22"
    result = bridgectl(stack_file, "calls", "list", stack["tenant_id"], "--date", day)
    assert result.returncode == 0, result.stderr
    assert "incoming" in result.stdout and "answered" in result.stdout
    (entry_id,) = rendered.entry_ids.values()
    one = bridgectl(stack_file, "calls", "get", stack["tenant_id"], entry_id, "--raw-events")
    detail = json.loads(one.stdout)
    assert detail["entry_id"] == entry_id
    assert len(detail["events"]) == len(rendered.deliveries)


def test_crm_connect_with_a_long_lived_token_then_check(stack_file: Path, stack: dict[str, Any]) -> None:
    import httpx

    token = httpx.post(
        f"{stack['amocrm_url']}/_sandbox/tokens", json={"long_lived": True, "ttl_seconds": 86400}, timeout=10
    ).json()["access_token"]
    # bridgectl writes the token to Secrets Manager itself: point it at the stack's moto.
    aws = {
        "AWS_ENDPOINT_URL": stack["moto_url"],
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "eu-central-1",
    }
    connect = (
        "crm",
        "connect-amocrm",
        "ctl-amo",
        "--url",
        stack["amocrm_url"],
        "--long-lived-token",
        token,
        "--secrets-prefix",
        "mango-bridge/local/",
    )
    refused = bridgectl(stack_file, *connect, env=aws)
    assert refused.returncode == 2 and "does not exist" in refused.stderr  # register the tenant first
    registered = bridgectl(
        stack_file,
        "tenants",
        "register",
        "ctl-amo",
        "--api-key",
        "ctlamokey000000",
        "--salt",
        "ctlamosalt00000",
    )
    assert registered.returncode == 0, registered.stderr
    connected = bridgectl(stack_file, *connect, env=aws)
    assert connected.returncode == 0, connected.stderr + connected.stdout
    assert "OK:" in connected.stdout
    check = bridgectl(stack_file, "crm", "check", "ctl-amo")
    assert check.returncode == 0 and check.stdout.startswith("OK:")


def test_refused_payloads_are_listed_and_reposted_signed(stack_file: Path, stack: dict[str, Any]) -> None:
    import httpx

    from mango_bridge.mango.signature import sign

    key, salt = "ctlrejectkey000", "ctlrejectsalt00"
    registered = bridgectl(stack_file, "tenants", "register", "ctl-reject", "--api-key", key, "--salt", salt)
    assert registered.returncode == 0, registered.stderr
    malformed = '{"entry_id": "RS1", "call_id": "c1", "seq": "not a number"}'
    form = {"vpbx_api_key": key, "sign": sign(key, malformed, salt), "json": malformed}
    refused = httpx.post(f"{stack['front_url']}/mango/ctl-reject/events/call", data=form, timeout=10)
    assert refused.status_code == 400

    listed = bridgectl(stack_file, "rejected", "list", "ctl-reject")
    assert listed.returncode == 0 and "events/call" in listed.stdout, listed.stderr
    # Signed with the tenant's salt, ingest reads it again (and refuses it again: nothing was fixed).
    again = bridgectl(stack_file, "rejected", "repost", "ctl-reject", "--salt", salt)
    assert again.returncode == 1 and "events/call: HTTP 400" in again.stdout, again.stdout + again.stderr
    wrong = bridgectl(stack_file, "rejected", "repost", "ctl-reject", "--salt", "not-the-salt-0")
    assert "HTTP 403" in wrong.stdout

    rotated = bridgectl(stack_file, "tenants", "rotate-salt", "ctl-reject", "--salt", "ctlrejectsalt01")
    assert rotated.returncode == 0, rotated.stderr
    shown = json.loads(bridgectl(stack_file, "--format", "json", "tenants", "get", "ctl-reject").stdout)
    assert shown["mango"]["api_key"] == key
