"""Where a call goes: the first enabled rule whose conditions all hold, then the built-in rule
«known client → responsible» (F25), else nowhere — Mango's own scheme carries on (F24).

A matching rule whose target cannot take the call (busy, not «На линии», no responsible with an
extension) sends it to the rule's fallback; without one the call is left to Mango's scheme rather
than routed somewhere it would be stranded.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from mango_bridge.routing.inputs import RoutingInputs
from mango_bridge.routing.rules import evaluate
from mango_bridge.settings.model import EmployeeMapping, Routing, RoutingAction, RoutingRule

RESPONSIBLE_RULE = "known client → responsible"
"""The built-in rule of «Распределять вызовы от клиентов по ответственным сотрудникам» (F25)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ConditionCheck(_Frozen):
    source: str
    field: str
    operator: str
    value: str | None
    actual: str | list[str] | None
    result: Literal["true", "false", "unknown"]
    note: str = ""


class RuleCheck(_Frozen):
    rule: str
    matched: bool
    unknown: bool = False
    pending: bool = False
    conditions: list[ConditionCheck] = []
    note: str = ""


class RouteDecision(_Frozen):
    """What was decided and why, recorded on the call."""

    outcome: Literal["route", "no_route", "wait"]
    rule: str | None = None
    target: str | None = None
    target_kind: Literal["number", "extension", "group", "responsible"] | None = None
    used_fallback: bool = False
    display_name: str | None = None
    reason: str
    checks: list[RuleCheck] = []


def _check_rule(rule: RoutingRule, inputs: RoutingInputs) -> RuleCheck:
    checks: list[ConditionCheck] = []
    matched, unknown, pending = True, False, False
    for condition in rule.conditions:
        evaluated = evaluate(condition, inputs)
        actual = evaluated.actual
        checks.append(
            ConditionCheck(
                source=condition.source,
                field=condition.field,
                operator=condition.operator,
                value=condition.value,
                actual=list(actual) if isinstance(actual, tuple) else actual,
                result=evaluated.truth,
                note=evaluated.note,
            )
        )
        if evaluated.truth == "false":
            return RuleCheck(rule=rule.name, matched=False, conditions=checks)
        if evaluated.truth == "unknown":
            matched, unknown, pending = False, True, pending or evaluated.pending
    return RuleCheck(rule=rule.name, matched=matched, unknown=unknown, pending=pending, conditions=checks)


def _employee(employees: list[EmployeeMapping], extension: str) -> EmployeeMapping | None:
    return next((e for e in employees if e.extension == extension), None)


def _unavailable(extension: str, inputs: RoutingInputs, employees: list[EmployeeMapping], cc: bool) -> str:
    """Why this employee cannot take the call now, or "" when they can (or it is not an employee)."""
    if _employee(employees, extension) is None:
        return ""
    if inputs.presence.is_busy(extension):
        return f"extension {extension} is busy (on another call)"
    if cc and inputs.presence.is_on_line(extension) is False:
        status = inputs.presence.statuses.get(extension, "")
        return f"extension {extension} is not «На линии» (status «{status}»)"
    return ""


def _responsible_extension(
    inputs: RoutingInputs, employees: list[EmployeeMapping]
) -> tuple[str | None, str | None, str]:
    """(extension, name, why-not) of the first client's first responsible who can be one (F25)."""
    client = inputs.crm.client
    if inputs.crm.status in ("unavailable", "not_consulted"):
        return None, None, f"the CRM was not consulted in time ({inputs.crm.detail or inputs.crm.status})"
    if client is None:
        return None, None, "no client with the caller's number in the CRM"
    facts = inputs.crm.facts
    for user_id in client.responsible_user_ids:
        user = facts.user(user_id) if facts else None
        if user is not None and not user.can_be_responsible:
            continue
        employee = next((e for e in employees if e.crm_user_id == user_id and not e.ignore_calls), None)
        if employee is not None:
            return employee.extension, employee.name or (user.name if user else None), ""
        return None, None, f"the client's responsible (CRM user {user_id}) has no extension in employees"
    return None, None, "the client has no responsible who is not blocked"


