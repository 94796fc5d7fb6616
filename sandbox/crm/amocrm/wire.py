"""How amoCRM answers: HAL JSON on success, problem+json on failure, 204 with no body when nothing matches."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Response

HAL_JSON = "application/hal+json"
PROBLEM_JSON = "application/problem+json"


class ApiProblem(Exception):
    """A whole request refused; answered as `{"title", "type", "status", "detail", …}`."""

    def __init__(self, status: int, detail: str, *, title: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTP_STATUS_CODES.get(status, "Error")
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "type": f"https://httpstatus.es/{self.status}",
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }

    def response(self) -> Response:
        return json_response(self.body(), self.status, mimetype=PROBLEM_JSON)


class ValidationFailed(ApiProblem):
    """One or more items of a batch broke the rules; nothing of the batch was stored."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        super().__init__(400, "Request validation failed", title="Bad Request")
        self.extra = {"validation-errors": items}


def unauthorized(detail: str = "Invalid user name or password") -> ApiProblem:
    return ApiProblem(401, detail, title="Unauthorized")


def json_response(body: Any, status: int = 200, *, mimetype: str = HAL_JSON) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=mimetype)


def no_content() -> Response:
    return Response(status=204)


def self_link(href: str) -> dict[str, Any]:
    return {"self": {"href": href}}
