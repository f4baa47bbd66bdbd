"""Data contracts users declare without code: the Open Data Contract Standard (ODCS v3).

Pure logic, no Kafka: :func:`load_contracts` reads and validates contract files (errors
name the file and line), :class:`StreamContract` is what one stream's contract means for
a record, :class:`ContractValidator` checks a record against it, and
:func:`export_contract` / :func:`infer_contract` write contracts from the shipped
schemas or from data. :class:`~streamguard.pipeline.RecordPipeline` takes a
``contract=`` to run under one.
"""

from streamguard.contracts.contract import SHIPPED_STREAMS, ContractSet, StreamContract
from streamguard.contracts.errors import ContractError, ContractIssue
from streamguard.contracts.export import export_contract, to_yaml
from streamguard.contracts.infer import infer_contract
from streamguard.contracts.loader import load_contract_text, load_contracts
from streamguard.contracts.validator import ContractValidator

__all__ = [
    "SHIPPED_STREAMS",
    "ContractError",
    "ContractIssue",
    "ContractSet",
    "ContractValidator",
    "StreamContract",
    "export_contract",
    "infer_contract",
    "load_contract_text",
    "load_contracts",
    "to_yaml",
]
