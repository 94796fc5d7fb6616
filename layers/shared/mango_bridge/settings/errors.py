"""Validation errors as a flat list of `{"field", "message"}`, so an operator sees every problem at once.

Cross-field rules report several problems from one validator; they raise `InvalidSettings`, which carries
each problem with its path relative to the object that found it, and `validation_errors` expands them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import ValidationError

_PREFIXES = ("Value error, ", "Assertion failed, ")


class InvalidSettings(ValueError):
    """Several problems found by one cross-field rule, each as (relative path, message)."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems: list[tuple[str, str]] = list(problems)
        super().__init__("; ".join(f"{path}: {message}" if path else message for path, message in problems))


class Problems:
    """Collects problems so a validator reports all of them, not just the first."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.items.append((path, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidSettings(self.items)


def join_path(base: str, tail: str) -> str:
    """`a.b` + `c` → `a.b.c`; `a.b` + `[2].c` → `a.b[2].c`."""
    if not tail:
        return base
    if not base:
        return tail.removeprefix(".")
    return f"{base}{tail}" if tail.startswith("[") else f"{base}.{tail}"


def format_loc(loc: Iterable[int | str]) -> str:
    path = ""
    for part in loc:
        path = join_path(path, f"[{part}]" if isinstance(part, int) else str(part))
    return path


def validation_errors(error: ValidationError) -> list[dict[str, str]]:
    """Every error of a failed validation as `{"field": "a.b[2].c", "message": "…"}`, in document order."""
    result: list[dict[str, str]] = []
    for item in error.errors(include_url=False):
        base = format_loc(item["loc"])
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, InvalidSettings):
            result.extend({"field": join_path(base, path), "message": msg} for path, msg in cause.problems)
            continue
        message = item["msg"]
        for prefix in _PREFIXES:
            message = message.removeprefix(prefix)
        result.append({"field": base, "message": message})
    return result
