"""Event sources: a seeded synthetic generator with fault injection, and dataset replay.

Everything yields :class:`GeneratedRecord` (key, raw value, and the outcome the pipeline
should reach); :func:`streamguard.sources.output.produce` sends them to Kafka and
:func:`streamguard.sources.output.write_jsonl` writes them to JSON-lines files.
"""

from __future__ import annotations

from streamguard.sources.faults import FAULTS, FaultInjector, FaultMix, GeneratedRecord
from streamguard.sources.replay import DATASETS, replay
from streamguard.sources.synthetic import generate

__all__ = [
    "DATASETS",
    "FAULTS",
    "FaultInjector",
    "FaultMix",
    "GeneratedRecord",
    "generate",
    "replay",
]
