"""Names that come from outside and end up on a disk.

A name that a worker, a requester, a coordinator or a bundle supplies — a keyframe's file, a
job's or a video's output folder — is at most a *plain file name*: 1 to 128 characters (at
most 255 bytes of UTF-8), no ``/`` or ``\\``, no control character (NUL included), not
starting with ``.`` (so never ``.`` or ``..``). A keyframe's file is ``keyframes/`` and such a
name. The schema refuses anything else (:data:`FileName`, :data:`KeyframeFile`), and every
writer resolves a name under its output folder with :func:`inside` / :func:`write_inside`,
which refuse what would land anywhere else — a name that got past the schema, or a symbolic
link planted in the folder, still writes nothing outside it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

from aiwork.digests import DIGEST_PATTERN
from aiwork.errors import UnsafeNameError
from aiwork.files import write_atomically

__all__ = [
    "FILE_NAME_PATTERN",
    "FileName",
    "KEYFRAMES",
    "KEYFRAME_FILE_PATTERN",
    "KeyframeFile",
    "MAX_NAME_BYTES",
    "MAX_NAME_CHARS",
    "Sha256Digest",
    "check_file_name",
    "inside",
    "plain_name",
    "write_inside",
]

MAX_NAME_CHARS = 128
MAX_NAME_BYTES = 255
#: The folder, inside a video's output folder, that holds its keyframes.
KEYFRAMES = "keyframes"

_FIRST = r"[^./\\\x00-\x1f\x7f-\x9f]"
_REST = r"[^/\\\x00-\x1f\x7f-\x9f]"
#: A plain file name (the same expression in Python and in the published JSON Schema).
FILE_NAME_PATTERN = f"^{_FIRST}{_REST}{{0,{MAX_NAME_CHARS - 1}}}$"
KEYFRAME_FILE_PATTERN = f"^{KEYFRAMES}/{_FIRST}{_REST}{{0,{MAX_NAME_CHARS - 1}}}$"

_NAME = re.compile(FILE_NAME_PATTERN[1:-1])


def check_file_name(name: object) -> str:
    """``name`` if it is a plain file name, else :class:`UnsafeNameError` saying why."""
    if not isinstance(name, str):
        raise UnsafeNameError(f"a file name must be a string, not {type(name).__name__}")
    shown = ascii(name[:60])
    if name in {"", ".", ".."}:
        raise UnsafeNameError(f"{shown} is not a file name")
    if "/" in name or "\\" in name:
        raise UnsafeNameError(f"file name {shown} holds a path separator")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise UnsafeNameError(f"file name {shown} is not valid Unicode") from None
    if len(name) > MAX_NAME_CHARS or size > MAX_NAME_BYTES:
        raise UnsafeNameError(f"file name {shown}... is longer than {MAX_NAME_CHARS} characters"
                              f" or {MAX_NAME_BYTES} bytes")
    if _NAME.fullmatch(name) is None:
        raise UnsafeNameError(f"file name {shown} starts with '.' or holds a control character")
    return name


def _check_relative(relative: str) -> list[str]:
    if not isinstance(relative, str):
        raise UnsafeNameError(f"a relative path must be a string, not {type(relative).__name__}")
    return [check_file_name(part) for part in relative.split("/")]


def inside(folder: Path, relative: str) -> Path:
    """``folder/relative``, resolved, once every part of ``relative`` (``/``-separated) is a
    plain file name and the result lies under ``folder`` even after symbolic links are
    followed; else :class:`UnsafeNameError` and nothing is touched."""
    parts = _check_relative(relative)
    root = folder.resolve()
    target = root.joinpath(*parts).resolve()
    if target == root or not target.is_relative_to(root):
        raise UnsafeNameError(f"{relative!r} would be written outside {folder}")
    return target


def write_inside(folder: Path, relative: str, data: bytes | str) -> Path:
    """Write ``data`` to ``folder/relative`` (see :func:`inside`) and return where: through a
    temporary file renamed into place, so a symbolic link already at that name is replaced,
    never followed, and a reader never sees half a file."""
    target = inside(folder, relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    inside(folder, relative)  # the folders just made are still under it
    return write_atomically(target, data, mode=0o644)


def plain_name(text: str, default: str = "video") -> str:
    """A plain file name made from ``text`` (a local file's stem): characters a file name may
    not hold become ``_``, a leading ``.`` goes, and it is cut to length; ``default`` when
    nothing is left."""
    cleaned = re.sub(r"[/\\\x00-\x1f\x7f-\x9f]", "_", text).lstrip(".")
    cleaned = cleaned.encode("utf-8", "replace").decode("utf-8")[:MAX_NAME_CHARS]
    while len(cleaned.encode("utf-8")) > MAX_NAME_BYTES:
        cleaned = cleaned[:-1]
    return cleaned or default


def _bytes_at_most(limit: int) -> AfterValidator:
    def check(value: str) -> str:
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise ValueError("not valid Unicode") from None
        if size > limit:
            raise ValueError(f"longer than {limit} bytes")
        return value

    return AfterValidator(check)


#: A plain file name, as the published schema constrains it.
FileName = Annotated[str, Field(pattern=FILE_NAME_PATTERN), _bytes_at_most(MAX_NAME_BYTES)]
#: ``keyframes/`` and a plain file name.
KeyframeFile = Annotated[str, Field(pattern=KEYFRAME_FILE_PATTERN),
                         _bytes_at_most(len(KEYFRAMES) + 1 + MAX_NAME_BYTES)]
#: ``sha256:`` and 64 lowercase hex digits.
Sha256Digest = Annotated[str, Field(pattern=DIGEST_PATTERN)]
