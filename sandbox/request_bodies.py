"""Reading a request's JSON body the way every sandbox does: absent → None, malformed → the CRM's own
refusal for the API, or the raw text for the request log."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request


def json_body(request: Request, refusal: Callable[[], Exception]) -> Any:
    """The parsed body; `refusal()` is raised for one that is not JSON."""
    raw = request.get_data(cache=True)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise refusal() from exc


def body_for_log(request: Request) -> Any:
    """The body as the request log shows it: parsed when JSON, else the text as sent."""
    raw = request.get_data(cache=True)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
