"""The connection check's answers (F41) that every CRM words alike: the CRM limits requests, or does not
answer at the address the operator gave."""

from __future__ import annotations

from mango_bridge.crm.port import ConnectionCheck


def rate_limited(crm: str, *, feminine: bool = False) -> ConnectionCheck:
    """`crm` as the operator's screen names it; the verb agrees with it («amoCRM ограничила»)."""
    verb = "ограничила" if feminine else "ограничил"
    return ConnectionCheck(ok=False, message=f"{crm} {verb} частоту запросов: проверьте подключение позже")


def not_answering(crm: str, base_url: str, *, check: str = "адрес") -> ConnectionCheck:
    """`check` is what the operator should look at, as the connection form labels it."""
    return ConnectionCheck(
        ok=False, message=f"{crm} не отвечает по адресу {base_url}: проверьте {check} или повторите позже"
    )