def _resolve(
    rule_name: str,
    action: RoutingAction,
    inputs: RoutingInputs,
    routing: Routing,
    employees: list[EmployeeMapping],
    checks: list[RuleCheck],
) -> RouteDecision:
    cc = routing.contact_centre_statuses
    display: str | None = None
    if action.kind == "responsible":
        target, display, problem = _responsible_extension(inputs, employees)
    else:
        target, problem = action.target, ""
    if target is not None and action.kind in ("extension", "responsible"):
        problem = _unavailable(target, inputs, employees, cc)
    if not problem and target is not None:
        return RouteDecision(
            outcome="route",
            rule=rule_name,
            target=target,
            target_kind=action.kind,
            display_name=display,
            reason=f"rule «{rule_name}» matched: route to {action.kind} {target}",
            checks=checks,
        )
    if action.fallback:
        fallback_problem = _unavailable(action.fallback, inputs, employees, cc)
        if not fallback_problem:
            return RouteDecision(
                outcome="route",
                rule=rule_name,
                target=action.fallback,
                target_kind="number" if _employee(employees, action.fallback) is None else "extension",
                used_fallback=True,
                reason=f"rule «{rule_name}» matched but {problem}: route to the fallback {action.fallback}",
                checks=checks,
            )
        problem = f"{problem}; the fallback: {fallback_problem}"
    return RouteDecision(
        outcome="no_route",
        rule=rule_name,
        reason=f"rule «{rule_name}» matched but {problem}: Mango's own scheme handles the call",
        checks=checks,
    )


def decide(routing: Routing, employees: list[EmployeeMapping], inputs: RoutingInputs) -> RouteDecision:
    checks: list[RuleCheck] = []
    for rule in routing.rules:
        if not rule.enabled:
            checks.append(RuleCheck(rule=rule.name, matched=False, note="disabled"))
            continue
        check = _check_rule(rule, inputs)
        checks.append(check)
        if check.matched:
            return _resolve(rule.name, rule.action, inputs, routing, employees, checks)
        if check.unknown:
            # First match wins: a rule that may still match keeps every rule below it from acting.
            unknown = next(c for c in check.conditions if c.result == "unknown")
            if check.pending:
                return RouteDecision(
                    outcome="wait",
                    rule=rule.name,
                    reason=f"rule «{rule.name}» waits: {unknown.note}",
                    checks=checks,
                )
            return RouteDecision(
                outcome="no_route",
                rule=rule.name,
                reason=f"rule «{rule.name}» could not be checked ({unknown.note}): Mango's own scheme "
                "handles the call",
                checks=checks,
            )
    if routing.route_to_responsible:
        action = RoutingAction(kind="responsible")
        extension, _, problem = _responsible_extension(inputs, employees)
        if extension is not None or inputs.crm.client is not None:
            checks.append(RuleCheck(rule=RESPONSIBLE_RULE, matched=True))
            return _resolve(RESPONSIBLE_RULE, action, inputs, routing, employees, checks)
        checks.append(RuleCheck(rule=RESPONSIBLE_RULE, matched=False, note=problem))
    return RouteDecision(
        outcome="no_route",
        reason="no rule matched: Mango's own scheme handles the call",
        checks=checks,
    )


def uses_crm(routing: Routing) -> bool:
    """Whether any decision for this tenant may read the CRM (so the lookup is worth starting)."""
    return routing.route_to_responsible or any(
        condition.source == "crm" for rule in routing.rules if rule.enabled for condition in rule.conditions
    )


def is_enabled(routing: Routing) -> bool:
    return routing.route_to_responsible or any(rule.enabled for rule in routing.rules)


def applies_to_line(routing: Routing, line: str | None) -> bool:
    """Empty `lines` means every line; otherwise the call's line must be listed (digits compared)."""
    if not routing.lines:
        return True
    if not line:
        return False
    wanted = "".join(ch for ch in line if ch.isdigit()) or line
    return any(("".join(ch for ch in item if ch.isdigit()) or item) == wanted for item in routing.lines)
