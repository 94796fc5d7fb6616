"""Phone numbers: E.164 for real numbers, nothing for SIP URIs and short extensions."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

DEFAULT_REGION = "RU"


@lru_cache(maxsize=4096)
def to_e164(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """E.164 of a number as Mango writes it (`74955404444`, `84951234567`, `+7…`), else None.

    SIP URIs, FMC ids and extensions are not phone numbers and are never parsed as such.
    """
    if not raw:
        return None
    text = raw.strip()
    if ":" in text or "@" in text:
        return None
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) < 7:
        return None
    if len(digits) == 11 and digits[0] in "78" and not text.startswith("+"):
        candidate = "+7" + digits[1:]
    elif text.startswith("+"):
        candidate = "+" + digits
    else:
        candidate = "+" + digits
    try:
        parsed = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
