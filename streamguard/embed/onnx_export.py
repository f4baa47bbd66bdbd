"""The ONNX model of a local encoder, exported from its own weights into a cache directory.

:func:`ensure_onnx_model` returns ``<cache>/<model-hash>/<precision>/model.onnx``,
exporting it on first use (nothing is downloaded): torch's TorchScript exporter traces
the encoder with mean pooling and L2 normalisation inside the graph (the same formula
as :class:`~streamguard.embed.transformer.TransformerEmbedder`), and for ``int8`` ONNX
Runtime's dynamic quantization (``quantize_dynamic``: int8 weights per output channel,
activations quantized per batch) follows.

Plain dynamic quantization of MiniLM loses too much (cosine 0.984 at worst against the
float32 model on product titles): a few hidden channels carry activations far larger
than the rest, and one scale per activation tensor flattens the others. So before the
export the encoder's linear layers are *smoothed* (SmoothQuant): a layer's input is
divided per channel by ``s`` and the weights of each input channel are multiplied by
``s``, with ``s = max|x|^0.7 / max|w|^0.3`` measured on a fixed set of calibration texts.
Per layer, query, key and value share one ``s`` (one ``Mul`` on their common input, which
is then quantized once for the three), the attention output projection's ``s`` is folded
into the value projection's output rows (no ``Mul`` at all: the attention weights
commute with a per-channel scale), and the two feed-forward layers keep one ``Mul``
each. The float32 function is unchanged; the quantized one stays within cosine 0.99 of
it (in the tests, on other texts; at export the worst cosine on the calibration texts is
checked against :data:`MIN_COSINE` and recorded in ``meta.json``).

For speed the int8 graph also gets the rewrites of :mod:`~streamguard.embed.onnx_graph`
(the tanh GELU as one ``FastGelu``), and only the matrix products are quantized: the
token embedding table stays float32 (a quantized one is dequantized whole on every run,
2% of the time on short texts).

Concurrent workers may export at once: each writes a private temporary directory
beside the target and renames it into place; the first rename wins and the others use
its result. A model directory is keyed by the recipe, the precision and its files (name,
size, and content for small files or modification time for the weights).

Examples
--------
>>> default_cache_dir().parts[-2:]
('streamguard', 'onnx')
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from streamguard.embed.tokens import encode, load_tokenizer

__all__ = [
    "CALIBRATION_TEXTS",
    "MIN_COSINE",
    "Precision",
    "default_cache_dir",
    "ensure_onnx_model",
    "model_key",
]

log = logging.getLogger(__name__)

#: ``int8`` (dynamic quantization, the default on CPU) or ``fp32``.
Precision = Literal["int8", "fp32"]
#: Bump when the exported graph changes: old cache entries are then left unused.
RECIPE = "minilm-pooled-smooth0.7-v3-shared-qkv-vfold-fastgelu"
#: SmoothQuant's migration strength: the share of an input channel's range moved to
#: the weights (0.7 measured best for MiniLM-L6: cosine 0.9946 worst case vs 0.9816
#: at 0.5 and 0.9889 at 0.9; all four linear layers of a block need it: leaving out
#: query/key/value or the second feed-forward layer drops the worst case below 0.99).
SMOOTH_ALPHA = 0.7
#: The worst cosine to float32 on the calibration texts (single characters included)
#: below which an export is refused as broken (measured: 0.993 from the shipped weights,
#: 0.990 from float16 copies); the accuracy claim, >= 0.99, is the tests'.
MIN_COSINE = 0.98
_SMALL_FILE = 4 << 20

#: Texts the activation ranges are measured on (and the export is checked on): what
#: StreamGuard embeds, product titles, descriptions, categories, brands, queries.
CALIBRATION_TEXTS = (
    "Wireless noise-cancelling over-ear headphones, 30 h battery",
    "Samsung Galaxy S24 Ultra 256GB Titanium Black",
    "electronics/phones",
    "home/kitchen/cookware",
    "Stainless steel frying pan 28 cm with glass lid",
    "running shoes",
    "cheap red dress size M",
    "Organic green tea, 100 bags",
    "beauty/skincare/moisturizers",
    "LEGO Technic Bugatti Chiron 42083",
    "toys/building-sets",
    "Apple",
    "Nike Air Zoom Pegasus 40 men's road running shoes",
    "4K UHD smart TV 55 inch with HDR10 and Dolby Vision",
    "garden hose 30m",
    "books/fiction/thrillers",
    "The Midnight Library: A Novel by Matt Haig (paperback)",
    "cama_mesa_banho",
    "informatica_acessorios",
    "Ergonomic office chair with lumbar support and adjustable armrests, mesh back",
    "usb-c cable",
    "Bosch Professional cordless drill GSR 18V-55, 2 batteries, charger and case",
    "sports/outdoor/camping",
    "Kids' waterproof rain jacket with hood, navy blue, ages 6-8",
    "coffee beans arabica 1kg",
    "Vitamin D3 2000 IU softgels, 120 count",
    "automotive/parts/brakes",
    "Ceramic brake pads front set for Toyota Corolla 2014-2019",
    "pet supplies",
    "Grain-free dry dog food, salmon and sweet potato, 12 kg",
    "gaming laptop rtx 4070",
    "Mechanical keyboard with hot-swappable switches and RGB backlight",
    "A lightweight, breathable shirt made from 100% organic cotton. Machine washable.",
    "Limited edition vinyl record, remastered, 180 g",
    "baby/diapers",
    "Pampers Baby-Dry size 4, 174 count",
    "Phone case",
    "sofa",
    "Handmade ceramic mug, 350 ml, dishwasher safe, each piece unique",
    "FREE SHIPPING!!! best price 50% off",
    "Smartwatch with GPS, heart-rate monitor and 7-day battery life",
    "jewelry/rings",
    "Sterling silver ring with cubic zirconia",
    "Electric toothbrush with 3 cleaning modes and travel case",
    "Luftreiniger mit HEPA-Filter für Räume bis 40 m²",
    "Aspirateur robot laveur avec station de vidange automatique",
    "Bluetooth speaker waterproof IPX7 portable 20W",
    "groceries/snacks",
    "N/A",
    "?",
    "...",
    "-",
    "#1",
    "ok",
)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/streamguard/onnx``, else ``~/.cache/streamguard/onnx``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base, "streamguard", "onnx")


def model_key(model_dir: Path, precision: Precision) -> str:
    """A short hash of the recipe, the precision and the model directory's files."""
    digest = hashlib.sha256(f"{RECIPE}\0{precision}".encode())
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"\0{path.relative_to(model_dir)}\0{stat.st_size}\0".encode())
        if stat.st_size <= _SMALL_FILE:
            digest.update(path.read_bytes())
        else:  # the weights: hashing 90 MB on every start costs more than it guards
            digest.update(str(stat.st_mtime_ns).encode())
    return digest.hexdigest()[:20]


