"""The website visitor behind a dynamic call-tracking number (F23), as Mango's
`queries/user_info_by_dct_number` describes them while the number is still bound to the visitor."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NumberType = Literal["dynamic", "static"]

FIELD_LABELS: dict[str, str] = {
    "client_id": "Client ID",
    "ga_client_id": "GA Client ID",
    "ya_client_id": "Yandex Client ID",
    "city": "Город (или код страны)",
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
    "utm_content": "utm_content",
    "utm_term": "utm_term",
    "time_on_site": "Время на сайте, с",
    "call_page": "Страница звонка",
    "context_id": "ID контекста звонка",
    "custom": "Custom",
    "widget_name": "Название виджета",
    "request_type": "Тип обращения",
    "roistat_id": "Roistat ID",
    "number_type": "Тип номера",
    "device": "Устройство",
    "new_visitor": "Новый посетитель",
}
"""The F23 fields in the order the product documents list them, with the names the CRMs show."""


class Visitor(BaseModel):
    """What the CRM is given about the visitor; every field optional because Mango fills what it knows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tracking_number: str | None = None
    number_type: NumberType = "dynamic"
    client_id: str | None = Field(default=None, description="Mango's browser cookie id (`uid`)")
    ga_client_id: str | None = None
    ya_client_id: str | None = None
    city: str | None = Field(default=None, description="The city, or the ISO country code when unknown")
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    utm_term: str | None = None
    time_on_site: int | None = Field(default=None, description="Seconds on the site before the call")
    call_page: str | None = None
    context_id: str | None = None
    custom: str | None = None
    widget_name: str | None = None
    request_type: str | None = Field(default=None, description="«Тип обращения»: звонок, заказ звонка…")
    roistat_id: str | None = None
    device: str | None = None
    new_visitor: bool | None = None

    def fields(self) -> dict[str, str]:
        """The non-empty F23 fields as label → text, in the documents' order, for notes and comments."""
        out: dict[str, str] = {}
        for name, label in FIELD_LABELS.items():
            value = getattr(self, name)
            if value is None or value == "":
                continue
            if isinstance(value, bool):
                value = "да" if value else "нет"
            if name == "number_type":
                value = "динамический" if value == "dynamic" else "статический"
            out[label] = str(value)
        return out

    @classmethod
    def from_mango(cls, number: str | None, data: dict[str, Any] | None) -> Visitor | None:
        """`queries/user_info_by_dct_number`'s `data`; an empty object means the number is not bound."""
        if not data:
            return None
        location = data.get("location") or {}
        channel = data.get("channel") or {}
        page = data.get("current_page") or {}

        def text(value: Any) -> str | None:
            return None if value in (None, "") else str(value)

        duration = data.get("duration")
        return cls(
            tracking_number=number,
            number_type="dynamic",
            client_id=text(data.get("uid")),
            ga_client_id=text(data.get("ga_cid")),
            ya_client_id=text(data.get("ya_cid")),
            city=text(location.get("city")) or text(location.get("country_code")),
            utm_source=text(channel.get("source")),
            utm_medium=text(channel.get("medium")),
            utm_campaign=text(channel.get("campaign")),
            utm_content=text(channel.get("content")),
            utm_term=text(channel.get("term")),
            time_on_site=int(duration)
            if isinstance(duration, int | float | str) and str(duration).isdigit()
            else None,
            call_page=text(page.get("url")),
            context_id=text(data.get("context_id")),
            custom=text(data.get("custom")),
            widget_name=text(data.get("widget_name")),
            request_type=text(data.get("request_type")),
            roistat_id=text(data.get("rs_cid")),
            device=text(data.get("device")),
            new_visitor=data.get("new_visitor") if isinstance(data.get("new_visitor"), bool) else None,
        )
