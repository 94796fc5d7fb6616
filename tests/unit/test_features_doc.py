"""Every feature number the repository cites (`F<n>` in code, tests and docs) is one of the features
in docs/features.md, and that page names each of F1–F44 once, with a seed quote."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ROOT / "docs" / "features.md"
CITED = re.compile(r"(?<![\w#-])F(\d{1,3})(?!\w)")
TEXT = re.compile(r"\.(py|md|ya?ml|toml|txt|sh|cfg|ini)$|(^|/)Makefile$")


def documented() -> list[int]:
    return [int(n) for n in re.findall(r"^### F(\d+) ", FEATURES.read_text(encoding="utf-8"), re.M)]


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [ROOT / name for name in listed if TEXT.search(name) and (ROOT / name).is_file()]


def test_features_md_lists_f1_to_f44_once_each_with_a_quote() -> None:
    assert documented() == list(range(1, 45))
    sections = re.split(r"^### ", FEATURES.read_text(encoding="utf-8"), flags=re.M)[1:]
    for section in sections:
        assert "\n> " in section and "— seed 00" in section, section.splitlines()[0]


def test_every_cited_feature_number_is_in_features_md() -> None:
    known = set(documented())
    unknown = {
        f"{path.relative_to(ROOT)}:{number}"
        for path in tracked_text_files()
        for number in CITED.findall(path.read_text(encoding="utf-8", errors="replace"))
        if int(number) not in known
    }
    assert not unknown, f"feature numbers not in docs/features.md: {sorted(unknown)}"
