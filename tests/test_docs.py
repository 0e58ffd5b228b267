"""The README and the architecture notes stay true to the code."""

import datetime as dt
import re
from pathlib import Path

from service.config import describe

ROOT = Path(__file__).resolve().parent.parent


def test_readme_configuration_table_names_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [variable for variable, _, _ in describe() if f"| `{variable}` |" not in readme]
    assert missing == []


def test_where_to_make_a_change_map_points_at_files_that_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Where to make a change", 1)[1].split("\n## ", 1)[0]
    paths = re.findall(r"`((?:service|tests|bench|migrations)/[^`]*)`", section)
    assert paths, "the map names no files"
    missing = []
    for path in paths:
        if "{" in path:
            stem, names = path.split("{", 1)
            candidates = [stem + name + names.split("}", 1)[1] for name in names.split("}", 1)[0].split(",")]
        else:
            candidates = [path]
        missing += [c for c in candidates if not (ROOT / c).exists()]
    assert missing == []


def test_architecture_notes_exist_and_name_every_domain_folder() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    domains = [p.name for p in (ROOT / "service").iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    assert [d for d in domains if f"service/{d}/" not in text] == []


def test_readme_commands_fix_no_day_in_the_future() -> None:
    """A command with a fixed future day (a placement start, a day to judge on) goes stale on that day:
    the README computes such days (``changeover_after``) instead."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = "\n".join(re.findall(r"```sh\n(.*?)```", readme, flags=re.DOTALL))
    assert "changeover_after" in commands
    today = dt.datetime.now(dt.UTC).date()
    days = re.findall(r"\b\d{4}-\d\d-\d\d\b", commands)
    later = [day for day in days if dt.date.fromisoformat(day) > today]
    assert later == []
