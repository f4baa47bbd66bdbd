"""The ONNX Runtime backend: export cache, int8 accuracy against torch float32, the choice."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamguard.config import Settings
from streamguard.embed import backend, onnx_export
from streamguard.embed.onnx_export import ensure_onnx_model, model_key
from streamguard.embed.onnx_runtime import DISABLED_OPTIMIZERS, OnnxEmbedder
from streamguard.embed.tokens import encode, load_tokenizer
from streamguard.embed.transformer import TransformerEmbedder, resolve_model_path
from streamguard.wiring import LazyEmbedder, build_embedder

#: Fixed texts, none of them calibration texts: generator-like titles, categories,
#: queries, descriptions, other languages, odd ones.
TEXTS = [
    "Zentek wireless earbuds with charging case",
    "Aurora stainless steel water bottle 750 ml",
    "electronics/audio/headphones",
    "home/garden/tools",
    "cheap gaming mouse",
    "wedding dress",
    "Kinderfahrrad 20 Zoll mit Stützrädern",
    "relógio feminino dourado",
    "A compact espresso machine with a 15-bar pump, milk frother and removable water tank.",
    "x",
    "",
    "!!!",
    "SKU-88231-B",
    "Portable solar charger 20000mAh power bank for camping",
    "books/children/picture-books",
    "organic dog treats chicken",
    "Men's leather wallet, RFID blocking, brown",
    "4-slice toaster with defrost and bagel settings",
    "perfume",
    "cordless vacuum cleaner lightweight",
]


@pytest.fixture(scope="module")
def float32() -> TransformerEmbedder:
    return TransformerEmbedder(device="cpu")


@pytest.fixture(scope="module")
def int8() -> OnnxEmbedder:
    """The default export, in the default cache (the drift tests share it)."""
    return OnnxEmbedder(threads=1)


def test_int8_is_within_cosine_099_of_torch_float32(
    int8: OnnxEmbedder, float32: TransformerEmbedder
) -> None:
    got, want = int8.embed(TEXTS), float32.embed(TEXTS)
    assert got.shape == (len(TEXTS), 384) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    cosine = np.sum(got * want, axis=1)
    assert cosine.min() >= 0.99, cosine
    assert int8.embed([]).shape == (0, 384) and int8.dim == 384
    assert (int8.device, int8.dtype, int8.backend) == ("cpu", "int8", "onnx")


def test_rows_keep_the_callers_order_across_buckets(int8: OnnxEmbedder) -> None:
    mixed = [TEXTS[8], TEXTS[9], TEXTS[0], TEXTS[8], TEXTS[3]]
    small = OnnxEmbedder(threads=1, bucket_size=2)
    one_by_one = np.vstack([int8.embed([text]) for text in mixed])
    assert np.allclose(small.embed(mixed), one_by_one, atol=2e-2)
    assert np.sum(small.embed(mixed) * one_by_one, axis=1).min() > 0.995


def test_the_export_is_cached_and_keyed_by_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "model"
    source.mkdir()
    (source / "config.json").write_text('{"hidden_size": 4}')
    calls: list[Path] = []

    def fake_export(src: Path, precision: str, out: Path) -> dict[str, Any]:
        calls.append(out)
        (out / "model.onnx").write_bytes(b"graph")
        return {"min_cosine": 1.0}

    monkeypatch.setattr(onnx_export, "_export", fake_export)
    first = ensure_onnx_model(source, "int8", tmp_path / "cache")
    again = ensure_onnx_model(source, "int8", tmp_path / "cache")
    assert first == again and len(calls) == 1 and first.read_bytes() == b"graph"
    assert (first.parent / "meta.json").is_file()
    assert ensure_onnx_model(source, "fp32", tmp_path / "cache") != first
    key = model_key(source, "int8")
    (source / "config.json").write_text('{"hidden_size": 8}')
    assert model_key(source, "int8") != key
    # nothing half-written is left beside the exports
    assert not [p for p in (tmp_path / "cache").rglob(".*") if p.name.startswith(".int8-")]


def test_concurrent_exports_end_with_one_intact_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "model"
    source.mkdir()
    (source / "config.json").write_text("{}")
    both_exporting = threading.Barrier(2, timeout=30)

    def slow_export(src: Path, precision: str, out: Path) -> dict[str, Any]:
        (out / "model.onnx").write_bytes(f"graph from {threading.get_ident()}".encode())
        both_exporting.wait()  # both are mid-export before either renames
        return {"min_cosine": 1.0}

    monkeypatch.setattr(onnx_export, "_export", slow_export)
    results: list[Path] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(ensure_onnx_model(source, "int8", tmp_path / "cache"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and len(results) == 2 and results[0] == results[1]
    assert results[0].read_bytes().startswith(b"graph from ")
    leftovers = [p.name for p in results[0].parent.parent.iterdir()]
    assert leftovers == ["int8"], leftovers


def test_a_missing_model_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="local model directory"):
        ensure_onnx_model(tmp_path / "absent", "int8", tmp_path)
    with pytest.raises(ValueError, match="precision"):
        ensure_onnx_model(tmp_path, "int4", tmp_path)  # type: ignore[arg-type]


def test_buckets_pad_each_group_to_its_own_longest() -> None:
    tokenizer, pad_id = load_tokenizer(resolve_model_path("default"), 128)
    texts = [TEXTS[8], "x", TEXTS[0], "y", TEXTS[8]]
    buckets = encode(tokenizer, texts, 2, pad_id)
    assert buckets.count == 5 and sorted(np.concatenate([b.rows for b in buckets])) == [
        0,
        1,
        2,
        3,
        4,
    ]
    widths = [b.input_ids.shape[1] for b in buckets]
    assert widths == sorted(widths) and widths[0] == 3  # [CLS] x [SEP]
    assert buckets.padded_tokens < len(texts) * widths[-1]
    for batch in buckets:
        assert (batch.input_ids[batch.attention_mask == 0] == pad_id).all()


def test_encode_gives_the_same_ids_with_or_without_encode_batch_fast() -> None:
    tokenizer, pad_id = load_tokenizer(resolve_model_path("default"), 128)

    class PlainOnly:  # an older tokenizers: encode_batch only
        def encode_batch(self, texts: list[str], add_special_tokens: bool) -> Any:
            return tokenizer.encode_batch(texts, add_special_tokens=add_special_tokens)

    fast = encode(tokenizer, TEXTS, 4, pad_id, 64)
    plain = encode(PlainOnly(), TEXTS, 4, pad_id, 64)
    assert (fast.tokens, fast.padded_tokens) == (plain.tokens, plain.padded_tokens)
    for a, b in zip(fast, plain, strict=True):
        assert a.rows.tolist() == b.rows.tolist()
        assert np.array_equal(a.input_ids, b.input_ids)
        assert np.array_equal(a.attention_mask, b.attention_mask)
    assert fast.batches[-1].input_ids[0, 0] == tokenizer.token_to_id("[CLS]")


def test_the_skip_layer_norm_fusion_is_left_out_and_changes_no_embedding(
    int8: OnnxEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnxruntime

    seen: list[list[str]] = []
    real = onnxruntime.InferenceSession

    def recording(*args: Any, disabled_optimizers: list[str], **kwargs: Any) -> Any:
        seen.append(disabled_optimizers)
        return real(*args, disabled_optimizers=disabled_optimizers, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", recording)
    default = OnnxEmbedder(threads=1, model_file=int8.path)
    fused = OnnxEmbedder(threads=1, model_file=int8.path, disabled_optimizers=())
    assert seen == [list(DISABLED_OPTIMIZERS), []] and "SkipLayerNormFusion" in seen[0]
    got, want = default.embed(TEXTS), fused.embed(TEXTS)
    assert np.sum(got * want, axis=1).min() > 0.999  # one int8 rounding may flip


def test_auto_picks_onnx_on_the_cpu_and_torch_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    assert backend.choose_backend("auto", "cpu") == "onnx"
    assert backend.choose_backend("auto", "cuda") == "torch"
    monkeypatch.setattr(backend, "cuda_present", lambda: True)
    assert backend.choose_backend("auto", "auto") == "torch"
    monkeypatch.setattr(backend, "cuda_present", lambda: False)
    assert backend.choose_backend("auto", "auto") == "onnx"
    with pytest.raises(ValueError, match="backend"):
        backend.choose_backend("tpu", "cpu")  # type: ignore[arg-type]


def test_a_failing_onnx_backend_falls_back_to_torch_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import streamguard.embed.onnx_runtime as onnx_runtime
    import streamguard.embed.transformer as transformer

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ImportError("no onnxruntime here")

    built: list[tuple[str, str]] = []

    class FakeTorch:
        def __init__(self, model: str, *, device: str, threads: int | None) -> None:
            built.append((model, device))

    monkeypatch.setattr(onnx_runtime, "OnnxEmbedder", broken)
    monkeypatch.setattr(transformer, "TransformerEmbedder", FakeTorch)
    monkeypatch.setattr(backend, "_warned", set())
    with caplog.at_level(logging.WARNING, logger=backend.__name__):
        for _ in range(2):
            assert isinstance(backend.load_embedder("m", "auto", "onnx"), FakeTorch)
    assert built == [("m", "cpu"), ("m", "cpu")]
    warnings = [r for r in caplog.records if "ONNX Runtime backend unavailable" in r.message]
    assert len(warnings) == 1 and "no onnxruntime here" in warnings[0].message


def test_the_setting_reaches_the_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMGUARD_EMBEDDER_BACKEND", "onnx")
    assert Settings().embedder_backend == "onnx"
    lazy = build_embedder(Settings(device="cpu"))
    assert isinstance(lazy, LazyEmbedder) and not lazy.loaded
    assert lazy._factory.args[2:] == ("onnx", None)  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        Settings(embedder_backend="tpu")


def test_an_export_off_from_float32_is_refused_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a real (fp32, the cheaper) export, held to an impossible bar
    monkeypatch.setattr(onnx_export, "MIN_COSINE", 1.01)
    with pytest.raises(RuntimeError, match="fp32 ONNX export is off"):
        ensure_onnx_model(resolve_model_path("default"), "fp32", tmp_path)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
