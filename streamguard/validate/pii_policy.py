"""The PII policy of a stream: per field, ``report``, ``mask`` or ``quarantine``.

Configured as ``{stream: {field path: action}}`` (``Settings.pii_policy``; the stream
``"*"`` applies to every stream, a stream's own entries win). A path is dotted
(``attributes.contact``), ``[]`` names an array's elements (``emails[]``), ``"*"`` is the
whole record, and a path covers everything beneath it: the longest configured path
above a value decides for it.

- ``report`` (the default): nothing changes; the inventory reports the PII it sees.
- ``mask``: each match in a string is replaced by ``[email]``, ``[phone]``,
  ``[payment_card]``, ``[ip_address]`` or ``[iban]``, and a ``pii_mask`` correction is
  recorded whose ``from`` is ``"[redacted]"``: the raw value never leaves in the clean
  record.
- ``quarantine``: the record is quarantined with reason ``pii_detected`` (field: where
  it was found, with array indexes, e.g. ``contacts[1].email``). The quarantine record
  keeps the raw bytes, PII included, by design.

Only strings under a path whose action is ``mask`` or ``quarantine`` are scanned (with
:func:`streamguard.inventory.pii.find_pii`); object keys and numbers are not. A policy
of only ``report`` compiles to ``None``: no cost at all. Every string under an active
path is scanned in full (long strings in overlapping windows), however deep: the
pipeline's record size limit bounds the work.

Examples
--------
>>> policy = PiiPolicy({"query": "mask", "profile": "quarantine"})
>>> record = {"query": "mail ana@example.com", "price": 5, "note": "bob@example.org"}
>>> corrections, reasons = policy.apply(record)
>>> record["query"], record["note"], reasons
('mail [email]', 'bob@example.org', [])
>>> corrections[0].as_dict()
{'field': 'query', 'from': '[redacted]', 'to': 'mail [email]', 'rule': 'pii_mask'}
>>> [(r.code, r.field) for r in policy.apply({"profile": {"tel": ["-", "+44 20 7946 0958"]}})[1]]
[('pii_detected', 'profile.tel[1]')]
>>> PiiPolicy.for_stream({"behavior": {"*": "report"}}, "behavior") is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from streamguard.events.records import Correction, Reason
from streamguard.inventory.pii import MAX_TEXT, find_pii

__all__ = ["PII_ACTIONS", "REDACTED", "PiiAction", "PiiPolicy", "find_all", "parse_path"]

PiiAction = Literal["report", "mask", "quarantine"]
#: The actions a policy may name, the default first.
PII_ACTIONS: Final = ("report", "mask", "quarantine")
#: What a ``pii_mask`` correction says the value was.
REDACTED: Final = "[redacted]"
#: Windows of long strings overlap by this much, so a match across a window's edge is
#: found whole in the next one.
_OVERLAP = 512


def parse_path(path: str) -> tuple[str, ...]:
    """The steps of a policy path: names, ``[]`` for array elements; ``*`` is the root.

    >>> parse_path("attributes.emails[].address"), parse_path("*")
    (('attributes', 'emails', '[]', 'address'), ())
    """
    if path == "*":
        return ()
    steps: list[str] = []
    for part in path.split("."):
        name = part.rstrip("[]") if part.endswith("[]") else part
        arrays = (len(part) - len(name)) // 2
        if not name or "[" in name or "]" in name or part != name + "[]" * arrays:
            raise ValueError(f"bad PII policy path {path!r}: use a.b, a[] or *")
        steps.append(name)
        steps.extend(["[]"] * arrays)
    return tuple(steps)


def find_all(text: str) -> list[tuple[str, int, int]]:
    """:func:`find_pii` over the whole of ``text``, however long (overlapping windows).

    >>> find_all("x" * 5000 + " ana@example.com")
    [('email', 5001, 5016)]
    """
    if len(text) <= MAX_TEXT:
        return find_pii(text)
    found: list[tuple[str, int, int]] = []
    end_of_last = 0
    step = MAX_TEXT - _OVERLAP
    for start in range(0, len(text), step):
        window = text[start : start + MAX_TEXT]
        for kind, s, e in find_pii(window):
            if start + s >= end_of_last and (e < len(window) or start + e == len(text)):
                found.append((kind, start + s, start + e))
                end_of_last = start + e
        if start + MAX_TEXT >= len(text):
            break
    return found


def _masked(text: str, matches: list[tuple[str, int, int]]) -> str:
    out: list[str] = []
    last = 0
    for kind, start, end in matches:
        out.append(text[last:start])
        out.append(f"[{kind}]")
        last = end
    out.append(text[last:])
    return "".join(out)


@dataclass
class _Node:
    action: PiiAction | None = None  # set here; None: the parent's
    children: dict[str, _Node] = field(default_factory=dict)
    active: bool = False  # something below (or here) is mask or quarantine


def _activate(node: _Node, inherited: PiiAction) -> bool:
    action = node.action or inherited
    below = [_activate(child, action) for child in node.children.values()]
    node.active = action != "report" or any(below)
    return node.active


class PiiPolicy:
    """One stream's compiled policy: :meth:`apply` masks a record or says why to quarantine.

    ``rules`` maps a path (see :func:`parse_path`) to an action from :data:`PII_ACTIONS`.
    """

    def __init__(self, rules: Mapping[str, str]) -> None:
        self.rules = dict(rules)
        self._root = _Node()
        for path, action in self.rules.items():
            if action not in PII_ACTIONS:
                raise ValueError(f"bad PII action {action!r} for {path!r}: {PII_ACTIONS}")
            node = self._root
            for step in parse_path(path):
                node = node.children.setdefault(step, _Node())
            node.action = action  # type: ignore[assignment]
        _activate(self._root, "report")

    @property
    def active(self) -> bool:
        """Whether any path masks or quarantines (an all-``report`` policy does nothing)."""
        return self._root.active

    @classmethod
    def for_stream(cls, policies: Mapping[str, Mapping[str, str]], stream: str) -> PiiPolicy | None:
        """``stream``'s policy (``"*"`` entries, then its own), or None when all report."""
        rules = {**policies.get("*", {}), **policies.get(stream, {})}
        policy = cls(rules)
        return policy if policy.active else None

    def apply(self, record: dict[str, Any]) -> tuple[list[Correction], list[Reason]]:
        """Scan ``record`` where the policy says; mask in place unless it must be quarantined.

        Returns the ``pii_mask`` corrections made, or the ``pii_detected`` reasons (then
        the record is left as it was).
        """
        masks: list[tuple[Any, Any, str, str]] = []  # container, key, location, masked
        reasons: list[Reason] = []
        root = self._root
        stack: list[tuple[Any, _Node | None, PiiAction, str]] = [(record, root, "report", "")]
        while stack:
            value, node, action, loc = stack.pop()
            if node is not None and node.action is not None:
                action = node.action
            passive = action == "report"
            if passive and (node is None or not node.active):
                continue
            if isinstance(value, dict):
                prefix = f"{loc}." if loc else ""
                if passive and node is not None:
                    items = [(k, value[k]) for k in node.children if k in value]
                else:
                    items = list(value.items())
                for name, item in reversed(items):
                    child = node.children.get(name) if node is not None else None
                    if isinstance(item, str):
                        self._scan(
                            value, name, item, child, action, prefix + str(name), masks, reasons
                        )
                    elif isinstance(item, dict | list):
                        stack.append((item, child, action, prefix + str(name)))
            elif isinstance(value, list):
                child = node.children.get("[]") if node is not None else None
                for index in range(len(value) - 1, -1, -1):
                    item = value[index]
                    if isinstance(item, str):
                        self._scan(
                            value, index, item, child, action, f"{loc}[{index}]", masks, reasons
                        )
                    elif isinstance(item, dict | list):
                        stack.append((item, child, action, f"{loc}[{index}]"))
        if reasons:
            return [], reasons
        corrections = []
        for container, key, location, masked in masks:
            container[key] = masked
            corrections.append(Correction(location, REDACTED, masked, "pii_mask"))
        return corrections, []

    @staticmethod
    def _scan(
        container: Any,
        key: Any,
        text: str,
        node: _Node | None,
        action: PiiAction,
        loc: str,
        masks: list[tuple[Any, Any, str, str]],
        reasons: list[Reason],
    ) -> None:
        if node is not None and node.action is not None:
            action = node.action
        if action == "report":
            return
        matches = find_all(text)
        if not matches:
            return
        if action == "quarantine":
            kinds = ", ".join(sorted({kind for kind, _, _ in matches}))
            reasons.append(Reason("pii_detected", loc, f"{kinds} found; PII policy: quarantine"))
        else:
            masks.append((container, key, loc, _masked(text, matches)))