def ensure_onnx_model(
    model_dir: str | Path, precision: Precision = "int8", cache_dir: str | Path | None = None
) -> Path:
    """The cached ONNX model of ``model_dir`` (a local encoder), exported if missing."""
    source = Path(model_dir)
    if not source.is_dir():
        raise FileNotFoundError(f"the ONNX backend needs a local model directory, got {model_dir}")
    if precision not in ("int8", "fp32"):
        raise ValueError(f"precision must be int8 or fp32, got {precision!r}")
    parent = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = parent / model_key(source, precision) / precision
    model = target / "model.onnx"
    if model.is_file():
        return model
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{precision}-", dir=target.parent))
    try:
        started = time.monotonic()
        meta = _export(source, precision, temp)
        meta["export_seconds"] = round(time.monotonic() - started, 2)
        (temp / "meta.json").write_text(json.dumps(meta, indent=2))
        try:
            os.rename(temp, target)
        except OSError:
            if not model.is_file():  # not a lost race: a real failure
                raise
            log.info("another process exported %s first; using it", target)
        else:
            log.info(
                "exported %s (%s) to %s in %.1f s (worst cosine to float32 %.4f)",
                source.name,
                precision,
                target,
                meta["export_seconds"],
                meta["min_cosine"],
            )
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return model


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's deprecation and tracer warnings and the quantizer's chatter
    (one line per tensor, logged on the root logger) for the duration of an export."""

    def no_quantizer_advice(record: logging.LogRecord) -> bool:
        return record.name != "root"  # the quantizer logs through logging.info/warning

    root = logging.getLogger()
    root.addFilter(no_quantizer_advice)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeFilter(no_quantizer_advice)


def _export(source: Path, precision: Precision, out: Path) -> dict[str, Any]:
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    tokenizer, pad_id = load_tokenizer(source, 128)
    calibration = encode(tokenizer, CALIBRATION_TEXTS, len(CALIBRATION_TEXTS), pad_id)
    (batch,) = calibration.batches
    inputs = (torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask))
    with _quiet(), torch.no_grad():
        network: Any = AutoModel.from_pretrained(
            str(source), local_files_only=True, attn_implementation="eager"
        )
        pooled = _pooled(network.float().eval())
        reference = pooled(*inputs).numpy()
        if precision == "int8":
            _smooth(network, inputs)
        plain = out / ("float.onnx" if precision == "int8" else "model.onnx")
        torch.onnx.export(
            pooled,
            inputs,
            str(plain),
            input_names=["input_ids", "attention_mask"],
            output_names=["embeddings"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "embeddings": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
        rewrites: dict[str, int] = {}
        if precision == "int8":
            rewrites = _quantize(plain, out / "model.onnx")
            plain.unlink()
    got = _run(out / "model.onnx", batch.input_ids, batch.attention_mask)
    cosine = float(np.min(np.sum(got * reference[: len(got)], axis=1)))
    if cosine < MIN_COSINE:
        raise RuntimeError(f"the {precision} ONNX export is off: worst cosine {cosine:.4f}")
    import onnxruntime

    return {
        "recipe": RECIPE,
        "precision": precision,
        "source": str(source),
        "min_cosine": round(cosine, 5),
        "torch": str(torch.__version__),
        "onnxruntime": str(onnxruntime.__version__),
        "pad_id": pad_id,
        **rewrites,
    }


def _quantize(plain: Path, target: Path) -> dict[str, int]:
    """Dynamic int8 quantization of the matrix products, with the graph rewrites (how
    many sites each changed is returned for ``meta.json``)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from streamguard.embed.onnx_graph import approximate_gelu, share_equal_scalings

    graph = onnx.load(str(plain))
    shared = share_equal_scalings(graph)
    onnx.save(graph, str(plain))
    quantize_dynamic(
        plain,
        target,
        per_channel=True,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
    )
    graph = onnx.load(str(target))
    gelus = approximate_gelu(graph)
    onnx.save(graph, str(target))
    return {"shared_scalings": shared, "fast_gelu": gelus}


