"""«Проверить подключение» probes, read-only, every assumption the tenant's settings make about the CRM
account, and answers feature by feature in plain Russian (F41, F43; issue «Real accounts, not our
reading of them», Build 3)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from sandbox.stack.stack import DEMO_EMPLOYEES
from tests.e2e import tenant_world


def _amo_tenant(stack: dict[str, Any], admin: httpx.Client, tenant: str, **settings: Any) -> None:
    employees = [
        DEMO_EMPLOYEES[0],
        {"extension": "104", "crm_user_id": "8000004", "name": "Григорий Орлов"},  # inactive in amoCRM
        {"extension": "109", "crm_user_id": "8999999", "name": "Никто"},  # no such user
    ]
    tenant_world.register_amocrm_tenant(stack, admin, tenant, employees=employees, settings=settings)


def test_the_check_says_which_features_will_not_work_and_writes_nothing(
    stack: dict[str, Any], admin: httpx.Client, amo: httpx.Client
) -> None:
    tenant = f"preflight-{int(time.time()) % 100000}"
    _amo_tenant(
        stack,
        admin,
        tenant,
        new_number={
            "answered_incoming": {"create": ["contact", "deal"], "deal_program": "123", "deal_status": "456"}
        },
        responsibles={"missed_in_ivr": {"enabled": True, "crm_user_id": "8000001"}},
    )
    since = time.time()
    answer = admin.post(f"/tenants/{tenant}/crm/check").json()
    assert answer["ok"] is False
    assert answer["message"].startswith("Подключение к amoCRM установлено")
    by_feature = {check["feature"]: check for check in answer["features"]}
    employees = by_feature["Сопоставление сотрудников"]
    assert employees["verdict"] == "fails"
    assert "доб. 104: пользователь Григорий Орлов уволен или заблокирован" in employees["message"]
    assert "доб. 109: пользователя 8999999 нет в CRM" in employees["message"]
    assert "доб. 101" not in employees["message"]
    assert by_feature["«Фиксировать пропущенные в IVR»"]["verdict"] == "works"
    deal = by_feature["«От нового клиента» (принятые)"]
    assert (deal["verdict"], deal["message"]) == ("fails", "воронки (вида процесса) 123 в CRM нет")

    requests = amo.get("/_sandbox/state").json()["requests"]
    asked = [r for r in requests if r["at"] >= since and not r["path"].startswith("/_sandbox")]
    assert asked, "the account was asked"
    assert {r["method"] for r in asked} == {"GET"}, "the check writes nothing to the CRM"


def test_a_well_set_tenant_passes_every_feature(stack: dict[str, Any], admin: httpx.Client) -> None:
    answer = admin.post(f"/tenants/{stack['tenant_id']}/crm/check").json()
    assert answer["ok"] is True, answer
    assert answer["features"] and all(check["verdict"] == "works" for check in answer["features"]), answer
