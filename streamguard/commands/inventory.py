"""``streamguard inventory FILE``: the data-asset inventory of a JSON-lines file.

Profiles every line (non-JSON lines and non-objects are counted, not fatal) with
:class:`~streamguard.inventory.StreamProfile`, writes ``DIR/inventory.json`` and prints one
row per field. ``--stream behavior|product`` marks which fields the stream's schema
declares (``--contracts PATH``: the fields the stream's contract declares); any other
name is just the stream's name (default: the file's stem).
``--embed`` also tags fields by meaning with the configured embedding model
(``STREAMGUARD_MODEL``; one embedding per field, not per record).

Exit code 0 when it ran, 2 when it could not (no such file, output not writable).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from streamguard.commands.contract_options import add_contracts_argument, command_contracts
from streamguard.contracts.contract import StreamContract
from streamguard.inventory import StreamProfile, Tagger

if TYPE_CHECKING:
    from streamguard.config import Settings

__all__ = ["add_arguments", "format_table", "profile_file", "run"]

_SCHEMAS = {"behavior": "behavior.v1", "product": "product.v1"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``streamguard inventory``."""
    parser.add_argument("file", type=Path, help="JSON-lines file, one JSON value a line")
    parser.add_argument(
        "--stream",
        default=None,
        metavar="NAME",
        help="stream name (behavior / product also mark the schema's fields; default: file stem)",
    )
    parser.add_argument("--out", type=Path, default=Path("streamguard-inventory"), help="dir")
    parser.add_argument(
        "--embed",
        action="store_true",
        help="also tag fields by meaning with the embedding model (STREAMGUARD_MODEL)",
    )
    add_contracts_argument(parser)


def _declared(stream: str) -> frozenset[str] | None:
    if stream not in _SCHEMAS:
        return None
    from streamguard.events.models import BehaviorEvent, ProductEvent

    model = BehaviorEvent if stream == "behavior" else ProductEvent
    return frozenset(model.model_fields)


def profile_file(
    path: Path,
    stream: str,
    max_record_bytes: int = 1 << 20,
    contract: StreamContract | None = None,
) -> StreamProfile:
    """A profile of every line of ``path`` (lines longer than the limit count as invalid);
    with a ``contract``, ``in_schema`` says whether the contract declares a field."""
    profile = StreamProfile(
        stream,
        source=f"file:{path.name}",
        schema=contract.schema_version if contract is not None else _SCHEMAS.get(stream),
        declared=frozenset(contract.fields) if contract is not None else _declared(stream),
    )
    with path.open("rb") as lines:
        for line in lines:
            line = line.strip()
            if not line:
                continue
            if len(line) > max_record_bytes:
                profile.count_invalid()
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                profile.count_invalid()
                continue
            profile.learn_one(record)
    return profile


def _cell(value: Any, width: int) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(stream: dict[str, Any]) -> str:
    """One line per field: presence, main type, distinct, p50, best tag, PII."""
    head = (
        f"{stream['stream']} ({stream['source']}): {stream['records']:,} records, "
        f"{stream['objects']:,} objects, {len(stream['fields'])} fields"
        + (f", schema {stream['schema']}" if stream["schema"] else "")
    )
    rows = [f"{'field':<34} {'present':>7} {'type':<14} {'distinct':>8} {'p50':>10}  tag, pii"]
    for f in stream["fields"]:
        kind, share = max(f["types"].items(), key=lambda kv: kv[1], default=("-", 0.0))
        typ = kind if share >= 0.995 else f"{kind} {share:.0%}"
        p50 = "" if f["numeric"] is None else f"{f['numeric']['p50']:.6g}"
        tag = f"{f['tags'][0]['tag']} {f['tags'][0]['confidence']:.2f}" if f["tags"] else "-"
        pii = " ".join(f"{k} {v:.0%}" for k, v in f["pii"].items())
        rows.append(
            f"{_cell(f['path'], 34):<34} {f['presence']:>7.1%} {_cell(typ, 14):<14} "
            f"{f['distinct_estimate']:>8,} {p50:>10}  {tag}" + (f", PII {pii}" if pii else "")
        )
    overflow = stream["overflow"]
    if overflow["values"]:
        rows.append(
            f"(+ about {overflow['fields_estimate']:,} more fields past the cap of "
            f"{overflow['max_fields']}: {overflow['values']:,} values not profiled)"
        )
    return "\n".join([head, *rows])


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Entry point of ``streamguard inventory``."""
    path: Path = args.file
    if not path.is_file():
        print(f"streamguard inventory: {path}: no such file", file=sys.stderr)
        return 2
    stream = args.stream or path.stem
    contracts = command_contracts(getattr(args, "contracts", None), "inventory")
    if contracts is None:
        return 2
    tagger = Tagger()
    if getattr(args, "embed", False):
        from streamguard.wiring import build_embedder

        tagger = Tagger(build_embedder(settings))
    try:
        profile = profile_file(path, stream, settings.max_record_bytes, contracts.get(stream))
        snapshot = profile.snapshot(tagger)
        inventory = {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "streams": [snapshot],
        }
        args.out.mkdir(parents=True, exist_ok=True)
        target = args.out / "inventory.json"
        target.write_bytes(orjson.dumps(inventory, option=orjson.OPT_INDENT_2))
    except OSError as exc:
        print(f"streamguard inventory: {exc}", file=sys.stderr)
        return 2
    print(format_table(snapshot))
    print(f"wrote {target}")
    return 0
