"""One settings document per tenant (one VPBX connected to one CRM account).

Secrets never live in the document: the Mango salt is held in Secrets Manager and referenced by
name. The rest of the settings catalogue (policies, routing, CRM connection) extends this model.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
DEFAULT_MANGO_API = "https://app.mango-office.ru/vpbx/"


def check_tenant_id(tenant_id: str) -> str:
    if not TENANT_ID.fullmatch(tenant_id):
        raise ValueError(
            "tenant id must be 2–63 characters of lower-case latin letters, digits and '-', "
            "starting with a letter or digit"
        )
    return tenant_id


class MangoConnection(BaseModel):
    """«API коннектор» of the VPBX: «Уникальный код вашей АТС» and where to call its API."""

    model_config = ConfigDict(extra="forbid")

    api_key: Annotated[
        str, Field(min_length=8, max_length=128, description="Уникальный код вашей АТС (vpbx_api_key)")
    ]
    api_base_url: Annotated[str, Field(description="Адрес API ВАТС; Mango's production API by default")] = (
        DEFAULT_MANGO_API
    )

    @field_validator("api_key")
    @classmethod
    def _trim_key(cls, value: str) -> str:
        return value.strip()

    @field_validator("api_base_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        url = value.strip()
        if not re.match(r"^https?://[^\s/]+", url):
            raise ValueError("api_base_url must be an http(s) URL")
        return url.rstrip("/") + "/"


class EmployeeMapping(BaseModel):
    """«Сопоставление сотрудников»: a Mango extension and the CRM user it acts as."""

    model_config = ConfigDict(extra="forbid")

    extension: Annotated[
        str,
        Field(
            min_length=1, max_length=16, pattern=r"^\d+$", description="Внутренний номер сотрудника в ВАТС"
        ),
    ]
    crm_user_id: Annotated[str, Field(min_length=1, max_length=128, description="Пользователь CRM")]
    name: str | None = Field(default=None, description="ФИО сотрудника (для журнала)")
    ignore_calls: bool = Field(default=False, description="Игнорировать звонки этого оператора")


class TenantSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mango: MangoConnection
    employees: list[EmployeeMapping] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_extensions(self) -> TenantSettings:
        seen: set[str] = set()
        for index, employee in enumerate(self.employees):
            if employee.extension in seen:
                raise ValueError(f"employees[{index}].extension {employee.extension} is mapped twice")
            seen.add(employee.extension)
        return self


class TenantUpdate(BaseModel):
    """What an operator PUTs: the settings plus, optionally, a new salt («Ключ для создания подписи»)."""

    model_config = ConfigDict(extra="forbid")

    mango: MangoConnection
    mango_api_salt: Annotated[
        str | None,
        Field(min_length=8, max_length=128, description="Ключ для создания подписи (vpbx_api_salt)"),
    ] = None
    employees: list[EmployeeMapping] = Field(default_factory=list)

    def settings(self) -> TenantSettings:
        return TenantSettings(mango=self.mango, employees=self.employees)