def _run(path: Path, input_ids: Any, attention_mask: Any) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]


def _pooled_module() -> Any:
    import torch

    class Pooled(torch.nn.Module):
        """The encoder, mean pooling over the mask, L2 normalisation: one graph."""

        def __init__(self, network: Any) -> None:
            super().__init__()
            self.network = network

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.network(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    return Pooled


def _pooled(network: Any) -> Any:
    return _pooled_module()(network)


def _smooth(network: Any, inputs: tuple[Any, Any]) -> None:
    """Move activation range into the weights of every encoder linear layer (see the
    module docstring); needs the BERT layout (``encoder.layer[i].attention.self.query``
    and so on), as MiniLM has."""
    import torch

    ranges: dict[str, Any] = {}
    handles = []
    for name, module in network.named_modules():
        if isinstance(module, torch.nn.Linear) and name.startswith("encoder."):

            def record(module: Any, args: Any, output: Any, name: str = name) -> None:
                seen = args[0].detach().abs().reshape(-1, args[0].shape[-1]).amax(dim=0)
                ranges[name] = torch.maximum(ranges[name], seen) if name in ranges else seen

            handles.append(module.register_forward_hook(record))
    try:
        network(input_ids=inputs[0], attention_mask=inputs[1])
    finally:
        for handle in handles:
            handle.remove()

    def scale(reach: Any, *linears: Any) -> Any:
        weight = torch.stack([linear.weight.detach().abs().amax(dim=0) for linear in linears])
        return reach.clamp(min=1e-5) ** SMOOTH_ALPHA / (
            weight.amax(dim=0).clamp(min=1e-5) ** (1 - SMOOTH_ALPHA)
        )

    class Smoothed(torch.nn.Module):
        def __init__(self, linear: Any, inverse: Any) -> None:
            super().__init__()
            self.linear = linear
            self.register_buffer("inverse", inverse)

        def forward(self, x: Any) -> Any:
            return self.linear(x * self.inverse)

    for index, layer in enumerate(network.encoder.layer):
        prefix = f"encoder.layer.{index}."
        heads, projection = layer.attention.self, layer.attention.output.dense
        qkv = (heads.query, heads.key, heads.value)
        shared = scale(ranges[prefix + "attention.self.query"], *qkv)
        folded = scale(ranges[prefix + "attention.output.dense"], projection)
        for linear in qkv:
            linear.weight.data = linear.weight.detach() * shared[None, :]
        heads.value.weight.data = heads.value.weight.detach() / folded[:, None]
        heads.value.bias.data = heads.value.bias.detach() / folded
        projection.weight.data = projection.weight.detach() * folded[None, :]
        for leaf in ("query", "key", "value"):
            setattr(heads, leaf, Smoothed(getattr(heads, leaf), 1.0 / shared))
        for owner, reach in (
            (layer.intermediate, "intermediate.dense"),
            (layer.output, "output.dense"),
        ):
            linear = owner.dense
            factor = scale(ranges[prefix + reach], linear)
            linear.weight.data = linear.weight.detach() * factor[None, :]
            owner.dense = Smoothed(linear, 1.0 / factor)
