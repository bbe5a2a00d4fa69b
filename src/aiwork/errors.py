"""The one exception tree of aiwork.

Every error aiwork raises on purpose derives from :class:`AiworkError`, carries a message a
user can act on, and is printed by the CLI as one line (exit status 1). Errors say what went
wrong in the terms of the domain; none carries an HTTP status: the API maps them to statuses
in one table (:mod:`aiwork.api.errors`)::

    AiworkError
    ├── ConfigError                  a setting or path is wrong
    │   ├── AnalyzerUnavailable      an analyzer's model package or file is missing
    │   ├── ModelStoreError          a registered version's files are missing from the model
    │   │                            store, or no longer match its weights digest
    │   └── KeyMismatchError         a log presents another key than the witness expects
    ├── InputError                   what the user gave cannot be used
    │   ├── MalformedJSONError       not JSON, duplicate keys, not canonical (RFC 8785)
    │   ├── TooLargeError            over a documented size limit
    │   ├── UnsafeNameError          a name from outside is not a plain file name, or would
    │   │                            be written outside its folder
    │   ├── SearchQueryError         a search query is empty, too long, only syntax, or names
    │   │                            an unknown insight
    │   ├── MediaError               a file is not media aiwork can read
    │   ├── NotFoundError            what was asked for does not exist
    │   │   └── UnknownLibraryError
    │   ├── ConflictError            it conflicts with what is already recorded
    │   ├── InsufficientCreditsError the account cannot pay for it
    │   ├── PurposeError             an access purpose is missing or not allowed
    │   ├── ResultRefused            a worker's result is refused
    │   ├── ReviewRefused            a review request is refused
    │   │   ├── NotAssignedError         (also ForbiddenError)
    │   │   ├── AlreadyAnsweredError     (also ConflictError)
    │   │   └── UnknownReviewItemError   (also NotFoundError)
    │   └── CosignatureRefused       a witness cosignature is refused (``reason``)
    │       ├── UnknownWitnessError      (also ForbiddenError)
    │       ├── UnknownCheckpointError   (also NotFoundError)
    │       └── CheckpointMismatchError  (also ConflictError)
    ├── ForbiddenError               the caller may not do this
    │   ├── RoleError                it lacks the role (also InputError)
    │   └── MediaGrantError          a media grant is unknown, expired or for another blob
    ├── KeyFileError                 a key file is missing, unreadable, too open or not a key
    ├── SignatureError               a signature does not verify (forged, wrong key, altered)
    ├── RequestAuthError             a request's authentication is refused (``reason``)
    │   ├── UnsignedRequestError, MalformedAuthError            (also InputError)
    │   └── BadKeyError, BadRequestSignatureError, RequestTimeError,
    │       ReplayedRequestError                                (also SignatureError)
    ├── EntryError                   a ledger entry is refused
    │   ├── UnknownKindError         its kind (or kind version) is not registered
    │   └── InvalidBodyError         its body does not match the kind's schema
    ├── LedgerError                  the ledger cannot do what was asked
    │   ├── LedgerNotFoundError      no ledger at that path (run `aiwork ledger init`)
    │   ├── OutOfRangeError          an index or size beyond the log
    │   └── IntegrityError           the stored log was altered; names the first bad index
    │       └── CommitmentError      an opening does not open its sealed commitment
    ├── ProofError                   an inclusion or consistency proof does not verify
    │   └── AccessLogError           a library's access log fails its check
    ├── NoteError                    a signed note / checkpoint is malformed or badly signed
    ├── MarketError                  the job market cannot do what was asked
    │   ├── JobRefusedError          (also InputError)
    │   │   └── InsufficientBudgetError
    │   ├── UnknownJobError          (also NotFoundError)
    │   └── LeaseError               a lease is not held, expired or done (also ConflictError)
    ├── AnchorError                  anchoring cannot do what was asked
    │   ├── EthKeyError              the Ethereum key file is unusable (also KeyFileError)
    │   ├── ChainUnreachableError    no Ethereum JSON-RPC answers at that URL
    │   ├── ContractError            no Anchor contract at that address (also InputError)
    │   ├── AnchorRefusedError       the contract refused the anchor; nothing was sent
    │   ├── TransactionFailedError   the transaction reverted or was not mined
    │   └── ReceiptError             an anchor receipt is malformed (also InputError)
    ├── CoordinatorError             a coordinator refused a request or could not be reached
    └── WitnessAlarm                 a log showed a witness what it must never do
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Self

__all__ = [
    "AccessLogError",
    "AiworkError",
    "AlreadyAnsweredError",
    "AnalyzerUnavailable",
    "AnchorError",
    "AnchorRefusedError",
    "BadKeyError",
    "BadRequestSignatureError",
    "ChainUnreachableError",
    "CheckpointMismatchError",
    "CommitmentError",
    "ConfigError",
    "ConflictError",
    "ContractError",
    "CoordinatorError",
    "CosignatureRefused",
    "EntryError",
    "EthKeyError",
    "ForbiddenError",
    "InputError",
    "InsufficientBudgetError",
    "InsufficientCreditsError",
    "IntegrityError",
    "InvalidBodyError",
    "JobRefusedError",
    "KeyFileError",
    "KeyMismatchError",
    "LeaseError",
    "LedgerError",
    "LedgerNotFoundError",
    "MalformedAuthError",
    "MalformedJSONError",
    "MarketError",
    "MediaError",
    "MediaGrantError",
    "ModelStoreError",
    "NotAssignedError",
    "NotFoundError",
    "NoteError",
    "OutOfRangeError",
    "ProofError",
    "PurposeError",
    "ReceiptError",
    "ReplayedRequestError",
    "RequestAuthError",
    "RequestTimeError",
    "ResultRefused",
    "ReviewRefused",
    "RoleError",
    "SearchQueryError",
    "SignatureError",
    "TooLargeError",
    "TransactionFailedError",
    "UnknownCheckpointError",
    "UnknownJobError",
    "UnknownKindError",
    "UnknownLibraryError",
    "UnknownReviewItemError",
    "UnknownWitnessError",
    "UnsafeNameError",
    "UnsignedRequestError",
    "WitnessAlarm",
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


class SearchQueryError(InputError):
    """A library search cannot run as asked: the query is empty, over its bound, holds no
    word to search (only quotes, ``*``, parentheses or operators), or names an unknown
    insight or search mode. Nothing was searched."""


class NotFoundError(InputError):
    """What the request names (a job, a library, an item, an index) does not exist."""


class ConflictError(InputError):
    """The request conflicts with what is already recorded (answered twice, a lease gone)."""


class ForbiddenError(AiworkError):
    """The caller is known but may not do this."""


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


class LineageError(LedgerError):
    """A model's lineage in the ledger does not hold together: a decision naming another
    model's registration, a parent or training dataset that is not what it is said to be."""


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


