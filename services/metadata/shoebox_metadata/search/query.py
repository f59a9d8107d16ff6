"""The v1 search language (seed 003: `cat tag:pets owner:me`), parsed without the database.

A query is terms separated by white space; every term must hold, and `-` before one negates it:

- `cat`: a free word, found anywhere in the title, file name, description or tags (as a substring, without
  regard to case; a word of one or two letters matches the beginning of a word);
- `"black cat"`: a phrase, those words in that order (a quoted single word matches that whole word only);
- `tag:pets` (also `tag:"new york"`): a tag, whole, without regard to case;
- `owner:me`: the caller's own images (without it: also those in albums shared with the caller);
- `album:alb_123`: in that album (one the caller may read);
- `type:image`, `type:video`: by content type;
- `before:2024-01-01` (before that day began, UTC), `after:2024-01-01` (that day or later), on when the
  image was taken if its EXIF said, else when it was uploaded; these two cannot be negated (use the other);
- `is:public`: public images, anyone's (the only way to search beyond what is one's own or shared).

Anything else shaped `name:value` with a name of letters is an unknown operator, and an error (quote it to
search for it as text). Every error names the offending token and where it starts (a 0-based offset into
the query), in the message and in `details`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from shoebox_lib.errors import InvalidInput

MAX_QUERY_LENGTH = 512
MAX_TERMS = 16
SHORT_WORD = 3  # free words shorter than this match word beginnings (no trigram to look up)

ALBUM_ID = re.compile(r"alb_([0-9]{1,18})")  # ASCII digits within bigint, as `shoebox_lib.ids` parses ids
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
OPERATOR_NAME = re.compile(r"[A-Za-z]+")
BIGINT_MAX = 2**63 - 1


class Operator(StrEnum):
    TAG = "tag"
    OWNER = "owner"
    ALBUM = "album"
    TYPE = "type"
    BEFORE = "before"
    AFTER = "after"
    IS = "is"


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


class ErrorCode(StrEnum):
    QUERY_TOO_LONG = "QUERY_TOO_LONG"
    TOO_MANY_TERMS = "TOO_MANY_TERMS"
    UNCLOSED_QUOTE = "UNCLOSED_QUOTE"
    EMPTY_PHRASE = "EMPTY_PHRASE"
    STRAY_QUOTE = "STRAY_QUOTE"
    LONE_NEGATION = "LONE_NEGATION"
    UNKNOWN_OPERATOR = "UNKNOWN_OPERATOR"
    MISSING_VALUE = "MISSING_VALUE"
    INVALID_VALUE = "INVALID_VALUE"
    NOT_NEGATABLE = "NOT_NEGATABLE"


# --- what a query means ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Word:
    text: str

    @property
    def short(self) -> bool:
        return len(self.text) < SHORT_WORD


@dataclass(frozen=True)
class Phrase:
    text: str


@dataclass(frozen=True)
class Tag:
    key: str  # lower case


@dataclass(frozen=True)
class OwnedByCaller:
    pass


@dataclass(frozen=True)
class InAlbum:
    collection_id: int


@dataclass(frozen=True)
class OfKind:
    kind: MediaKind


@dataclass(frozen=True)
class Before:
    ms: int  # the moment is earlier than this


@dataclass(frozen=True)
class NotBefore:
    ms: int  # the moment is this or later (`after:`)


@dataclass(frozen=True)
class Public:
    pass


Condition = Word | Phrase | Tag | OwnedByCaller | InAlbum | OfKind | Before | NotBefore | Public


@dataclass(frozen=True)
class Token:
    text: str  # as the client wrote it, `-` and quotes included
    position: int  # 0-based offset of its first character in the query


@dataclass(frozen=True)
class Term:
    condition: Condition
    negated: bool
    token: Token


@dataclass(frozen=True)
class Query:
    terms: tuple[Term, ...]

    @property
    def includes_public(self) -> bool:
        """Whether the query asks for public images (anyone's) with an un-negated `is:public`."""
        return any(isinstance(t.condition, Public) and not t.negated for t in self.terms)


# --- errors ----------------------------------------------------------------------------------------------

def _error(code: ErrorCode, message: str, token: Token) -> InvalidInput:
    shown = token.text if len(token.text) <= 60 else token.text[:57] + "..."
    return InvalidInput(
        f"Invalid search query: {message} ({shown!r} at position {token.position})",
        details=[{"code": code.value, "field": "q", "message": message, "token": token.text,
                  "position": token.position}],
    )


# --- parsing ---------------------------------------------------------------------------------------------

def parse(q: str) -> Query:
    """The query's terms, in order; a malformed query is InvalidInput naming the bad token."""
    if len(q) > MAX_QUERY_LENGTH:
        raise _error(ErrorCode.QUERY_TOO_LONG, f"a query is at most {MAX_QUERY_LENGTH} characters",
                     Token(q[MAX_QUERY_LENGTH:], MAX_QUERY_LENGTH))
    terms: list[Term] = []
    for token in _tokens(q):
        if len(terms) == MAX_TERMS:
            raise _error(ErrorCode.TOO_MANY_TERMS, f"a query has at most {MAX_TERMS} terms", token)
        terms.append(_term(token))
    return Query(tuple(terms))


def _tokens(q: str) -> list[Token]:
    """White-space separated tokens; a double quote opens text that runs, spaces and all, to the next one."""
    tokens: list[Token] = []
    i = 0
    while i < len(q):
        if q[i].isspace():
            i += 1
            continue
        start = i
        while i < len(q) and not q[i].isspace():
            if q[i] == '"':
                close = q.find('"', i + 1)
                if close == -1:
                    raise _error(ErrorCode.UNCLOSED_QUOTE, "a quote is never closed", Token(q[i:], i))
                i = close + 1
                if i < len(q) and not q[i].isspace():
                    raise _error(ErrorCode.STRAY_QUOTE, "a closing quote must end the term",
                                 Token(_bare(q, start), start))
            else:
                i += 1
        tokens.append(Token(q[start:i], start))
    return tokens


def _bare(q: str, start: int) -> str:
    """The text from `start` to the next white space (to show in an error)."""
    end = start
    while end < len(q) and not q[end].isspace():
        end += 1
    return q[start:end]


def _unquote(text: str, token: Token) -> tuple[str, bool]:
    """The text without its surrounding quotes, and whether it had them; a quote anywhere else is an error."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if '"' not in inner:
            return inner, True
    if '"' in text:
        raise _error(ErrorCode.STRAY_QUOTE, "quotes must surround a whole phrase or value", token)
    return text, False


def _term(token: Token) -> Term:
    text = token.text
    negated = text.startswith("-")
    if negated:
        text = text[1:]
        if not text:
            raise _error(ErrorCode.LONE_NEGATION, "'-' must be followed by a term", token)
    name, colon, value = text.partition(":")
    if colon and OPERATOR_NAME.fullmatch(name):
        return Term(_operator(name.lower(), value, token, negated), negated, token)
    body, quoted = _unquote(text, token)
    if quoted:
        if not any(char.isalnum() for char in body):  # the document's words are runs of letters and digits
            raise _error(ErrorCode.EMPTY_PHRASE, "a phrase needs at least one word", token)
        return Term(Phrase(body), negated, token)
    return Term(Word(body), negated, token)


def _operator(name: str, raw: str, token: Token, negated: bool) -> Condition:
    try:
        operator = Operator(name)
    except ValueError:
        known = ", ".join(f"{o.value}:" for o in Operator)
        raise _error(ErrorCode.UNKNOWN_OPERATOR, f"unknown operator '{name}:' (known: {known})", token) from None
    value, _ = _unquote(raw, token)
    if not value.strip():
        raise _error(ErrorCode.MISSING_VALUE, f"'{operator.value}:' needs a value", token)
    if negated and operator in (Operator.BEFORE, Operator.AFTER):
        other = Operator.AFTER if operator is Operator.BEFORE else Operator.BEFORE
        raise _error(ErrorCode.NOT_NEGATABLE, f"'-{operator.value}:' cannot be negated; use '{other.value}:'",
                     token)
    match operator:
        case Operator.TAG:
            return Tag(value.lower())
        case Operator.OWNER:
            if value.lower() != "me":
                raise _error(ErrorCode.INVALID_VALUE, "'owner:' takes 'me'", token)
            return OwnedByCaller()
        case Operator.ALBUM:
            found = ALBUM_ID.fullmatch(value)
            if found is None or not 0 < int(found.group(1)) <= BIGINT_MAX:
                raise _error(ErrorCode.INVALID_VALUE, "'album:' takes an album id (alb_<n>)", token)
            return InAlbum(int(found.group(1)))
        case Operator.TYPE:
            try:
                return OfKind(MediaKind(value.lower()))
            except ValueError:
                raise _error(ErrorCode.INVALID_VALUE, "'type:' takes 'image' or 'video'", token) from None
        case Operator.BEFORE:
            return Before(_day_start_ms(value, operator, token))
        case Operator.AFTER:
            return NotBefore(_day_start_ms(value, operator, token))
        case Operator.IS:
            if value.lower() != "public":
                raise _error(ErrorCode.INVALID_VALUE, "'is:' takes 'public'", token)
            return Public()


def _day_start_ms(value: str, operator: Operator, token: Token) -> int:
    """Milliseconds since the epoch at the start of a YYYY-MM-DD day, UTC."""
    try:
        if not DAY.fullmatch(value):
            raise ValueError
        day = date.fromisoformat(value)
    except ValueError:
        raise _error(ErrorCode.INVALID_VALUE, f"'{operator.value}:' takes a date as YYYY-MM-DD", token) from None
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
