"""The HTTP shape of a Mango notification: form fields `vpbx_api_key`, `sign`, `json`.

Mango documents application/x-www-form-urlencoded; public clients also send multipart/form-data,
so both are read. Fields are returned exactly as sent: the signature covers the raw `json` text.
"""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qs


class MalformedForm(ValueError):
    """The body is not a form we can read."""


def parse_form(body: bytes, content_type: str | None) -> dict[str, str]:
    if not body:
        return {}
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind == "multipart/form-data":
        return _parse_multipart(body, content_type or "")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedForm("body is not UTF-8 text") from None
    fields = parse_qs(text, keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def _parse_multipart(body: bytes, content_type: str) -> dict[str, str]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise MalformedForm("multipart body without parts")
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            payload = b""
        try:
            fields[str(name)] = payload.decode(part.get_content_charset() or "utf-8")
        except UnicodeDecodeError:
            raise MalformedForm(f"form field {name!r} is not UTF-8 text") from None
    return fields
