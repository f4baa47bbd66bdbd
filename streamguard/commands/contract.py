"""``streamguard contract export|infer``: ODCS v3 contracts from the shipped schemas or data.

- ``export --stream NAME [--out FILE]`` writes the shipped schema of ``behavior`` or
  ``product`` as a contract; edit it and pass it back with ``--contracts`` to change the
  shipped rules.
- ``infer FILE [--stream NAME] [--out FILE]`` drafts a contract from a JSON-lines file's
  inventory (types, required fields, value sets of low-cardinality strings, ranges).

Without ``--out`` the YAML goes to stdout. Exit 0 when written, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from streamguard.commands.inventory import profile_file
from streamguard.config import Settings
from streamguard.contracts.contract import SHIPPED_STREAMS
from streamguard.contracts.errors import ContractError
from streamguard.contracts.export import export_contract, to_yaml
from streamguard.contracts.infer import infer_contract
from streamguard.contracts.loader import load_contract_text
from streamguard.inventory import Tagger

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``streamguard contract``."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = sub.add_parser("export", help="a shipped stream's schema as an ODCS v3 contract")
    export.add_argument("--stream", required=True, choices=sorted(SHIPPED_STREAMS))
    export.add_argument("--out", type=Path, help="YAML file to write (default: stdout)")
    infer = sub.add_parser("infer", help="draft an ODCS v3 contract from a JSON-lines file")
    infer.add_argument("file", type=Path, help="JSON-lines file, one JSON value a line")
    infer.add_argument("--stream", metavar="NAME", help="stream name (default: the file's stem)")
    infer.add_argument("--topic", help="Kafka topic of a new stream (default: the stream name)")
    infer.add_argument("--out", type=Path, help="YAML file to write (default: stdout)")


def _stream_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9_]", "_", text.lower()).strip("_")
    return name if name[:1].isalpha() else f"s_{name}"


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Entry point of ``streamguard contract``."""
    if args.action == "export":
        topics = {"behavior": settings.topic_behavior, "product": settings.topic_product}
        text = to_yaml(export_contract(args.stream, topic=topics[args.stream]))
    else:
        path: Path = args.file
        if not path.is_file():
            print(f"streamguard contract infer: {path}: no such file", file=sys.stderr)
            return 2
        stream = _stream_name(args.stream or path.stem)
        try:
            snapshot = profile_file(path, stream, settings.max_record_bytes).snapshot(Tagger())
        except OSError as exc:
            print(f"streamguard contract infer: {exc}", file=sys.stderr)
            return 2
        text = to_yaml(infer_contract(snapshot, stream, topic=args.topic))
        try:
            load_contract_text(text, str(args.out or "draft"))
        except ContractError as exc:
            print("the draft needs editing before it loads:", file=sys.stderr)
            for issue in exc.issues:
                print(f"  {issue}", file=sys.stderr)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"streamguard contract: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
