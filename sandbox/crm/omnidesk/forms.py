"""Form-encoded request bodies as Omnidesk takes them: `case[subject]=…&case[labels][]=101`.

Omnidesk's docs show this shape for cases with files (omnidesk.ru/api/cases, «Создание обращения с
файлами»: `"case[user_email]"`, `"case[subject]"`, `"case[attachments][1]"`), and the Ruby gem
`justCxx/omnidesk_api` sends every POST and PUT that way (its Faraday stack encodes with
`request :url_encoded` / `:multipart`, never JSON). Keys in brackets nest; an empty `[]` appends to a
list, so `case[labels][]=1&case[labels][]=2` is `{"case": {"labels": ["1", "2"]}}`. Values stay text,
as a form sends them: the store reads numbers from text already.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Any

KEY_PART = re.compile(r"\[([^\[\]]*)\]")


def key_path(key: str) -> list[str]:
    """`case[custom_fields][cf_25]` → `["case", "custom_fields", "cf_25"]`; `a[]` ends with `""`."""
    head, _, rest = key.partition("[")
    if not rest:
        return [key]
    return [head, *KEY_PART.findall("[" + rest)]


def nested(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The JSON-shaped body a bracketed form stands for."""
    body: dict[str, Any] = {}
    for key, value in pairs:
        path = key_path(key)
        node: Any = body
        for part, following in itertools.pairwise(path):
            shape: type = list if following == "" else dict
            if isinstance(node, list):
                node.append(shape())
                node = node[-1]
            else:
                if not isinstance(node.get(part), shape):
                    node[part] = shape()
                node = node[part]
        if isinstance(node, list):
            node.append(value)
        else:
            node[path[-1]] = value
    return body


def is_form(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind in ("application/x-www-form-urlencoded", "multipart/form-data")
