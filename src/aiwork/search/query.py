"""A user's search text parsed into a safe structure: words, "quoted phrases", prefixes*.

Nothing of the user's text reaches the database as query syntax: every term is a run of
letters and digits (diacritics folded), and each backend builds its own query from the
terms (FTS5 string literals, PostgreSQL ``tsquery`` functions). All terms must match.

What is not a term is ignored: punctuation, a leading ``-``, parentheses, and the operator
words ``AND``, ``OR``, ``NOT`` and ``NEAR`` written in capitals (aiwork's search has no
operators; write them in lower case to search for them). A query left with no term is
refused with a message that says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiwork.errors import SearchQueryError
from aiwork.search.passages import INSIGHTS, fold

__all__ = ["MAX_QUERY_BYTES", "MAX_TERMS", "ParsedQuery", "Term", "parse_insights",
           "parse_query"]

#: The longest query, in UTF-8 bytes.
MAX_QUERY_BYTES = 1024
#: Terms (words, phrases and prefixes) of one query; words of one phrase.
MAX_TERMS = 32
#: Characters of one word.
MAX_WORD = 64
#: Characters a prefix needs before its ``*``.
MIN_PREFIX = 2

_OPERATORS = frozenset({"AND", "OR", "NOT", "NEAR"})
#: A word as both backends' tokenizers see it: letters and digits (no underscore).
_WORD = re.compile(r"[^\W_]+")
_TOKEN = re.compile(r'"(?P<phrase>[^"]*)"?|(?P<word>[^\s"]+)')


@dataclass(frozen=True)
class Term:
    """Words that must appear together, in this order (one word: anywhere); ``prefix``: the
    last word may be the start of a longer word."""

    words: tuple[str, ...]
    prefix: bool = False

    @property
    def phrase(self) -> bool:
        return len(self.words) > 1


@dataclass(frozen=True)
class ParsedQuery:
    text: str  #: the query as given
    terms: tuple[Term, ...]  #: all must match

    def words(self) -> list[str]:
        return [word for term in self.terms for word in term.words]


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(fold(text))]


def parse_query(text: str) -> ParsedQuery:
    """Parse ``text``; :class:`SearchQueryError` with what to change when it cannot be
    searched."""
    if not isinstance(text, str) or not text.strip():
        raise SearchQueryError("the search query is empty; give a word to search for")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_QUERY_BYTES:
        raise SearchQueryError(
            f"the search query is {size} bytes long; the most is {MAX_QUERY_BYTES} bytes:"
            " search for a few words or a short phrase")
    terms: list[Term] = []
    for match in _TOKEN.finditer(text):
        if match.group("phrase") is not None:
            words = _words(match.group("phrase"))
            if words:
                terms.append(Term(tuple(words)))
            continue
        token = match.group("word")
        runs = _WORD.findall(token)
        if runs and runs[0] in _OPERATORS and all(r.isdigit() for r in runs[1:]):
            continue  # AND, OR, NOT, NEAR, NEAR/3, NEAR(: an operator, not a word
        prefix = token.endswith("*")
        words = _words(token)
        if not words:
            continue
        if prefix and len(words[-1]) < MIN_PREFIX:
            raise SearchQueryError(
                f"the prefix {token!r} is too short: give at least {MIN_PREFIX} letters"
                " before the *")
        # "budget-deficit" is the phrase "budget deficit", as the index reads the text.
        terms.append(Term(tuple(words), prefix))
    if not terms:
        raise SearchQueryError(
            f"the search query {text[:80]!r} has no word to search for: quotes, *, parentheses"
            " and AND, OR, NOT, NEAR are not searched; give a word")
    for term in terms:
        for word in term.words:
            if len(word) > MAX_WORD:
                raise SearchQueryError(
                    f"the word {word[:20]!r}... is {len(word)} characters long; the most is"
                    f" {MAX_WORD}")
        if len(term.words) > MAX_TERMS:
            raise SearchQueryError(
                f"a phrase of the search query has {len(term.words)} words; the most is"
                f" {MAX_TERMS}")
    if len(terms) > MAX_TERMS:
        raise SearchQueryError(
            f"the search query has {len(terms)} terms; the most is {MAX_TERMS}")
    return ParsedQuery(text, tuple(terms))


def parse_insights(names: str | list[str] | tuple[str, ...] | frozenset[str] | None
                   ) -> frozenset[str] | None:
    """Insight names (a comma-separated string or a collection) checked against
    :data:`INSIGHTS`; None or nothing given: every insight."""
    if names is None:
        return None
    items = names.split(",") if isinstance(names, str) else list(names)
    chosen = {str(n).strip().lower() for n in items if str(n).strip()}
    if not chosen:
        return None
    unknown = sorted(chosen - set(INSIGHTS))
    if unknown:
        shown = ", ".join(repr(n[:40]) for n in unknown[:5])
        raise SearchQueryError(
            f"unknown insight {shown}; the search knows {', '.join(INSIGHTS)}")
    return frozenset(chosen)
