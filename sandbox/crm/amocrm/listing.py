"""Query-string conventions of amoCRM's list endpoints: `filter[...]`, `with`, `order[...]`, paging."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from werkzeug.datastructures import MultiDict

from sandbox.crm.amocrm.wire import ApiProblem

DEFAULT_LIMIT = 50
MAX_LIMIT = 250


def filter_values(args: MultiDict[str, str], name: str) -> list[str]:
    """Values of `filter[name]`, `filter[name][]` and `filter[name][N]`, in the order given."""
    pattern = re.compile(rf"^filter\[{re.escape(name)}\](\[\d*\])?$")
    return [value for key, value in args.items(multi=True) if pattern.match(key)]


def int_filter(args: MultiDict[str, str], name: str) -> list[int]:
    values = filter_values(args, name)
    try:
        return [int(value) for value in values]
    except ValueError as exc:
        raise ApiProblem(400, f"filter[{name}] must hold integers") from exc


def indexed_filter(args: MultiDict[str, str], name: str) -> list[dict[str, str]]:
    """`filter[statuses][0][pipeline_id]=…&filter[statuses][0][status_id]=…` as a list of dicts."""
    pattern = re.compile(rf"^filter\[{re.escape(name)}\]\[(\d+)\]\[(\w+)\]$")
    groups: dict[int, dict[str, str]] = {}
    for key, value in args.items(multi=True):
        match = pattern.match(key)
        if match:
            groups.setdefault(int(match.group(1)), {})[match.group(2)] = value
    return [groups[index] for index in sorted(groups)]


def with_options(args: MultiDict[str, str]) -> set[str]:
    return {part.strip() for part in args.get("with", "").split(",") if part.strip()}


def paging(args: MultiDict[str, str]) -> tuple[int, int]:
    try:
        page = int(args.get("page", 1))
        limit = int(args.get("limit", DEFAULT_LIMIT))
    except ValueError as exc:
        raise ApiProblem(400, "page and limit must be integers") from exc
    if page < 1 or limit < 1:
        raise ApiProblem(400, "page and limit must be positive")
    return page, min(limit, MAX_LIMIT)


def ordering(args: MultiDict[str, str], allowed: Iterable[str]) -> tuple[str, bool]:
    """The `order[field]=asc|desc` pair; by id ascending when absent."""
    for field in allowed:
        direction = args.get(f"order[{field}]")
        if direction is not None:
            if direction not in ("asc", "desc"):
                raise ApiProblem(400, f"order[{field}] must be asc or desc")
            return field, direction == "desc"
    return "id", False


def page_of(items: list[Any], page: int, limit: int) -> tuple[list[Any], bool]:
    start = (page - 1) * limit
    return items[start : start + limit], len(items) > start + limit


def page_links(href: str, args: MultiDict[str, str], page: int, limit: int, has_next: bool) -> dict[str, Any]:
    def with_page(number: int) -> str:
        query = [(key, value) for key, value in args.items(multi=True) if key not in ("page", "limit")]
        return f"{href}?{urlencode([*query, ('page', number), ('limit', limit)])}"

    links: dict[str, Any] = {"self": {"href": with_page(page)}}
    if has_next:
        links["next"] = {"href": with_page(page + 1)}
    if page > 1:
        links["first"] = {"href": with_page(1)}
        links["prev"] = {"href": with_page(page - 1)}
    return links
