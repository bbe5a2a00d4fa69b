"""The one exception tree of aiwork.

Every error aiwork raises on purpose derives from :class:`AiworkError`, carries a message a
user can act on, and is printed by the CLI as one line (exit status 1)::

    AiworkError
    ├── ConfigError              a setting or path is wrong
    ├── InputError               what the user gave cannot be used
    │   ├── MalformedJSONError   not JSON, duplicate keys, not canonical (RFC 8785)
    │   ├── TooLargeError        over a documented size limit
    │   └── UnsafeNameError      a name from outside is not a plain file name, or would be
    │                            written outside its folder
    ├── KeyFileError             a key file is missing, unreadable, too open or not a key
    ├── SignatureError           a signature does not verify (forged, wrong key, altered data)
    ├── EntryError               a ledger entry is refused
    │   ├── UnknownKindError     its kind (or kind version) is not registered
    │   └── InvalidBodyError     its body does not match the kind's schema
    ├── LedgerError              the ledger cannot do what was asked
    │   ├── LedgerNotFoundError  no ledger at that path (run `aiwork ledger init`)
    │   ├── OutOfRangeError      an index or size beyond the log
    │   └── IntegrityError       the stored log was altered; names the first bad index
    ├── ProofError               an inclusion or consistency proof does not verify
    └── NoteError                a signed note / checkpoint is malformed or badly signed
"""

from __future__ import annotations

import copy
from typing import Self

__all__ = [
    "AiworkError",
    "ConfigError",
    "EntryError",
    "InputError",
    "IntegrityError",
    "InvalidBodyError",
    "KeyFileError",
    "LedgerError",
    "LedgerNotFoundError",
    "MalformedJSONError",
    "NoteError",
    "OutOfRangeError",
    "ProofError",
    "SignatureError",
    "TooLargeError",
    "UnknownKindError",
    "UnsafeNameError",
]


class AiworkError(Exception):
    """Root of every error aiwork raises on purpose.

    ``str(error)`` is one line that says what went wrong; :meth:`diagnostics` adds what to do.
    """

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def within(self, context: str) -> Self:
        """The same error, its message prefixed with where it happened (``batch entry 3``)."""
        clone = copy.copy(self)
        clone.args = (f"{context}: {self}",)
        return clone

    def diagnostics(self) -> str:
        """The message and, when there is one, what the user can do about it."""
        message = str(self)
        return f"{message} ({self.hint})" if self.hint else message


class ConfigError(AiworkError):
    """A setting, environment variable or path is wrong."""


class InputError(AiworkError):
    """Something the user supplied cannot be used."""


class MalformedJSONError(InputError):
    """Input is not JSON, has duplicate keys, or is not in RFC 8785 canonical form."""


class TooLargeError(InputError):
    """Input is over a documented size limit."""


class UnsafeNameError(InputError):
    """A name that came from outside (a keyframe's file, an output folder) is not a plain
    file name, or would be written outside the folder it belongs in; nothing was written."""


class KeyFileError(AiworkError):
    """A key file is missing, unreadable, readable by others, or does not hold a key."""


class SignatureError(AiworkError):
    """A signature does not verify: forged, made with another key, or over altered data."""


class EntryError(AiworkError):
    """A ledger entry is refused; nothing was written."""


class UnknownKindError(EntryError):
    """The entry's kind, or that version of it, is not registered."""


class InvalidBodyError(EntryError):
    """The entry's body does not match the schema of its kind."""


class LedgerError(AiworkError):
    """The ledger cannot do what was asked."""


class LedgerNotFoundError(LedgerError):
    """There is no initialised ledger at the given path."""

    hint = "create one with `aiwork ledger init`, or point --db / AIWORK_HOME at an existing one"


class OutOfRangeError(LedgerError):
    """An index or tree size lies beyond the log."""


class IntegrityError(LedgerError):
    """The stored log no longer matches what was appended.

    ``index`` is the first entry found bad (``None`` when the damage is not tied to one entry,
    e.g. a checkpoint's signature).
    """

    def __init__(self, message: str, *, index: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.index = index


class ProofError(AiworkError):
    """An inclusion or consistency proof does not verify against the given root(s)."""


class NoteError(AiworkError):
    """A signed note or checkpoint is malformed, unsigned by the expected key, or forged."""
