"""Quarantine records read back: parsing, replay through today's pipeline, counts.

``streamguard replay-quarantine`` uses it (see :mod:`streamguard.commands.replay_quarantine`);
pure, no Kafka (not to be confused with :mod:`streamguard.sources.replay`, which replays
datasets as events).
"""

from streamguard.quarantine.entry import BadEntry, QuarantineEntry, parse_entry, source_key
from streamguard.quarantine.replayer import Decision, DecisionKind, Processor, QuarantineReplayer
from streamguard.quarantine.tally import ReplayTally, format_table

__all__ = [
    "BadEntry",
    "Decision",
    "DecisionKind",
    "Processor",
    "QuarantineEntry",
    "QuarantineReplayer",
    "ReplayTally",
    "format_table",
    "parse_entry",
    "source_key",
]
