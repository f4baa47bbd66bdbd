"""Load ODCS v3 contract files (one file, or every ``*.yaml`` / ``*.yml`` of a directory).

Each file is parsed keeping line marks, validated against the standard (its JSON
Schema, strict about unknown keys, then the ``open-data-contract-standard`` pydantic
model), and each ``schema`` object is translated into a :class:`StreamContract`. Every
problem found, in every file, is raised at once as a :class:`ContractError` naming the
file, the line and what is wrong; commands exit 2 on it and the worker does not start.

A ``schema`` object's ``name`` is the stream. ``behavior`` and ``product`` are shipped
streams: the contract replaces their shipped rules (the Kafka key, ``event_id`` and
``ts`` must stay required). Any other name is a new stream: the contract must list a
``servers`` entry of ``type: kafka``, give the topic as the schema object's
``physicalName``, and mark its key field ``partitioned: true`` (and required).

``_dq.contract.hash`` is the SHA-256 of the contract's canonical content (the model's
JSON with sorted keys), so comments and formatting do not change it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import orjson
from open_data_contract_standard.model import OpenDataContractStandard
from pydantic import ValidationError

from streamguard.contracts.contract import SHIPPED_STREAMS, ContractSet, StreamContract
from streamguard.contracts.errors import ContractError, ContractIssue
from streamguard.contracts.source import YamlDocument
from streamguard.contracts.translate import translate_object

__all__ = ["contract_files", "load_contract_text", "load_contracts"]

_STREAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_UNEXPECTED = re.compile(r"'([^']+)'")


def contract_files(path: Path) -> list[Path]:
    """The contract files at ``path``: the file itself, or a directory's ``*.yaml`` and
    ``*.yml`` files in name order."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [path]


def load_contracts(path: Path | str | None) -> ContractSet:
    """Every stream contract under ``path`` (``None``: no contracts).

    Raises :class:`ContractError` (every problem, with file and line) when a file is
    missing, unreadable or invalid, or when two files describe the same stream.
    """
    if path is None:
        return ContractSet({})
    path = Path(path)
    if not path.exists():
        raise ContractError([ContractIssue(str(path), None, "no such file or directory")])
    files = contract_files(path)
    if not files:
        raise ContractError([ContractIssue(str(path), None, "no *.yaml contract files here")])
    issues: list[ContractIssue] = []
    contracts: dict[str, StreamContract] = {}
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            issues.append(ContractIssue(str(file), None, f"cannot read: {exc}"))
            continue
        try:
            loaded = load_contract_text(text, str(file))
        except ContractError as exc:
            issues += exc.issues
            continue
        for contract in loaded:
            if contract.stream in contracts:
                other = contracts[contract.stream].file
                issues.append(
                    ContractIssue(
                        contract.file,
                        None,
                        f"stream {contract.stream!r} already has a contract in {other}",
                    )
                )
                continue
            contracts[contract.stream] = contract
    if issues:
        raise ContractError(issues)
    return ContractSet(contracts)


def load_contract_text(text: str, file: str) -> list[StreamContract]:
    """The stream contracts of one contract document (``file`` names it in errors)."""
    doc = YamlDocument.parse(text, file)
    if not isinstance(doc.data, dict):
        raise ContractError([ContractIssue(file, doc.line_of(()), "not a YAML mapping")])
    issues = _standard_issues(doc)
    if issues:
        raise ContractError(issues)
    try:
        model = OpenDataContractStandard.model_validate(doc.data)
    except ValidationError as exc:
        raise ContractError(
            [
                ContractIssue(file, doc.line_of(item["loc"]), f"{_loc(item['loc'])}: {item['msg']}")
                for item in exc.errors(include_url=False)
            ]
        ) from None
    canonical = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    digest = hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()
    kafka = any(server.get("type") == "kafka" for server in canonical.get("servers") or [])
    contracts: list[StreamContract] = []
    for index, obj in enumerate(canonical.get("schema") or []):
        contract = _stream_contract(
            doc, obj, index, str(model.id), str(model.version), digest, kafka
        )
        issues += contract[1]
        if contract[0] is not None:
            contracts.append(contract[0])
    if not contracts and not issues:
        issues.append(
            ContractIssue(file, doc.line_of(()), "the contract declares no schema object")
        )
    if issues:
        raise ContractError(issues)
    return contracts


