"""YAML that remembers where each value was written, so errors can name a line.

PyYAML composes the document into nodes (each with a start mark) and constructs the
plain data from the same nodes; :class:`YamlDocument` keeps both and maps a location
path (as pydantic and jsonschema report it) back to a line.

>>> doc = YamlDocument.parse("a:\\n  b:\\n    - x: 1\\n    - y: 2\\n", "f.yaml")
>>> doc.data
{'a': {'b': [{'x': 1}, {'y': 2}]}}
>>> doc.line_of(("a", "b", 1, "y")), doc.line_of(("a", "b", 1, "nope")), doc.line_of(())
(4, 4, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from streamguard.contracts.errors import ContractError, ContractIssue

__all__ = ["YamlDocument"]


class YamlDocument:
    """The parsed data of one YAML file, with the node tree for line look-ups."""

    def __init__(self, data: Any, root: yaml.Node | None, file: str) -> None:
        self.data = data
        self.root = root
        self.file = file

    @classmethod
    def parse(cls, text: str, file: str) -> YamlDocument:
        """Parse ``text``; a YAML syntax error raises :class:`ContractError` with its line."""
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
            loader = yaml.SafeLoader(text)
            try:
                data = loader.construct_document(root) if root is not None else None
            finally:
                loader.dispose()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            problem = exc.problem or exc.context or "invalid YAML"
            raise ContractError([ContractIssue(file, line, f"YAML syntax: {problem}")]) from None
        except yaml.YAMLError as exc:
            raise ContractError([ContractIssue(file, None, f"YAML: {exc}")]) from None
        return cls(data, root, file)

    def line_of(self, path: Sequence[Any]) -> int | None:
        """The 1-based line of the value at ``path`` (keys and list indexes); parts that
        match nothing (pydantic's union branch names) are skipped, and a path that ends
        below what the file holds gives the line of the deepest node found."""
        node = self.root
        if node is None:
            return None
        for part in path:
            child = _child(node, part)
            if child is not None:
                node = child
        return int(node.start_mark.line) + 1

    def key_line(self, path: Sequence[Any], key: str) -> int | None:
        """The line where ``key`` is written inside the mapping at ``path``."""
        node = self.root
        for part in path:
            child = _child(node, part) if node is not None else None
            if child is not None:
                node = child
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                    return int(key_node.start_mark.line) + 1
        return self.line_of(path)


def _child(node: yaml.Node, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                return value_node  # type: ignore[no-any-return]
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        if 0 <= part < len(node.value):
            return node.value[part]  # type: ignore[no-any-return]
    return None
