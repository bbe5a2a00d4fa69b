"""The model store: the files of registered model versions, kept by analyzer and weights digest.

``ModelStore(root)`` (by default ``$AIWORK_HOME/models``, :meth:`ModelStore.default`) keeps one
folder per analyzer and weights digest, ``<root>/<analyzer>/<64 hex digits>/``, holding a
version's files under their own plain names (``head.npz``, ``glossary.json``). A version is
put by its files (:meth:`ModelStore.put`, or :meth:`ModelStore.put_bytes` for files made in
memory) and got by its weights digest (:meth:`ModelStore.get`), the digest a
``model.registered`` entry names.

The digest is the analyzer's own (:meth:`~aiwork.analyzers.base.Analyzer.stored_digest`: what
its decisions record when it loads those files; for ``custom_tags`` the ``.npz`` file's SHA-256,
by default :func:`~aiwork.analyzers.base.weights_digest`), so a version's folder can be checked
against its name: :meth:`ModelStore.put` hashes the copies it made and refuses files of another
digest than the one expected, and :meth:`ModelStore.get` hashes the files again (once per
process per file state) and refuses a folder whose files were altered, added or removed
(:class:`~aiwork.errors.ModelStoreError`), as it refuses a version that is not there.

Names are constrained before they reach the disk: an analyzer is one aiwork knows
(:func:`~aiwork.analyzers.analyzer_class`), a digest ``sha256:`` and 64 lowercase hex digits, a
file a plain file name (:func:`~aiwork.model.names.check_file_name`); a version holds at most
:data:`MAX_FILES` regular files (no folder, no symbolic link). A version is written to a
temporary folder beside its place and renamed into it, so a reader never sees half of one.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiwork.analyzers import analyzer_class
from aiwork.analyzers.base import Analyzer
from aiwork.analyzers.models import file_key, models_home
from aiwork.config import private_folder
from aiwork.digests import PREFIX, is_digest
from aiwork.errors import ConfigError, InputError, ModelStoreError
from aiwork.files import write_atomically
from aiwork.model.names import check_file_name

__all__ = ["MAX_FILES", "ModelStore", "StoredModel", "registered_options", "weights_options"]

#: The most files one model version may hold.
MAX_FILES = 64
_ANALYZER = re.compile(r"[a-z][a-z0-9_]{0,63}")
_COPY_CHUNK = 1 << 20

_lock = threading.Lock()
#: (folder, the state of its files) whose digest was checked in this process.
_checked: set[tuple[str, tuple[tuple[str, int, int], ...]]] = set()


@dataclass(frozen=True)
class StoredModel:
    """A model version in the store: its analyzer, weights digest, folder and files (in name
    order)."""

    analyzer: str
    digest: str
    folder: Path
    files: tuple[Path, ...]

    def options(self) -> dict[str, Any]:
        """The analyzer options that make it load these files
        (:meth:`~aiwork.analyzers.base.Analyzer.stored_options`)."""
        return analyzer_class(self.analyzer).stored_options(self.folder, self.files)


def _analyzer(name: str) -> type[Analyzer]:
    if not isinstance(name, str) or _ANALYZER.fullmatch(name) is None:
        raise InputError(f"{ascii(str(name)[:60])} is not an analyzer name")
    try:
        return analyzer_class(name)
    except ConfigError as exc:
        raise InputError(str(exc), hint=exc.hint) from None
    except ModuleNotFoundError as exc:
        raise InputError(f"the {name} analyzer cannot be loaded here ({exc.name} is missing)"
                         ) from None


def _hex(digest: str) -> str:
    if not is_digest(digest):
        raise InputError(f"{ascii(str(digest)[:80])} is not a sha256 digest "
                         "('sha256:<64 lowercase hex>')")
    return digest.removeprefix(PREFIX)


class ModelStore:
    """Registered model versions' files under ``root``: ``<root>/<analyzer>/<hex>/``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def default(cls) -> ModelStore:
        """The store of this home: ``$AIWORK_HOME/models``."""
        return cls(models_home())

    def folder(self, analyzer: str, digest: str) -> Path:
        """Where the version of ``analyzer`` with weights ``digest`` is kept (names checked)."""
        _analyzer(analyzer)
        return self.root / analyzer / _hex(digest)

    def has(self, analyzer: str, digest: str) -> bool:
        """Whether a folder for that version exists (its files are checked by :meth:`get`)."""
        return self.folder(analyzer, digest).is_dir()

    def digests(self, analyzer: str) -> list[str]:
        """The weights digests of the versions of ``analyzer`` kept here, sorted."""
        _analyzer(analyzer)
        folder = self.root / analyzer
        if not folder.is_dir():
            return []
        return sorted(PREFIX + entry.name for entry in folder.iterdir()
                      if is_digest(PREFIX + entry.name) and entry.is_dir())

    # -- reading -----------------------------------------------------------------------

    def get(self, analyzer: str, digest: str) -> StoredModel:
        """The version of ``analyzer`` with weights ``digest``, its files checked against the
        digest. ModelStoreError when it is not kept here or its files were altered."""
        kind = _analyzer(analyzer)
        folder = self.folder(analyzer, digest)
        if not folder.is_dir() or folder.is_symlink():
            raise ModelStoreError(
                f"the model store {self.root} holds no files of {analyzer} {digest}",
                hint="keep them there with aiwork models register ANALYZER VERSION --weights "
                     "FILE (or put them with aiwork.analyzers.store.ModelStore.put)")
        files = self._files(folder, analyzer, digest)
        state = (str(folder), tuple(file_key(path) for path in files))
        with _lock:
            known = state in _checked
        if not known:
            try:
                actual = self._digest(kind, files)
            except InputError as exc:
                raise ModelStoreError(
                    f"the files of {analyzer} {digest} in the model store ({folder}) were "
                    f"altered: {exc}", hint=f"remove {folder} and put the registered files "
                    "there again") from None
            if actual != digest:
                raise ModelStoreError(
                    f"the files of {analyzer} {digest} in the model store ({folder}) hash to "
                    f"{actual}: they were altered",
                    hint="put the registered files there again (aiwork models register, or "
                         "ModelStore.put), or remove the folder")
            with _lock:
                _checked.add(state)
        return StoredModel(analyzer, digest, folder, files)

    @staticmethod
    def _files(folder: Path, analyzer: str, digest: str) -> tuple[Path, ...]:
        found = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.is_file(follow_symlinks=False):
                    raise ModelStoreError(
                        f"the model store's folder of {analyzer} {digest} holds "
                        f"{entry.name!r}, which is not a regular file",
                        hint=f"remove {folder} and put it again")
                found.append(folder / entry.name)
                if len(found) > MAX_FILES:
                    raise ModelStoreError(f"the model store's folder of {analyzer} {digest} "
                                          f"holds more than {MAX_FILES} files",
                                          hint=f"remove {folder} and put it again")
        if not found:
            raise ModelStoreError(f"the model store's folder of {analyzer} {digest} is empty",
                                  hint=f"remove {folder} and put it again")
        return tuple(sorted(found, key=lambda p: p.name))

    @staticmethod
    def _digest(kind: type[Analyzer], files: Sequence[Path]) -> str:
        try:
            return kind.stored_digest(files)
        except OSError as exc:
            raise ModelStoreError(f"the files of a {kind.name} model cannot be read: {exc}"
                                  ) from None

    # -- writing -----------------------------------------------------------------------

    def put(self, analyzer: str, files: Sequence[Path], digest: str | None = None
            ) -> StoredModel:
        """Keep copies of ``files`` as a version of ``analyzer`` and return it. The copies are
        hashed as the analyzer hashes what it loads; when ``digest`` is given and they hash
        to another, InputError and nothing is kept. Putting a version already kept (and
        sound) keeps the one there."""
        kind = _analyzer(analyzer)
        sources = list(files)
        names = self._names([path.name for path in sources])
        for path in sources:
            if not path.is_file():
                raise InputError(f"{path} is not a file")

        def fill(work: Path) -> None:
            for name, path in zip(names, sources, strict=True):
                with path.open("rb") as source, (work / name).open("xb") as target:
                    shutil.copyfileobj(source, target, _COPY_CHUNK)
                    target.flush()
                    os.fsync(target.fileno())

        return self._put(kind, analyzer, fill, names, digest)

    def put_bytes(self, analyzer: str, files: Mapping[str, bytes], digest: str | None = None
                  ) -> StoredModel:
        """:meth:`put` of files given as ``{name: bytes}`` (a glossary written in memory)."""
        kind = _analyzer(analyzer)
        names = self._names(list(files))

        def fill(work: Path) -> None:
            for name in names:
                write_atomically(work / name, files[name], mode=0o600, durable=True)

        return self._put(kind, analyzer, fill, names, digest)

    @staticmethod
    def _names(names: list[str]) -> list[str]:
        if not names:
            raise InputError("a model version needs at least one file")
        if len(names) > MAX_FILES:
            raise InputError(f"a model version holds at most {MAX_FILES} files, not "
                             f"{len(names)}")
        for name in names:
            check_file_name(name)
        if len(set(names)) != len(names):
            raise InputError("two of a model version's files have the same name: "
                             f"{', '.join(sorted(names))}")
        return names

    def _put(self, kind: type[Analyzer], analyzer: str, fill: Any, names: list[str],
             digest: str | None) -> StoredModel:
        if digest is not None:
            _hex(digest)
        parent = private_folder(self.root / analyzer)
        work = Path(tempfile.mkdtemp(prefix=".incoming-", dir=parent))
        try:
            fill(work)
            copies = tuple(sorted((work / name for name in names), key=lambda p: p.name))
            actual = self._digest(kind, copies)
            kind.check_stored(copies)
            if digest is not None and actual != digest:
                raise InputError(f"these files of {analyzer} hash to {actual}, not {digest}",
                                 hint="give the files the registration was made from")
            target = self.folder(analyzer, actual)
            if target.exists():
                try:
                    return self.get(analyzer, actual)
                except ModelStoreError:
                    shutil.rmtree(target, ignore_errors=True)  # damaged: replaced below
            try:
                os.rename(work, target)
            except OSError:
                # Another process kept the same version first: use it if it is sound.
                return self.get(analyzer, actual)
            return self.get(analyzer, actual)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def registered_options(store: ModelStore, analyzer: str, digest: str,
                       given: Mapping[str, Any] | None, *, what: str) -> dict[str, Any]:
    """The options that run ``analyzer``'s registered version with weights ``digest`` (named
    ``what`` in errors, e.g. "the promoted version of custom_tags (entry 12)"): ``given`` with
    the stored files' options (:meth:`StoredModel.options`).

    What the user set wins: when ``given`` sets the analyzer's weights option, or any option
    the stored version sets, ``given`` is returned as it is. A version whose files are not in
    the store is run by ``given`` alone only when those already run its weights (a registered
    packaged model); otherwise ModelStoreError, never another model in its place."""
    from aiwork.analyzers import load

    chosen = dict(given or {})
    kind = _analyzer(analyzer)
    if kind.weights_option is not None and kind.weights_option in chosen:
        return chosen
    if store.has(analyzer, digest):
        stored = store.get(analyzer, digest).options()
        return chosen if set(stored) & set(chosen) else {**chosen, **stored}
    try:
        current = load(analyzer, chosen).model().weights_digest
    except ConfigError:  # AnalyzerUnavailable: it cannot run without the files
        current = None
    if current == digest:
        return chosen
    raise ModelStoreError(
        f"{what} ({analyzer} {digest}) has no files in the model store {store.root}",
        hint=f"keep them there (aiwork models register {analyzer} VERSION --weights FILE...), "
             f"promote another version (aiwork models promote {analyzer} INDEX), or give the "
             f"analyzer's weights option")


def weights_options(analyzer: str, path: Path) -> dict[str, Any]:
    """The options that make ``analyzer`` run the weights in ``path`` (a file, or a folder of
    its files), given as ``aiwork models register`` takes them: a custom tags ``.npz``, a
    transcript ``glossary.json``. InputError for an analyzer without a weights option or a
    path that is not there."""
    kind = _analyzer(analyzer)
    if kind.weights_option is None:
        raise InputError(f"the {analyzer} analyzer takes no weights file",
                         hint="analyzers that do: custom_tags (a .npz), transcript "
                              "(a glossary.json)")
    if path.is_dir():
        files = tuple(sorted((entry for entry in path.iterdir() if entry.is_file()),
                             key=lambda p: p.name))[:MAX_FILES + 1]
        folder = path
    elif path.is_file():
        files, folder = (path,), path.parent
    else:
        raise InputError(f"{path}: no such file or folder")
    if not files or len(files) > MAX_FILES:
        raise InputError(f"{path}: expected 1 to {MAX_FILES} weight files")
    return kind.stored_options(folder, files)
