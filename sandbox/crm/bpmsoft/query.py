"""OData 4 query options as BPMSoft's OData service reads them: `$filter`, `$select`, `$expand`,
`$orderby`, `$top`, `$skip`, `$count`.

`$filter` supports comparisons (`eq ne gt ge lt le`), `and`/`or`/`not`, parentheses, the string
functions `contains`, `startswith`, `endswith`, `tolower`, `toupper`, literals ('text' with '' for a
quote, numbers, unquoted GUIDs, true/false/null) and lookup paths (`Contact/Id`, `QualifyStatus/IsFinal`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]
Resolve = Callable[[Row, list[str]], Any]
"""Reads a path (`Name`, `Contact/Name`) from a row, following lookups."""


class QueryError(ValueError):
    """A query option the service cannot read; answered 400 with the OData error envelope."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?![\w-])
      | (?P<string>'(?:[^']|'')*')
      | (?P<number>-?\d+(?:\.\d+)?)(?![\w.])
      | (?P<punct>[(),/])
      | (?P<word>[A-Za-z_$][\w$]*)
    )""",
    re.VERBOSE,
)
COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
FUNCTIONS = {"contains", "startswith", "endswith", "tolower", "toupper"}


def tokens(text: str) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise QueryError(f"Syntax error at position {position} in '{text}'.")
        position = match.end()
        kind = match.lastgroup
        value = match.group(kind or "")
        if kind == "string":
            found.append(("literal", value[1:-1].replace("''", "'")))
        elif kind == "number":
            found.append(("literal", float(value) if "." in value else int(value)))
        elif kind == "guid":
            found.append(("literal", value.lower()))
        elif kind == "word" and value in ("true", "false"):
            found.append(("literal", value == "true"))
        elif kind == "word" and value == "null":
            found.append(("literal", None))
        else:
            found.append((kind or "", value))
    return found


@dataclass
class _Parser:
    items: list[tuple[str, Any]]
    at: int = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.items[self.at] if self.at < len(self.items) else None

    def take(self) -> tuple[str, Any]:
        item = self.peek()
        if item is None:
            raise QueryError("The $filter expression ends too early.")
        self.at += 1
        return item

    def expect(self, value: str) -> None:
        _kind, got = self.take()
        if got != value:
            raise QueryError(f"Expected '{value}' in $filter, found '{got}'.")

    def word(self, *values: str) -> str | None:
        item = self.peek()
        if item and item[0] == "word" and item[1] in values:
            self.at += 1
            return str(item[1])
        return None

    def expression(self) -> tuple:
        node = self.conjunction()
        while self.word("or"):
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> tuple:
        node = self.negation()
        while self.word("and"):
            node = ("and", node, self.negation())
        return node

    def negation(self) -> tuple:
        if self.word("not"):
            return ("not", self.negation())
        left = self.primary()
        op = self.word(*COMPARISONS)
        if op:
            return ("cmp", op, left, self.primary())
        return left

    def primary(self) -> tuple:
        kind, value = self.take()
        if kind == "punct" and value == "(":
            node = self.expression()
            self.expect(")")
            return node
        if kind == "literal":
            return ("lit", value)
        if kind == "word":
            nxt = self.peek()
            if value.lower() in FUNCTIONS and nxt == ("punct", "("):
                self.take()
                args = [self.expression()]
                while self.peek() == ("punct", ","):
                    self.take()
                    args.append(self.expression())
                self.expect(")")
                return ("fn", value.lower(), args)
            path = [value]
            while self.peek() == ("punct", "/"):
                self.take()
                kind, part = self.take()
                if kind != "word":
                    raise QueryError(f"Expected a property name after '/' in $filter, found '{part}'.")
                path.append(part)
            return ("path", path)
        raise QueryError(f"Unexpected '{value}' in $filter.")


def parse_filter(text: str) -> tuple:
    parser = _Parser(tokens(text))
    node = parser.expression()
    if parser.peek() is not None:
        raise QueryError(f"Unexpected '{parser.peek()[1]}' in $filter.")  # type: ignore[index]
    return node


def evaluate(node: tuple, row: Row, resolve: Resolve) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "path":
        return resolve(row, node[1])
    if kind == "and":
        return bool(evaluate(node[1], row, resolve)) and bool(evaluate(node[2], row, resolve))
    if kind == "or":
        return bool(evaluate(node[1], row, resolve)) or bool(evaluate(node[2], row, resolve))
    if kind == "not":
        return not evaluate(node[1], row, resolve)
    if kind == "cmp":
        return _compare(node[1], evaluate(node[2], row, resolve), evaluate(node[3], row, resolve))
    if kind == "fn":
        args = [evaluate(arg, row, resolve) for arg in node[2]]
        return _function(node[1], args)
    raise QueryError(f"cannot evaluate {kind}")


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) and _looks_guid(value) else value


def _looks_guid(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", value))


def _compare(op: str, left: Any, right: Any) -> bool:
    left, right = _norm(left), _norm(right)
    if op == "eq":
        return left == right
    if op == "ne":
        return left != right
    if left is None or right is None:
        return False
    try:
        return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]
    except TypeError as error:
        raise QueryError(f"Cannot compare {left!r} and {right!r} with '{op}'.") from error


def _function(name: str, args: list[Any]) -> Any:
    if name in ("tolower", "toupper"):
        (value,) = args
        if value is None:
            return None
        return str(value).lower() if name == "tolower" else str(value).upper()
    if len(args) != 2:
        raise QueryError(f"The function '{name}' takes two arguments.")
    text, part = args
    if text is None or part is None:
        return False
    text, part = str(text), str(part)
    if name == "contains":
        return part in text
    if name == "startswith":
        return text.startswith(part)
    return text.endswith(part)


@dataclass
class Expand:
    """One `$expand` item: the lookup and its nested options."""

    name: str
    select: list[str] | None = None
    expand: list[Expand] = field(default_factory=list)


def split_top(text: str) -> list[str]:
    """Split by commas outside parentheses and quotes."""
    parts, depth, current, quoted = [], 0, [], False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        if not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def parse_select(text: str | None) -> list[str] | None:
    if text is None or not text.strip() or text.strip() == "*":
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_expand(text: str | None) -> list[Expand]:
    if not text:
        return []
    found: list[Expand] = []
    for part in split_top(text):
        match = re.fullmatch(r"([A-Za-z_]\w*)\s*(?:\((.*)\))?", part, re.S)
        if match is None:
            raise QueryError(f"Cannot read $expand item '{part}'.")
        item = Expand(match.group(1))
        for option in split_top_semicolon(match.group(2) or ""):
            key, _, value = option.partition("=")
            key = key.strip()
            if key == "$select":
                item.select = parse_select(value)
            elif key == "$expand":
                item.expand = parse_expand(value)
            elif key:
                raise QueryError(f"The nested option '{key}' is not supported in $expand.")
        found.append(item)
    return found


def split_top_semicolon(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == ";" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def parse_orderby(text: str | None) -> list[tuple[str, bool]]:
    """`CreatedOn desc, Name` → [("CreatedOn", True), ("Name", False)]."""
    if not text:
        return []
    order = []
    for part in text.split(","):
        bits = part.split()
        if not bits or len(bits) > 2 or (len(bits) == 2 and bits[1].lower() not in ("asc", "desc")):
            raise QueryError(f"Cannot read $orderby item '{part.strip()}'.")
        order.append((bits[0], len(bits) == 2 and bits[1].lower() == "desc"))
    return order


def non_negative(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise QueryError(
            f"Invalid value '{text}' for {option} query option: a non-negative integer is expected."
        )
    return int(text)
