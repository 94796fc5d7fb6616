"""Running a BPMSoft tenant's rule table for a finished call: who took it, in which role, for which
client, then the interpreter. Pure: the backend is handed in."""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping

from mango_bridge.calls.model import CallAggregate
from mango_bridge.policy.responsibles import Binding, bind_employee, prefer_employee
from mango_bridge.role_rules.backend import Entity, RuleCall, RulesBackend
from mango_bridge.role_rules.history import History
from mango_bridge.role_rules.interpreter import MAX_STEPS, interpret
from mango_bridge.settings.model import TenantSettings


def client_number(call: CallAggregate) -> str | None:
    """The client's side of the call: the callee of an outgoing call, the caller otherwise."""
    party = call.callee if call.direction == "outgoing" else call.caller
    return party.e164 or party.number


def operator_user_id(call: CallAggregate, settings: TenantSettings) -> str | None:
    """The CRM user who took the call: the dialling employee of an outgoing call, else the first
    employee who talked, else (a missed call) the first one it rang; mapped employees before the
    «Сохранять все звонки» stand-in, ignored employees never."""
    extensions: list[str] = []
    if call.direction == "outgoing" and call.caller.extension:
        extensions.append(call.caller.extension)
    extensions.extend(call.talked_extensions)
    rang = sorted(
        (leg for leg in call.legs if leg.extension), key=lambda leg: (leg.appeared_at or 0, leg.last_seq)
    )
    extensions.extend(leg.extension for leg in rang if leg.extension)
    bindings = [
        b for ext in dict.fromkeys(extensions) if isinstance(b := bind_employee(ext, settings), Binding)
    ]
    chosen = prefer_employee(bindings)
    return chosen.user_id if chosen else None


def rule_call(call: CallAggregate, settings: TenantSettings, roles: Iterable[str] = ()) -> RuleCall | None:
    """The call as the rules see it; None for a call without a client (internal, unknown)."""
    if call.direction not in ("incoming", "outgoing"):
        return None
    return RuleCall(
        entry_id=call.entry_id,
        direction=call.direction,
        client_number=client_number(call),
        operator_user_id=operator_user_id(call, settings),
        roles=frozenset(role.strip() for role in roles if role and role.strip()),
        line_number=call.line_number,
        answered=call.answered,
    )


def run_role_rules(
    call: CallAggregate,
    settings: TenantSettings,
    backend: RulesBackend,
    employee_role: str | Iterable[str] | None = None,
    *,
    max_steps: int = MAX_STEPS,
    journal: MutableMapping[str, list[Entity]] | None = None,
) -> History:
    """Apply the tenant's «Настройка действий в зависимости от роли» to a finished call.

    `employee_role` is the operator's functional role (or roles); None asks the backend for the
    roles of the operator. The history is returned whatever happened; CRM errors propagate, and a
    retry given the same `journal` (`ActionHistoryStore.journal`) takes the same path.
    """
    base = rule_call(call, settings)
    if base is None:
        return History(
            status="not_applicable",
            entry_id=call.entry_id,
            direction=call.direction,
            error=f"an {call.direction} call has no client: the rules apply to incoming and outgoing calls",
        )
    if not settings.role_rules:
        return History(status="no_rules", entry_id=call.entry_id, direction=base.direction)
    if employee_role is None:
        roles: Iterable[str] = (
            backend.functional_roles(base.operator_user_id) if base.operator_user_id else ()
        )
    elif isinstance(employee_role, str):
        roles = (employee_role,)
    else:
        roles = employee_role
    prepared = rule_call(call, settings, roles)
    assert prepared is not None
    return interpret(settings.role_rules, prepared, backend, max_steps=max_steps, journal=journal)