class RequestAuthError(AiworkError):
    """A request's authentication is refused; the API answers 401.

    ``reason`` is a short, stable, machine-readable code (``unsigned``, ``malformed``,
    ``bad-key``, ``bad-signature``, ``expired``, ``future``, ``replayed``).
    """

    reason: str = "unauthenticated"

    def __init__(self, message: str, *, reason: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        if reason is not None:
            self.reason = reason


class UnsignedRequestError(RequestAuthError, InputError):
    """One or more of the ``Aiwork-*`` headers is missing."""

    reason = "unsigned"
    hint = "sign the request: send Aiwork-Key, Aiwork-Timestamp, Aiwork-Nonce, Aiwork-Signature"


class MalformedAuthError(RequestAuthError, InputError):
    """An ``Aiwork-*`` header is present but not in the documented form."""

    reason = "malformed"


class BadKeyError(RequestAuthError, SignatureError):
    """``Aiwork-Key`` is not an Ed25519 did:key."""

    reason = "bad-key"


class BadRequestSignatureError(RequestAuthError, SignatureError):
    """The signature does not verify for the claimed key over the request as received."""

    reason = "bad-signature"


class RequestTimeError(RequestAuthError, SignatureError):
    """The signed timestamp is outside the window: ``reason`` is ``expired`` or ``future``."""

    reason = "expired"


class ReplayedRequestError(RequestAuthError, SignatureError):
    """The same key already used this nonce within the window."""

    reason = "replayed"


class CommitmentError(IntegrityError):
    """An opening does not open its commitment (or is malformed)."""

    hint = "the value or its salt is not what the public entry committed to; do not trust it"


class MediaError(InputError):
    """A file that cannot be processed as a video; the message names the file."""


class AnalyzerUnavailable(ConfigError):
    """Raised by :meth:`Analyzer.check` when a model package or file is missing."""


class ModelStoreError(ConfigError):
    """The model store (``$AIWORK_HOME/models``) lacks the files of a registered model version,
    or they no longer hash to its weights digest."""


class MarketError(AiworkError):
    """The market cannot do what was asked; nothing was written."""


class JobRefusedError(MarketError, InputError):
    """A job submission is invalid (no analyzers, unknown analyzer, bad redundancy...)."""


class InsufficientBudgetError(JobRefusedError):
    """The job's budget does not cover price x tasks x redundancy."""


class UnknownJobError(MarketError, NotFoundError):
    """No job, task or replica with that id."""


class LeaseError(MarketError, ConflictError):
    """A lease is unknown, expired, held by another worker, or already used."""


class AnchorError(AiworkError):
    """Anchoring on the chain cannot do what was asked."""


class EthKeyError(AnchorError, KeyFileError):
    """The Ethereum key file is missing, readable by others, or holds no secp256k1 key."""

    hint = "the file holds one secp256k1 private key as 64 hex digits (0x optional), mode 0600"


class ChainUnreachableError(AnchorError):
    """Nothing answers Ethereum JSON-RPC at the URL given."""

    hint = "check --rpc and that the node is running (scripts/anvil starts a local one)"


class ContractError(AnchorError, InputError):
    """The contract address is malformed, or no Anchor contract lives there on this chain."""

    hint = "check --contract and --rpc, or deploy one with `aiwork anchor deploy`"


class AnchorRefusedError(AnchorError):
    """The contract refused the anchor; ``reason`` is its revert message. Nothing was sent."""

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class TransactionFailedError(AnchorError):
    """A transaction was sent but reverted on chain, or was not mined in time."""


class ReceiptError(AnchorError, InputError):
    """An anchor receipt (or an ``anchor/v1`` body) is malformed."""


class InsufficientCreditsError(InputError):
    """A job's budget is more than the requester has available."""


class RoleError(ForbiddenError, InputError):
    """The caller lacks the role an action needs."""


class MediaGrantError(ForbiddenError):
    """A media grant (``?grant=`` on the blob route) is not a token, unknown, expired, for
    another blob, or its reader may no longer read the library; nothing is served."""

    reason = "grant-refused"


class UnknownLibraryError(NotFoundError):
    """No library with that id."""


class PurposeError(InputError):
    """A read of a sensitive library states no purpose, or an unusable one."""


class ResultRefused(InputError):
    """A submitted result failed a check; nothing was recorded."""


class ReviewRefused(InputError):
    """A review request was refused; nothing was recorded."""


class NotAssignedError(ReviewRefused, ForbiddenError):
    """The item is not assigned to this expert, or the expert may not read its library."""


class AlreadyAnsweredError(ReviewRefused, ConflictError):
    """The expert already gave a verdict on this item."""


class UnknownReviewItemError(ReviewRefused, NotFoundError):
    """No review item has that id."""


class CosignatureRefused(InputError):
    """A cosignature was refused; ``reason`` is a short, stable code naming why
    (``bad-checkpoint``, ``bad-cosignature``, ...)."""

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class UnknownWitnessError(CosignatureRefused, ForbiddenError):
    """The cosignature's key is not one of this log's witnesses."""


class UnknownCheckpointError(CosignatureRefused, NotFoundError):
    """This log never signed a checkpoint of that size."""


class CheckpointMismatchError(CosignatureRefused, ConflictError):
    """The checkpoint given is not the one this log signed for that size."""


class CoordinatorError(AiworkError):
    """The coordinator refused a request or could not be reached; carries its reason."""

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class WitnessAlarm(AiworkError):
    """The log showed the witness something it must never do; ``evidence`` holds the proof."""

    def __init__(self, message: str, *, reason: str, evidence: Path) -> None:
        super().__init__(message, hint=f"evidence in {evidence}")
        self.reason = reason
        self.evidence = evidence


class KeyMismatchError(ConfigError):
    """The log presents another key than the one the witness was told to expect."""


class AccessLogError(ProofError):
    """A library's access log is incomplete, altered or malformed."""

    hint = "do not trust this listing; keep it as evidence and ask the coordinator's operator"
