"""`make run --crm bpmsoft`: the demo tenant's BPMSoft settings are valid tenant settings, its employees
exist in the sandbox as users, and the printout shows the calls and what they created."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from mango_bridge.crm.bpmsoft import BpmSoftAdapter, BpmSoftClient, StaticCredentials
from mango_bridge.settings.model import TenantSettings
from sandbox.crm.bpmsoft import DEFAULT_LOGIN, DEFAULT_PASSWORD, BpmSoftSandbox
from sandbox.crm.bpmsoft.demo import connect, render
from sandbox.stack.stack import DEMO_EMPLOYEES


def test_connect_gives_valid_settings_for_users_the_sandbox_has(aws: Any) -> None:
    with BpmSoftSandbox(port=0) as sandbox:
        fragment = connect(SimpleNamespace(crm_sandboxes={"bpmsoft": sandbox}), "demo")
        connect(SimpleNamespace(crm_sandboxes={"bpmsoft": sandbox}), "demo")  # a second run is harmless
        settings = TenantSettings.model_validate({"mango": {"api_key": "demokey0123"}, **fragment})
        assert settings.crm is not None and settings.crm.url == sandbox.url
        assert [e.extension for e in settings.employees] == [e["extension"] for e in DEMO_EMPLOYEES]
        adapter = BpmSoftAdapter(
            BpmSoftClient(sandbox.url, StaticCredentials(DEFAULT_LOGIN, DEFAULT_PASSWORD))
        )
        users = {u.id: u.name for u in adapter.facts(None).users}
        assert all(users[e.crm_user_id] == e.name for e in settings.employees)
        assert settings.new_number.answered_incoming.create == ["contact", "company", "lead"]
        assert adapter.check_connection().ok


def test_render_shows_calls_and_created_records() -> None:
    with BpmSoftSandbox(port=0) as sandbox:
        sandbox.seed(users=[{"id": "0f5d5e0e-0000-4000-8000-000000000001", "name": "Анна"}])
        contact = sandbox.seed(
            Contact=[
                {
                    "Name": "Auto #79161234567",
                    "MobilePhone": "+79161234567",
                    "OwnerId": "0f5d5e0e-0000-4000-8000-000000000001",
                }
            ]
        )["Contact"][0]
        sandbox.seed(
            Call=[
                {
                    "CallerId": "+79161234567",
                    "CalledId": "101",
                    "Duration": 95,
                    "ContactId": contact,
                    "StartDate": "2026-03-05T08:40:00Z",
                    "DirectionId": "1d96a65f-2131-4916-8825-2d142b1000b2",
                    "UsrMcbRecordLinks": "https://bridge.test/r/1",
                }
            ]
        )
        text = render(sandbox.state())
    assert (
        "Входящий" in text and "+79161234567" in text and "Auto #79161234567" in text and "▶ запись" in text
    )
    assert "ответственный: Анна" in text
