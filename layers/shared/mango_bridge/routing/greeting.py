"""Does a line's scheme keep the caller in a greeting long enough to route? (seeds 000, 001)

Smart rules and routing to the responsible only work while the caller hears a greeting of at least
5–8 s whose «ожидать окончания» is «да», placed before the call is distributed. The bridge reads
what it can through Mango's API — `incominglines` (line → scheme) and `schemas` (the scheme's steps)
— and turns what it finds into warnings in the words of Mango's own settings page. What the API does
not show is not guessed: the warning then says what to check by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from mango_bridge.mango.errors import MangoError
from mango_bridge.settings.model import Routing

MIN_GREETING_SECONDS = 5
RECOMMENDED_GREETING_SECONDS = 8
WAIT_KEYS = ("wait_end", "wait_for_end", "wait_until_end", "wait")
DURATION_KEYS = ("duration", "length", "seconds")
KIND_KEYS = ("melody_type", "sound_type", "kind")
DISTRIBUTING_STEPS = frozenset({"dial", "group", "employee", "redirect", "forward", "queue"})

HOW_TO_FIX = (
    "Откройте Личный кабинет ВАТС → «Голосовое меню и распределение звонков» и поставьте перед "
    f"распределением звуковое приветствие длительностью не менее {MIN_GREETING_SECONDS}–"
    f"{RECOMMENDED_GREETING_SECONDS} с с признаком «ожидать окончания» = «да»."
)


class MangoApi(Protocol):
    def call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]: ...


class GreetingWarning(BaseModel):
    model_config = ConfigDict(frozen=True)

    line: str | None
    scheme: str | None
    code: Literal[
        "no_greeting", "too_short", "no_wait_for_end", "beep_or_silence", "line_unknown", "not_checked"
    ]
    message: str


def _first(step: dict[str, Any], keys: Iterable[str]) -> Any:
    return next((step[key] for key in keys if key in step), None)


def _truthy(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().casefold()
        if text in ("1", "true", "yes", "да", "on"):
            return True
        if text in ("0", "false", "no", "нет", "off"):
            return False
    return None


def _seconds(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _digits(value: Any) -> str:
    text = str(value or "")
    return "".join(ch for ch in text if ch.isdigit()) or text


def check_scheme(line: str | None, scheme: dict[str, Any]) -> list[GreetingWarning]:
    """The greeting before distribution in one scheme's steps, held against the seeds' requirements."""
    name = str(scheme.get("name") or scheme.get("id") or "?")
    where = f"Линия {line or '?'} (схема «{name}»)"
    greeting: dict[str, Any] | None = None
    for step in scheme.get("steps") or []:
        if not isinstance(step, dict):
            continue
        kind = str(step.get("type", "")).casefold()
        if kind in DISTRIBUTING_STEPS:
            break
        if kind in ("greeting", "play", "message"):
            greeting = step
            break
    if greeting is None:
        return [
            GreetingWarning(
                line=line,
                scheme=name,
                code="no_greeting",
                message=f"{where}: звонок распределяется без звукового приветствия — умные правила не успеют "
                f"сработать, звонки не будут обработаны ими. {HOW_TO_FIX}",
            )
        ]
    warnings: list[GreetingWarning] = []
    seconds = _seconds(_first(greeting, DURATION_KEYS))
    if seconds is not None and seconds < MIN_GREETING_SECONDS:
        warnings.append(
            GreetingWarning(
                line=line,
                scheme=name,
                code="too_short",
                message=f"{where}: приветствие длится {seconds:g} с — это меньше {MIN_GREETING_SECONDS} с, "
                f"правила могут не успеть сработать. {HOW_TO_FIX}",
            )
        )
    if _truthy(_first(greeting, WAIT_KEYS)) is not True:
        warnings.append(
            GreetingWarning(
                line=line,
                scheme=name,
                code="no_wait_for_end",
                message=f"{where}: у приветствия не стоит «ожидать окончания» = «да» — звонок уйдёт дальше "
                f"по схеме раньше, чем правила сработают. {HOW_TO_FIX}",
            )
        )
    kind = str(_first(greeting, KIND_KEYS) or "").casefold()
    if kind in ("beep", "гудок", "silence", "тишина"):
        warnings.append(
            GreetingWarning(
                line=line,
                scheme=name,
                code="beep_or_silence",
                message=f"{where}: приветствие — «{'Гудок' if kind in ('beep', 'гудок') else 'Тишина'}». Так "
                "работать будет, но не рекомендуется, особенно если правила смотрят на ввод DTMF: "
                "поставьте голосовое сообщение.",
            )
        )
    return warnings


def check_lines(
    routing: Routing, lines: list[dict[str, Any]], schemes: list[dict[str, Any]]
) -> list[GreetingWarning]:
    """Warnings for every line routing applies to (all the PBX's lines when `routing.lines` is empty)."""
    by_scheme = {str(s.get("id")): s for s in schemes if isinstance(s, dict)}
    wanted = [_digits(line) for line in routing.lines] or [_digits(line.get("number")) for line in lines]
    by_number = {_digits(line.get("number")): line for line in lines if isinstance(line, dict)}
    warnings: list[GreetingWarning] = []
    for number in wanted:
        line = by_number.get(number)
        if line is None:
            warnings.append(
                GreetingWarning(
                    line=number,
                    scheme=None,
                    code="line_unknown",
                    message=f"Линия {number}: такой входящей линии нет в ВАТС — проверьте список линий для "
                    "распределения.",
                )
            )
            continue
        scheme = by_scheme.get(str(line.get("schema_id")))
        if scheme is None:
            warnings.append(
                GreetingWarning(
                    line=number,
                    scheme=line.get("schema_name"),
                    code="not_checked",
                    message=f"Линия {number}: схему распределения «{line.get('schema_name') or '?'}» не удалось "
                    f"прочитать через API — проверьте её вручную. {HOW_TO_FIX}",
                )
            )
            continue
        warnings.extend(check_scheme(number, scheme))
    return warnings


def greeting_warnings(mango: MangoApi, routing: Routing) -> list[GreetingWarning]:
    """Ask Mango for the lines and schemes and check them; nothing to check when routing is off."""
    if not (routing.route_to_responsible or any(rule.enabled for rule in routing.rules)):
        return []
    try:
        lines = mango.call("incominglines", {}).get("lines") or []
    except MangoError as problem:
        return [
            GreetingWarning(
                line=None,
                scheme=None,
                code="not_checked",
                message=f"Не удалось прочитать линии ВАТС через API ({problem}): проверьте схемы вручную. "
                f"{HOW_TO_FIX}",
            )
        ]
    try:
        schemes = mango.call("schemas", {}).get("schemas") or []
    except MangoError:
        schemes = []
    return check_lines(routing, lines, schemes)
