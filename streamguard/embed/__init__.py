"""Sentence embeddings and their scheduling: the only package that imports torch or onnxruntime.

:mod:`~streamguard.embed.base` (the :class:`Embedder` contract),
:mod:`~streamguard.embed.hashing` (the model-free fake),
:mod:`~streamguard.embed.transformer` (the real model on torch, imported lazily),
:mod:`~streamguard.embed.onnx_runtime` and :mod:`~streamguard.embed.onnx_export` (the
model as int8 ONNX Runtime on the CPU, exported into a cache at first use, with the graph
rewrites of :mod:`~streamguard.embed.onnx_graph`),
:mod:`~streamguard.embed.backend` (``auto|torch|onnx``), :mod:`~streamguard.embed.tokens`
(the Rust fast tokenizer and length buckets),
:mod:`~streamguard.embed.process` (a model in a child process),
:mod:`~streamguard.embed.cache` (text -> vector LRU), :mod:`~streamguard.embed.batcher`
(the background batching thread) and :mod:`~streamguard.embed.scheduler` (queueing texts
for a consumer, inline or through a batcher). Import the modules themselves: this package
re-exports nothing, so importing one never loads the others.
"""
