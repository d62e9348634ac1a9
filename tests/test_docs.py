"""The documentation keeps up with the code: every CLI command and option has help text and is
in the README (sqlite-utils' test_docs.py is the model), and every route is in the OpenAPI
document."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from kb.cli import cli
from kb.web.openapi import spec

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    """Every command, a group's by their full name (`data export`)."""
    out: list[tuple[str, click.Command]] = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            assert command.help, f"`kb {prefix}{name}` has no help text"
            out += _commands(command, f"{prefix}{name} ")
        else:
            out.append((f"{prefix}{name}", command))
    return sorted(out)


COMMANDS = _commands(cli)


def _reference(name: str) -> str:
    """The README's reference section of one command: from its `### `kb NAME` heading to the next heading."""
    m = re.search(rf"^### `kb {name}\b[^\n]*\n(.*?)(?=^#)", README, re.M | re.S)
    assert m, f"the README has no `### `kb {name} ...`` section"
    return m.group(0)


@pytest.mark.parametrize("name, command", COMMANDS)
def test_every_command_has_help_and_an_example(name, command):
    assert command.help, f"`kb {name}` has no help text"
    example = re.search(r"^\s*Example: (.*)$", command.help, re.M)
    assert example and f"kb {name}" in example.group(1), f"`kb {name}`'s help has no `Example: ... kb {name} ...` line"
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"`kb {name} {param.opts[0]}` has no help text"


@pytest.mark.parametrize("name, command", COMMANDS)
def test_every_command_and_option_is_in_the_readme(name, command):
    section = _reference(name)
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in ("articles", "index_dir", "help"):
            spelled = [o for o in param.opts + param.secondary_opts if f"`{o}" in section]
            assert spelled, f"`kb {name} {param.opts[0]}` is not in its README section"


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?\w+>", "{}", rule)


def test_every_route_is_in_the_openapi_document(app):
    documented = {re.sub(r"\{\w+\}", "{}", path): set(ops) for path, ops in spec()["paths"].items()}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or not (
            rule.rule.startswith("/api/") or rule.rule in ("/healthz", "/readyz", "/metrics")
        ):
            continue
        path = _openapi_path(rule.rule)
        assert path in documented, f"{rule.rule} is not in the OpenAPI document"
        methods = {m.lower() for m in rule.methods or ()} - {"head", "options"}
        assert methods <= documented[path], f"{rule.rule}: {methods - documented[path]} not documented"


def test_every_file_the_documentation_names_exists():
    root = Path(__file__).resolve().parents[1]
    sources = ["README.md", ".pre-commit-hooks.yaml", "articles/README.md", "docs/authoring.md", "bench/README.md"]
    named = set()
    for name in sources:
        for line in (root / name).read_text(encoding="utf-8").splitlines():
            if "made-up" in line:  # an example of a module one could add
                continue
            found = re.findall(r"\b((?:docs|bench|kb|tests|web)/[\w./-]+\.(?:md|py|png|html|js|css))\b", line)
            named |= {p for p in found if not (p.startswith("kb/") and p.endswith(".md"))}  # kb/x.md: an article id
    missing = sorted(p for p in named if not (root / p).exists())
    assert named and not missing, missing
