"""One :class:`~streamguard.pipeline.RecordPipeline` per source partition this worker holds.

A partition's pipeline keeps its dedupe ids in a changelogged table, written through the
changelog partition of the source partition
(:class:`~streamguard.app.tables.TablePartitionStore`), so the dedupe state travels with
the partition on a rebalance. The stream's monitors
(drift engine, quality scorer) are shared by its partitions: their scores are the stream's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streamguard.app.tables import ChangelogBuffer, TableCatalogue, TablePartitionStore
from streamguard.config import Settings
from streamguard.contracts.contract import ContractSet
from streamguard.inventory.live import StreamSpec
from streamguard.pipeline import RecordPipeline, StreamName
from streamguard.quality.scorer import QualityScorer
from streamguard.validate.dedupe import DedupeBudget, DedupeIndex
from streamguard.validate.pii_policy import PiiPolicy
from streamguard.wiring import EngineGroup, pipeline_observers

__all__ = ["PartitionPipelines", "contract_streams"]


class PartitionPipelines:
    """Builds a partition's pipeline on its first record; forgets it on revocation.

    ``dedupe_tables``: a Faust table per stream; ``budget`` bounds the dedupe ids of
    every partition together, so memory does not grow with the partitions held.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        dedupe_tables: Mapping[str, Any],
        budget: DedupeBudget,
        changelog: ChangelogBuffer,
        catalogue: TableCatalogue,
        scorers: Mapping[str, QualityScorer],
        engines: EngineGroup | None,
        contracts: ContractSet | None = None,
    ) -> None:
        self.settings = settings
        self.contracts = contracts if contracts is not None else ContractSet({})
        self._pii_policies = self.contracts.pii_policies(settings.pii_policy)
        self.dedupe_tables = dedupe_tables
        self.budget = budget
        self.changelog = changelog
        self.catalogue = catalogue
        self.scorers = scorers
        self.engines = engines
        self._pipelines: dict[tuple[str, int], RecordPipeline] = {}

    def get(self, stream: StreamName | str, topic: str, partition: int) -> RecordPipeline:
        """The pipeline of ``topic[partition]`` (a source topic of ``stream``)."""
        pipeline = self._pipelines.get((topic, partition))
        if pipeline is None:
            pipeline = self._pipelines[topic, partition] = self._build(stream, topic, partition)
        return pipeline

    def forget(self, topic: str, partition: int) -> None:
        """Drop a revoked partition's pipeline; its dedupe ids leave the budget."""
        pipeline = self._pipelines.pop((topic, partition), None)
        if pipeline is not None and pipeline.dedupe is not None:
            self.budget.leave(pipeline.dedupe)

    def _build(self, stream: StreamName | str, topic: str, partition: int) -> RecordPipeline:
        s = self.settings
        dedupe = DedupeIndex(
            s.dedupe_window_s,
            s.dedupe_max_entries,
            store=TablePartitionStore(self.dedupe_tables[stream], partition, self.changelog),
            scope=(topic, partition),
            budget=self.budget,
        )
        return RecordPipeline(
            stream,
            max_record_bytes=s.max_record_bytes,
            dedupe=dedupe,
            catalogue=self.catalogue if stream == "behavior" else None,
            observers=pipeline_observers(
                drift=self.engines.get(stream) if self.engines is not None else None,
                quality=self.scorers[stream],
            ),
            pii_policy=PiiPolicy.for_stream(self._pii_policies, stream),
            contract=self.contracts.get(stream),
        )


def contract_streams(
    streams: Mapping[str, StreamSpec], contracts: ContractSet
) -> dict[str, StreamSpec]:
    """The live inventory's input streams with the contracts' streams: a new stream's
    topic, and for every stream under a contract the fields the contract declares."""
    merged = dict(streams)
    for contract in contracts.values():
        shipped = merged.get(contract.stream)
        source = shipped.source if shipped is not None else str(contract.topic)
        merged[contract.stream] = StreamSpec(
            source, contract.schema_version, frozenset(contract.fields)
        )
    return merged
