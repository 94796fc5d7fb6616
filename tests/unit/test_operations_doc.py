"""The runbook (docs/operations.md) has a section for every alarm template.yaml defines, and every
`bridgectl` command it tells an operator to run exists."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from bridgectl.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")


def test_every_alarm_has_a_runbook_section() -> None:
    alarms = re.findall(
        r"AlarmName: !Sub mango-bridge-\$\{Stage\}-([a-z0-9-]+)", (ROOT / "template.yaml").read_text()
    )
    assert alarms
    headings = " ".join(re.findall(r"^### (.+)$", RUNBOOK, re.M))
    missing = [name for name in alarms if f"`{name}`" not in headings]
    assert not missing, f"alarms without a runbook section in docs/operations.md: {missing}"


def test_every_bridgectl_command_in_the_runbook_parses() -> None:
    parser = build_parser()
    commands = re.findall(r"`bridgectl ([^`]+)`", RUNBOOK.replace("\n", " "))
    assert len(commands) > 10
    for command in commands:
        words = [w for w in shlex.split(re.sub(r"<[^>]+>|…", "x", command)) if w != "|"]
        if words and words[-1] in ("-", ">"):
            words = words[:-1]
        try:
            parser.parse_args(words)
        except SystemExit:
            raise AssertionError(f"docs/operations.md: `bridgectl {command}` does not parse") from None
