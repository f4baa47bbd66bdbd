"""Every command the CLI lists exists and has the command-module face."""

from __future__ import annotations

import importlib

import pytest

from streamguard import cli


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_listed_command_module_exists_with_add_arguments_and_run(name: str) -> None:
    module = importlib.import_module(cli.COMMANDS[name][0])  # a deleted module fails here
    assert callable(module.add_arguments) and callable(module.run)


def test_full_help_builds_every_command_parser() -> None:
    parser = cli.build_parser()
    assert "check" in parser.format_help() and "broker" in parser.format_help()
