"""The data-asset inventory: what each stream holds, each field's meaning, the PII in it.

Pure, River-style objects: :class:`StreamProfile` (``learn_one`` / ``snapshot`` /
``merge``) over :class:`FieldProfile` sketches (Apache DataSketches), the :class:`Tagger`
of meaning tags, and the PII detectors in :mod:`streamguard.inventory.pii`.
"""

from streamguard.inventory.pii import find_pii, mask
from streamguard.inventory.profile import FieldProfile, StreamProfile
from streamguard.inventory.tags import TAGS, FieldSummary, Tagger

__all__ = [
    "TAGS",
    "FieldProfile",
    "FieldSummary",
    "StreamProfile",
    "Tagger",
    "find_pii",
    "mask",
]
