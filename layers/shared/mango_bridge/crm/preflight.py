"""«Проверить подключение» grown into a read-only probe of every assumption the tenant's settings make
about the CRM account (F41): the login and what the account allows (the adapter's own check), the
employees mapped to CRM users that exist and are not dismissed (F43), and the pipelines and statuses
the settings name. Each feature answers works / will not work and why, in plain Russian for the
operator. Nothing is written to the CRM: only the adapter's GETs run.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from mango_bridge.crm.port import CrmAdapter
from mango_bridge.policy.facts import CrmUser
from mango_bridge.settings.model import CreateAction, RepeatAction, TenantSettings

Verdict = Literal["works", "fails", "unchecked"]


class FeatureCheck(BaseModel):
    feature: str = Field(description="What the operator set up, as the settings form names it")
    verdict: Verdict
    message: str


class Preflight(BaseModel):
    ok: bool = Field(description="The connection works and no feature the settings use will fail")
    message: str = Field(description="The adapter's own connection check, in plain words")
    features: list[FeatureCheck] = Field(default_factory=list)


def preflight(adapter: CrmAdapter, settings: TenantSettings) -> Preflight:
    connection = adapter.check_connection()
    if not connection.ok:
        return Preflight(ok=False, message=connection.message)
    features = [*_employees(adapter, settings), *_pipelines(adapter, settings)]
    return Preflight(
        ok=not any(check.verdict == "fails" for check in features),
        message=connection.message,
        features=features,
    )


def _users(adapter: CrmAdapter) -> dict[str, CrmUser]:
    return {user.id: user for user in adapter.facts(None).users}


def _user_problem(user_id: str, users: dict[str, CrmUser]) -> str | None:
    user = users.get(user_id)
    if user is None:
        return f"пользователя {user_id} нет в CRM"
    if not user.can_be_responsible:
        return f"пользователь {user.name or user_id} уволен или заблокирован"
    return None


def _employees(adapter: CrmAdapter, settings: TenantSettings) -> list[FeatureCheck]:
    """«Сопоставление сотрудников» and the fallback responsibles: every CRM user they name."""
    users = _users(adapter)
    problems = [
        f"доб. {row.extension}: {problem}"
        for row in settings.employees
        if row.crm_user_id and (problem := _user_problem(row.crm_user_id, users))
    ]
    checks = [
        FeatureCheck(
            feature="Сопоставление сотрудников",
            verdict="fails" if problems else "works",
            message="; ".join(problems)
            if problems
            else f"все {len(settings.employees)} сотрудников сопоставлены с действующими пользователями CRM",
        )
    ]
    responsibles = settings.responsibles
    named = {
        "«Сохранять все звонки»": responsibles.save_all_calls_user,
        "«Фиксировать пропущенные в IVR»": responsibles.missed_in_ivr.crm_user_id
        if responsibles.missed_in_ivr.enabled
        else None,
        "«Указывать ответственного при пропущенных звонках в группу»": responsibles.missed_in_group.crm_user_id
        if responsibles.missed_in_group.enabled
        else None,
    }
    for feature, user_id in named.items():
        if not user_id:
            continue
        problem = _user_problem(user_id, users)
        checks.append(
            FeatureCheck(
                feature=feature,
                verdict="fails" if problem else "works",
                message=problem
                or f"ответственный {users[user_id].name or user_id} — действующий пользователь",
            )
        )
    return checks


def _pipelines(adapter: CrmAdapter, settings: TenantSettings) -> list[FeatureCheck]:
    """The pipelines (programs) and statuses the deal settings name, where the CRM lists them."""
    actions: dict[str, CreateAction | RepeatAction] = {
        "«От нового клиента» (принятые)": settings.new_number.answered_incoming,
        "«Пропущенные от нового клиента»": settings.new_number.missed_incoming,
        "«Исходящие на новый номер»": settings.new_number.outgoing,
        "«При повторном звонке» (принятые)": settings.repeat_call.answered,
        "«При повторном звонке» (пропущенные)": settings.repeat_call.missed,
    }
    named = {feature: action for feature, action in actions.items() if action.deal_program}
    if not named:
        return []
    listing = getattr(adapter, "pipeline_statuses", None)
    if listing is None:
        return [
            FeatureCheck(
                feature=feature,
                verdict="unchecked",
                message="эта CRM не отдаёт список воронок для проверки: проверьте вид процесса и статус вручную",
            )
            for feature in named
        ]
    known: dict[str, set[str]] = listing()
    checks = []
    for feature, action in named.items():
        program, status = str(action.deal_program), str(action.deal_status or "")
        verdict: Verdict
        if program not in known:
            verdict, message = "fails", f"воронки (вида процесса) {program} в CRM нет"
        elif status and status not in known[program]:
            verdict, message = "fails", f"в воронке {program} нет статуса {status}"
        else:
            verdict, message = "works", f"воронка {program}" + (f", статус {status}" if status else "")
        checks.append(FeatureCheck(feature=feature, verdict=verdict, message=message))
    return checks
