"""Rewrites of an exported encoder graph that make ONNX Runtime's int8 run cheaper.

Applied by :mod:`~streamguard.embed.onnx_export` around the quantization:

* :func:`share_equal_scalings` (before quantizing): the smoothing of the query, key and
  value projections multiplies their common input by one vector; the exporter emits
  three equal ``Mul`` nodes (through ``Identity`` copies of the buffer), this keeps one.
  ONNX Runtime then quantizes that input once for the three products instead of three
  times.
* :func:`approximate_gelu` (after quantizing): the exact ``x * 0.5 * (1 + erf(x/√2))``
  subgraph becomes one ``com.microsoft.FastGelu`` (the tanh approximation, MLAS's
  vectorised ``tanh``): measured ~8% faster end to end than the fused erf ``Gelu``,
  the embeddings within cosine 0.9999 of the exact ones. It runs on the quantized
  graph because the quantizer's ONNX shape inference does not know the contrib op and
  would drop the shapes that ONNX Runtime's ``SkipLayerNormalization`` fusion needs.

Both work in place on an ``onnx.ModelProto`` and return how many sites they changed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

__all__ = ["approximate_gelu", "share_equal_scalings"]


def _rename_input(graph: Any, old: str, new: str) -> None:
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name == old:
                node.input[k] = new


def _constant(graph: Any, name: str) -> Any | None:
    """The value of ``name`` when it is an initializer or a ``Constant`` node's output."""
    from onnx import numpy_helper

    for init in graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            for attribute in node.attribute:
                if attribute.name == "value":
                    return numpy_helper.to_array(attribute.t)
    return None


def share_equal_scalings(model: Any) -> int:
    """Keep one of several ``Mul(x, c)`` nodes with the same ``x`` and equal constants."""
    from onnx import numpy_helper

    graph = model.graph
    constants = {init.name: init for init in graph.initializer}
    for node in [n for n in graph.node if n.op_type == "Identity" and n.input[0] in constants]:
        _rename_input(graph, node.output[0], node.input[0])  # buffer aliases of one tensor
        graph.node.remove(node)
    kept: dict[tuple[str, bytes], str] = {}
    dropped = []
    for node in graph.node:
        if node.op_type != "Mul" or node.input[1] not in constants:
            continue
        key = (node.input[0], numpy_helper.to_array(constants[node.input[1]]).tobytes())
        if key in kept:
            _rename_input(graph, node.output[0], kept[key])
            dropped.append(node)
        else:
            kept[key] = node.output[0]
    for node in dropped:
        graph.node.remove(node)
    return len(dropped)


def approximate_gelu(model: Any) -> int:
    """Replace each exact erf GELU subgraph by one ``FastGelu`` node (see the module doc)."""
    from onnx import helper

    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    users: dict[str, list[Any]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            users[name].append(node)

    def only_user(node: Any, op_type: str) -> Any | None:
        found = users.get(node.output[0], [])
        return found[0] if len(found) == 1 and found[0].op_type == op_type else None

    def has_constant(node: Any, value: float) -> bool:
        for name in node.input:
            found = _constant(graph, name)
            if found is not None and found.size == 1 and abs(float(found) - value) < 1e-3:
                return True
        return False

    replaced = 0
    for erf in [n for n in graph.node if n.op_type == "Erf"]:
        div = producer.get(erf.input[0])
        add = only_user(erf, "Add")
        times_x = only_user(add, "Mul") if add is not None else None
        half = only_user(times_x, "Mul") if times_x is not None else None
        if div is None or div.op_type != "Div" or half is None or times_x is None:
            continue
        x = div.input[0]
        checks = (has_constant(div, 2**0.5), has_constant(add, 1.0), has_constant(half, 0.5))
        if x not in times_x.input or not all(checks):
            continue
        index = list(graph.node).index(div)
        for node in (div, erf, add, times_x, half):
            graph.node.remove(node)
        graph.node.insert(
            index,
            helper.make_node(
                "FastGelu",
                [x],
                [half.output[0]],
                name=f"{erf.name}/FastGelu",
                domain="com.microsoft",
            ),
        )
        replaced += 1
    if replaced and not any(op.domain == "com.microsoft" for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return replaced
