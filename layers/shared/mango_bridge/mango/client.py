"""Mango VPBX API client: signs exactly the bytes it sends, maps every answer to a result or an error.

Mango has answered errors both as HTTP 420 + `{"code": …}` (API v1.10) and as HTTP 200 +
`{"result": …}` (what clients observe): the code is read from any JSON body whatever the status.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx

from mango_bridge.mango.errors import MangoRejected, MangoUnavailable, error_for
from mango_bridge.mango.signature import sign

RETRYABLE_STATUSES = {401, 429, 500, 502, 503, 504}


class MangoClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_salt: str,
        *,
        http: httpx.Client | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._api_key = api_key
        self._api_salt = api_salt
        self._http = http or httpx.Client(timeout=timeout, trust_env=False)

    def form(self, payload: dict[str, Any]) -> dict[str, str]:
        json_text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        return {
            "vpbx_api_key": self._api_key,
            "sign": sign(self._api_key, json_text, self._api_salt),
            "json": json_text,
        }

    def _post(self, path: str, payload: dict[str, Any]) -> httpx.Response:
        try:
            return self._http.post(self.base_url + path, data=self.form(payload), follow_redirects=False)
        except httpx.TimeoutException as problem:
            raise MangoUnavailable(f"{path}: timed out ({problem})") from None
        except httpx.TransportError as problem:
            raise MangoUnavailable(f"{path}: {problem}") from None

    @contextmanager
    def stream(self, path: str, payload: dict[str, Any], timeout: float = 60.0) -> Iterator[httpx.Response]:
        """POST a method whose answer is read as a stream (statistics files); read `.status_code` first."""
        try:
            with self._http.stream(
                "POST", self.base_url + path, data=self.form(payload), timeout=timeout
            ) as answer:
                yield answer
        except httpx.TimeoutException as problem:
            raise MangoUnavailable(f"{path}: timed out ({problem})") from None
        except httpx.TransportError as problem:
            raise MangoUnavailable(f"{path}: {problem}") from None

    def check(self, path: str, response: httpx.Response) -> dict[str, Any]:
        """Mango's answer to a read response: its JSON on success, the matching MangoError otherwise."""
        return self._outcome(path, response)

    def call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST a method; the JSON answer on success, a MangoError otherwise."""
        response = self._post(path, payload)
        return self._outcome(path, response)

    @staticmethod
    def _outcome(path: str, response: httpx.Response) -> dict[str, Any]:
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = None
        code = None
        if isinstance(body, dict):
            raw = body.get("result", body.get("code"))
            code = int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else None
        if response.status_code in RETRYABLE_STATUSES:
            raise MangoUnavailable(
                f"{path}: HTTP {response.status_code}", code=code, status=response.status_code
            )
        if code is not None and code != 0:
            error = error_for(code, response.status_code, str(body.get("message", "")) if body else "")
            if error is not None:
                raise error
        if response.status_code >= 400:
            raise MangoRejected(
                f"{path}: HTTP {response.status_code}", code=code, status=response.status_code
            )
        return body if isinstance(body, dict) else {}

    def recording_link(self, recording_id: str, action: str = "play") -> str:
        """A fresh one-shot file link (`queries/recording/post` answers 302): use it once, never store it."""
        path = "queries/recording/post"
        response = self._post(path, {"recording_id": recording_id, "action": action})
        if response.status_code in (301, 302, 303, 307) and response.headers.get("location"):
            return response.headers["location"]
        self._outcome(path, response)
        raise MangoUnavailable(
            f"{path}: HTTP {response.status_code} without a redirect", status=response.status_code
        )

    def route(
        self, call_id: str, to_number: str, *, display_name: str | None = None, command_id: str | None = None
    ) -> str:
        command_id = command_id or new_command_id("route")
        payload: dict[str, Any] = {"command_id": command_id, "call_id": call_id, "to_number": to_number}
        if display_name:
            payload["sip_headers"] = {"From/display-name": display_name[:64]}
        self.call("commands/route", payload)
        return command_id

    def callback(
        self,
        extension: str,
        to_number: str,
        *,
        line_number: str | None = None,
        auto_answer: bool = False,
        command_id: str | None = None,
    ) -> str:
        command_id = command_id or new_command_id("callback")
        payload: dict[str, Any] = {
            "command_id": command_id,
            "from": {"extension": extension},
            "to_number": to_number,
        }
        if line_number:
            payload["line_number"] = line_number
        if auto_answer:
            payload["sip_headers"] = {"Call-Info/answer-after": "0"}
        self.call("commands/callback", payload)
        return command_id

    def hangup(self, call_id: str, *, command_id: str | None = None) -> str:
        """End a leg; on a transfer's new leg this cancels the transfer (§5.8)."""
        command_id = command_id or new_command_id("hangup")
        self.call("commands/call/hangup", {"command_id": command_id, "call_id": call_id})
        return command_id

    def transfer(
        self,
        call_id: str,
        to_number: str,
        *,
        method: str,
        initiator: str,
        command_id: str | None = None,
    ) -> str:
        """`method` is Mango's own word: `blind`, or `hold` for a consultative transfer."""
        command_id = command_id or new_command_id("transfer")
        payload: dict[str, Any] = {
            "command_id": command_id,
            "call_id": call_id,
            "method": method,
            "to_number": to_number,
            "initiator": initiator,
        }
        self.call("commands/transfer", payload)
        return command_id

    def calls_connect(
        self,
        holded_call_id: str,
        transferred_call_id: str,
        transfer_initiator_number: str,
        *,
        command_id: str | None = None,
    ) -> str:
        """Complete a consultative transfer: join the held party to the consulted one."""
        command_id = command_id or new_command_id("connect")
        payload: dict[str, Any] = {
            "command_id": command_id,
            "holded_call_id": holded_call_id,
            "transfer_initiator_number": transfer_initiator_number,
            "transferred_call_id": transferred_call_id,
        }
        self.call("commands/calls_connect", payload)
        return command_id

    def transfer_cancel(self, call_id: str, *, command_id: str | None = None) -> str:
        """Give up a consultative transfer: the held call (`call_id` of the OnHold) comes back."""
        command_id = command_id or new_command_id("transfer-cancel")
        self.call("commands/transfer_cancel", {"command_id": command_id, "call_id": call_id})
        return command_id

    # -- after the call: speech analytics, ratings, call tracking ----------------------------------

    def recording_transcripts(self, recording_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Transcripts of the recordings that have one (≤ 500 ids); the others are simply absent.

        The ids go as a JSON array, as working clients send them; the 2017 spec's example encodes the
        array in a string, which Mango also reads."""
        body = self.call("queries/recording_transcripts", {"recording_id": list(recording_ids)})
        return [item for item in body.get("data") or [] if isinstance(item, dict)]

    def recording_categories(self, recording_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Speech-analytics topics recognised in each recording (after `events/record/tagged`)."""
        payload = {"recording_id": list(recording_ids), "with_terms": False, "with_names": True}
        body = self.call("queries/recording_categories", payload)
        return [item for item in body.get("data") or [] if isinstance(item, dict)]

    def cc_call(self, entry_id: str) -> dict[str, Any]:
        """Contact-centre data of one call, including the client's post-call rating `mark_client`."""
        body = self.call("cc/call", {"entry_id": entry_id})
        call = body.get("call")
        return call if isinstance(call, dict) else {}

    def user_info_by_dct_number(self, number: str) -> dict[str, Any]:
        """The website visitor a dynamic call-tracking number is bound to now; `{}` when nobody."""
        body = self.call("queries/user_info_by_dct_number", {"number": number})
        data = body.get("data")
        return data if isinstance(data, dict) else {}

    def close(self) -> None:
        self._http.close()


def new_command_id(kind: str) -> str:
    return f"mcb-{kind}-{secrets.token_hex(8)}"
