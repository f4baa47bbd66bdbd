"""The int8 export's speed-ups: graph rewrites, token-budget buckets, the exported graph."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from streamguard.embed.onnx_graph import approximate_gelu, share_equal_scalings
from streamguard.embed.onnx_runtime import OnnxEmbedder
from streamguard.embed.tokens import plan_buckets


def _run(model: Any, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


def _model(nodes: list[Any], initializers: list[Any], outputs: list[str]) -> Any:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_equal_scalings_of_one_input_become_one_and_the_function_is_unchanged() -> None:
    scale = np.array([0.5, 2.0, 1.0, 4.0], np.float32)
    other = np.array([1.0, 1.0, 1.0, 3.0], np.float32)
    model = _model(
        [
            helper.make_node("Identity", ["s"], ["s_alias"]),  # how the exporter aliases
            helper.make_node("Mul", ["x", "s"], ["a"]),
            helper.make_node("Mul", ["x", "s_alias"], ["b"]),
            helper.make_node("Mul", ["x", "t"], ["c"]),  # different constant: kept
            helper.make_node("Sum", ["a", "b", "c"], ["y"]),
        ],
        [numpy_helper.from_array(scale, "s"), numpy_helper.from_array(other, "t")],
        ["y"],
    )
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    before = _run(model, x)
    assert share_equal_scalings(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Mul", "Mul", "Sum"]
    assert np.array_equal(_run(model, x), before)
    assert share_equal_scalings(model) == 0


def test_the_erf_gelu_becomes_one_fast_gelu_within_1e3() -> None:
    def const(name: str, value: float) -> Any:
        return numpy_helper.from_array(np.array(value, np.float32), name)

    model = _model(
        [
            helper.make_node("Div", ["x", "sqrt2"], ["d"]),
            helper.make_node("Erf", ["d"], ["e"]),
            helper.make_node("Add", ["e", "one"], ["p"]),
            helper.make_node("Mul", ["x", "p"], ["m"]),
            helper.make_node("Mul", ["m", "half"], ["y"]),
            # an erf that is not a GELU (other constant) stays as it is
            helper.make_node("Div", ["x", "three"], ["d2"]),
            helper.make_node("Erf", ["d2"], ["e2"]),
            helper.make_node("Add", ["e2", "one"], ["p2"]),
            helper.make_node("Mul", ["x", "p2"], ["m2"]),
            helper.make_node("Mul", ["m2", "half"], ["z"]),
        ],
        [const("sqrt2", 2**0.5), const("one", 1.0), const("half", 0.5), const("three", 3.0)],
        ["y", "z"],
    )
    x = np.linspace(-6, 6, 8, dtype=np.float32).reshape(2, 4)
    exact = _run(model, x)
    assert approximate_gelu(model) == 1
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("FastGelu") == 1 and ops.count("Erf") == 1
    assert np.abs(_run(model, x) - exact).max() < 1e-3


def test_token_budget_buckets_keep_every_row_once_and_stay_under_budget() -> None:
    rng = np.random.default_rng(3)
    lengths = rng.integers(3, 90, size=500).tolist()
    groups = plan_buckets(lengths, max_texts=64, max_tokens=384)
    rows = np.concatenate(groups)
    assert sorted(rows.tolist()) == list(range(500))
    for group in groups:
        padded = len(group) * max(lengths[r] for r in group)
        assert len(group) <= 64 and (padded <= 384 or len(group) == 1)
    assert len(plan_buckets([500, 2], max_texts=8, max_tokens=100)) == 2  # too long: alone
    with pytest.raises(ValueError):
        plan_buckets([1], max_texts=1, max_tokens=0)


def test_the_default_int8_export_has_the_fast_graph() -> None:
    embedder = OnnxEmbedder(threads=1)
    ops = [n.op_type for n in onnx.load(str(embedder.path), load_external_data=False).graph.node]
    assert ops.count("FastGelu") == 6 and "Erf" not in ops
    assert "DequantizeLinear" not in ops  # the embedding tables stay float32
    # one scaling Mul per block for query/key/value, one each for the two FFN layers
    scalings = [n for n in onnx.load(str(embedder.path)).graph.node if n.op_type == "Mul"]
    assert sum("inverse" in name for n in scalings for name in n.input) == 18
    assert embedder.bucket_tokens == 384
