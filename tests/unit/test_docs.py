"""The README's generated sections match the code (pyredis/docs.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pyredis import docs
from pyredis.commands import COMMANDS
from pyredis.config import OPTIONS


def test_readme_is_up_to_date():
    text = docs.README.read_text(encoding="utf-8")
    assert docs.update(text) == text, (
        "README.md is stale: run `python -m pyredis.docs` and commit the result")


def test_every_command_and_option_is_listed():
    text = docs.README.read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"| `{name.upper()}` |" in text, name
    for name in OPTIONS:
        assert f"| `{name}` |" in text, name


def test_update_replaces_only_between_markers():
    sections = {"A": lambda: "fresh a", "B": lambda: "fresh b"}
    text = ("intro\n<!-- BEGIN A -->\nold a\nmore\n<!-- END A -->\nmiddle\n"
            "<!-- BEGIN B --><!-- END B -->\noutro\n")
    out = docs.update(text, sections)
    assert out == ("intro\n<!-- BEGIN A -->\nfresh a\n<!-- END A -->\nmiddle\n"
                   "<!-- BEGIN B -->\nfresh b\n<!-- END B -->\noutro\n")
    assert docs.update(out, sections) == out


@pytest.mark.parametrize("text", [
    "no markers at all",
    "<!-- END A --> backwards <!-- BEGIN A -->",
    "<!-- BEGIN A --> x <!-- END A --> <!-- BEGIN A --> y <!-- END A -->",
])
def test_update_refuses_bad_markers(text):
    with pytest.raises(docs.MarkerError):
        docs.update(text, {"A": lambda: "x"})


def test_commands_section_shows_the_declaration():
    get = COMMANDS["get"]
    section = docs.render_commands()
    row = f"| `GET` | {get.arity} | {' '.join(get.flags)} | 1, 1, 1 | {get.since} |"
    assert row in section
    assert f"### {get.group} commands" in section


def test_check_flag(tmp_path):
    readme = tmp_path / "README.md"
    stale = "# x\n<!-- BEGIN CONFIG -->\nold\n<!-- END CONFIG -->\n" \
            "<!-- BEGIN COMMANDS -->\n<!-- END COMMANDS -->\n"
    readme.write_text(stale)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "pyredis.docs", "--readme", str(readme),
                               *args], capture_output=True, text=True, timeout=60)

    r = run("--check")
    assert r.returncode == 1 and "out of date" in r.stderr
    assert readme.read_text() == stale
    assert run().returncode == 0
    assert "| `port` |" in readme.read_text()
    assert run("--check").returncode == 0
