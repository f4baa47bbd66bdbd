"""The ``streamguard`` command line: parses argv, builds Settings once, dispatches.

Each sub-command lives in its own module and exposes ``add_arguments(parser)`` and
``run(args, settings) -> int``; they are imported lazily so ``streamguard check`` does not
pay for faust or torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from streamguard import __version__
from streamguard.config import load_settings

__all__ = ["main"]

# command name -> (module, help)
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("streamguard.commands.check", "run the pipeline over a JSON-lines file (no Kafka)"),
    "worker": ("streamguard.app.worker", "the production consumer (Faust agents)"),
    "broker": ("streamguard.commands.broker", "run the embedded Kafka-compatible broker"),
    "generate": ("streamguard.commands.generate", "synthetic event producer"),
    "replay": ("streamguard.commands.replay", "replay MovieLens / Olist as events"),
    "demo": ("streamguard.commands.demo", "broker + generator + worker + live summary"),
    "recommender": (
        "streamguard.commands.recommender",
        "the recommender as one service for all workers (reads every partition)",
    ),
    "inventory": (
        "streamguard.commands.inventory",
        "the data-asset inventory of a JSON-lines file: fields, types, tags, PII",
    ),
    "console": (
        "streamguard.commands.console",
        "read-only web console over StreamGuard's topics (and Prometheus when given)",
    ),
    "eval-recommender": (
        "streamguard.commands.eval_recommender",
        "prequential HR@K / NDCG@K of the recommender on a behaviour JSON-lines file",
    ),
    "replay-quarantine": (
        "streamguard.commands.replay_quarantine",
        "re-check quarantined records after a fix (a file or a range of the quarantine"
        " topic); those that now pass are delivered once",
    ),
    "contract": (
        "streamguard.commands.contract",
        "ODCS v3 data contracts: export a shipped schema, or infer a draft from data",
    ),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the ``selected`` command's module is imported.

    With ``selected=None`` every command module is imported (full help).
    """
    parser = argparse.ArgumentParser(
        prog="streamguard", description="Streaming data-quality monitor for Kafka."
    )
    parser.add_argument("--version", action="version", version=f"streamguard {__version__}")
    parser.add_argument("--config", type=Path, help="TOML config file (env vars override it)")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING, ...")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if selected is None or selected == name:
            importlib.import_module(module_name).add_arguments(command_parser)
        command_parser.set_defaults(_module=module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``streamguard`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((arg for arg in argv if arg in COMMANDS), None)
    args = build_parser(selected).parse_args(argv)
    try:
        settings = load_settings(args.config)
    except (ValueError, ValidationError) as exc:
        print(f"streamguard: invalid configuration: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=(args.log_level or settings.log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args, settings))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
