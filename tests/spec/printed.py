"""Mango's worked examples read from the spec's own text (D110, copied verbatim into `printed/`).

The document's examples are hand-typed: some lack a comma or a colon, one ends a line with `;`, the
DTMF walkthrough (p.58–59) writes keys without quotes. Mango itself always sends valid JSON, so the
examples are repaired — and only their punctuation: `repair` may add or change `,` `:` and quotes
around keys, nothing else, and `Notification.check` proves it. Names, values and their types (`"seq" :
"1"` next to `"timestamp" : 1399906971`, the `"locaton"` typo) are delivered exactly as printed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRINTED = Path(__file__).parent / "printed"
_FURNITURE = re.compile(r"^(=== PAGE \d+ ===|mango-office\.ru\s+\|\s+API v 1\.10.*)\s*$")
_NOTIFICATION_URL = "/vpbx/api/v1/"


@dataclass(frozen=True)
class Notification:
    suffix: str
    printed: str
    repaired: str

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.repaired)

    @property
    def json_text(self) -> str:
        """What Mango would put in the `json` field: the printed object, without the layout."""
        return json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))

    def check(self) -> None:
        """The repair touched punctuation only (commas, colons, semicolons, quotes, whitespace)."""
        strip = re.compile(r'[\s,:;"]')
        assert strip.sub("", self.printed) == strip.sub("", self.repaired), self.printed


def _lines(name: str) -> list[str]:
    text = (PRINTED / name).read_text(encoding="utf-8")
    return [line.rstrip() for line in text.splitlines() if not _FURNITURE.match(line)]


def _balanced(lines: list[str], start: int, first: str) -> tuple[str, int]:
    """The `{…}` beginning at `first` (the rest of line `start`), up to its closing brace."""
    depth, out, index, chunk = 0, [], start, first
    while True:
        in_string = False
        for position, char in enumerate(chunk):
            if char == '"':
                in_string = not in_string
            elif not in_string and char == "{":
                depth += 1
            elif not in_string and char == "}":
                depth -= 1
                if depth == 0:
                    out.append(chunk[: position + 1])
                    return "\n".join(out), index
        out.append(chunk)
        index += 1
        chunk = lines[index]


_VALUE_END = re.compile(r'("|\d|\}|\]|true|false|null)$')
_KEY_START = re.compile(r'^\s*("|[A-Za-z_][A-Za-z0-9_]*\s*:)')


def repair(printed: str) -> str:
    """Punctuation only: `;` ending a member → `,`; a missing `:` after a key; quotes around bare
    keys; a missing `,` between members printed on consecutive lines."""
    lines = [line.rstrip() for line in printed.splitlines() if line.strip()]
    fixed: list[str] = []
    for line in lines:
        line = re.sub(r";$", ",", line)
        line = re.sub(r'^(\s*"[^"]+")\s+\{', r"\1: {", line)
        line = re.sub(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*):", r'\1"\2"\3:', line)
        if fixed and _VALUE_END.search(fixed[-1].rstrip()) and _KEY_START.match(line):
            fixed[-1] = fixed[-1].rstrip() + ","
        fixed.append(line)
    return "\n".join(fixed)


def notifications(name: str, *, suffix: str | None = None) -> list[Notification]:
    """Every notification Mango posts in a `POST https://external-system.com/vpbx/api/v1/<suffix>`
    example of the file, in printed order; commands the external system sends are left out.
    `suffix` overrides the printed URL (the summary examples print `events/call`)."""
    lines = _lines(name)
    found: list[Notification] = []
    index, target = 0, None
    while index < len(lines):
        line = lines[index].strip()
        if line.startswith("POST "):
            url = line.removeprefix("POST ").strip()
            target = url.split(_NOTIFICATION_URL, 1)[1] if _NOTIFICATION_URL in url else None
        elif line.startswith("json =") and target is not None:
            printed, index = _balanced(lines, index, line.split("=", 1)[1].strip())
            found.append(Notification(suffix or target, printed, repair(printed)))
            target = None
        index += 1
    return found


def walkthrough(name: str) -> list[Notification]:
    """The DTMF walkthrough (p.58–59): `{ vpbx_api_key: …, sign: …, json: {…} }` blocks, each after a
    step naming what arrives (`/events/call`, `/events/dtmf`, «Результат выполнения» of
    `/commands/route`). A `json` printed as a string is the command the external system sends."""
    lines = _lines(name)
    found: list[Notification] = []
    index, target = 0, None
    while index < len(lines):
        line = lines[index].strip()
        step = re.search(r"/(events/\w+|commands/route)", line)
        if step:
            target = step.group(1)
        elif line.startswith("Результат выполнения"):
            target = "result/route"
        elif line.startswith("json:") and lines[index].rstrip().endswith("{") and target:
            if target.startswith("commands/"):
                index += 1
                continue
            printed, index = _balanced(lines, index, line.split(":", 1)[1].strip())
            found.append(Notification(target, printed, repair(printed)))
        index += 1
    return found