def _stream_contract(
    doc: YamlDocument,
    obj: dict[str, Any],
    index: int,
    contract_id: str,
    version: str,
    digest: str,
    kafka: bool,
) -> tuple[StreamContract | None, list[ContractIssue]]:
    path: tuple[str | int, ...] = ("schema", index)
    file = doc.file
    name = obj.get("name")
    if not isinstance(name, str) or not _STREAM_NAME.match(name):
        message = f"stream name {name!r} must match {_STREAM_NAME.pattern}"
        return None, [ContractIssue(file, doc.line_of((*path, "name")), message)]
    translation = translate_object(obj, path)
    issues = [ContractIssue(file, doc.line_of(where), what) for where, what in translation.problems]
    shipped = name in SHIPPED_STREAMS
    topic = obj.get("physicalName")

    def problem(where: tuple[str | int, ...], message: str) -> None:
        issues.append(ContractIssue(file, doc.line_of(where), f"stream {name!r}: {message}"))

    ident: str | None
    time_field: str | None
    if shipped:
        key, ident, time_field = SHIPPED_STREAMS[name]
        for needed in (key, ident, time_field):
            if needed not in translation.required:
                problem(path, f"{needed} must be declared and required (StreamGuard relies on it)")
        topic = None
    else:
        key = translation.key_field or ""
        ident = translation.id_field
        time_field = translation.time_field
        if not kafka:
            problem(
                path,
                "unknown stream: not a shipped stream (behavior, product), and the contract"
                " has no servers entry of type kafka to declare a new one",
            )
        if not isinstance(topic, str) or not topic:
            problem(path, "a new stream needs its Kafka topic as the schema object's physicalName")
        if not key:
            problem(path, "a new stream needs a key field: mark one property partitioned: true")
        elif key not in translation.required:
            problem(path, f"key field {key!r} must be required")
    if issues:
        return None, issues
    return (
        StreamContract(
            stream=name,
            contract_id=contract_id,
            version=version,
            hash=digest,
            file=file,
            shipped=shipped,
            topic=topic if isinstance(topic, str) else None,
            key_field=key,
            id_field=ident,
            time_field=time_field,
            json_schema=translation.json_schema,
            fields=translation.fields,
            required=translation.required,
            timestamps=translation.timestamps,
            formatted=translation.formatted,
            unsupported=translation.unsupported,
            classifications=translation.classifications,
            pii=translation.pii,
        ),
        [],
    )


@functools.lru_cache(maxsize=1)
def _standard_validator() -> Any:
    # The package's own copy of the standard's JSON Schema (its json_schema() helper uses
    # a deprecated importlib API).
    resource = importlib.resources.files("open_data_contract_standard") / "schema.json"
    schema = orjson.loads(resource.read_bytes())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _standard_issues(doc: YamlDocument) -> list[ContractIssue]:
    """Violations of the standard's JSON Schema (which, unlike the pydantic model, also
    rejects unknown keys), one per location."""
    issues: list[ContractIssue] = []
    seen: set[tuple[Any, ...]] = set()
    errors = sorted(_standard_validator().iter_errors(doc.data), key=_error_order)
    for error in errors:
        error = _deepest(error)
        path = tuple(error.absolute_path)
        if path in seen:
            continue
        seen.add(path)
        line = doc.line_of(path)
        if error.validator in ("unevaluatedProperties", "additionalProperties"):
            keys = _UNEXPECTED.findall(error.message)
            names = [k for k in keys if isinstance(error.instance, dict) and k in error.instance]
            if names:
                line = doc.key_line(path, names[0])
                message = f"unknown key {names[0]!r}" + (f" in {_loc(path)}" if path else "")
                issues.append(ContractIssue(doc.file, line, message))
                continue
        where = f"{_loc(path)}: " if path else ""
        issues.append(ContractIssue(doc.file, line, f"{where}{error.message[:300]}"))
    return issues


def _error_order(error: jsonschema.ValidationError) -> tuple[int, str]:
    return (len(error.absolute_path), str(list(error.absolute_path)))


def _deepest(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """The most specific error of a composite (``allOf``, ``oneOf``, ``$ref`` chains)."""
    while error.context:
        best = jsonschema.exceptions.best_match(error.context)
        if best is None:
            break
        error = best
    return error


def _loc(loc: Iterable[Any]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "document"
