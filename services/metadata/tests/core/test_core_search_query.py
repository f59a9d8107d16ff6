"""The v1 search language, token by token, without the database: what each term means, where it starts,
and every malformed query refused with the offending token and its position."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shoebox_lib.errors import InvalidInput
from shoebox_metadata.search.query import (
    MAX_QUERY_LENGTH,
    MAX_TERMS,
    Before,
    ErrorCode,
    InAlbum,
    MediaKind,
    NotBefore,
    OfKind,
    OwnedByCaller,
    Phrase,
    Public,
    Tag,
    Term,
    Token,
    Word,
    parse,
)


def day_ms(year: int, month: int, day: int) -> int:
    return int(datetime(year, month, day, tzinfo=UTC).timestamp() * 1000)


def refused(q: str) -> dict[str, object]:
    """The one detail of the InvalidInput that `q` raises, checked to name its token in the message too."""
    with pytest.raises(InvalidInput) as raised:
        parse(q)
    [detail] = raised.value.details
    assert detail["field"] == "q"
    assert f"at position {detail['position']}" in raised.value.message
    assert raised.value.message.startswith("Invalid search query: ")
    return detail


def test_the_seeds_example_term_by_term() -> None:
    assert parse("cat tag:pets owner:me").terms == (
        Term(Word("cat"), False, Token("cat", 0)),
        Term(Tag("pets"), False, Token("tag:pets", 4)),
        Term(OwnedByCaller(), False, Token("owner:me", 13)),
    )


@pytest.mark.parametrize(("q", "condition"), [
    ("cat", Word("cat")),
    ("Cat.PNG", Word("Cat.PNG")),
    ("12:30", Word("12:30")),  # a colon after something other than letters is text
    ('"black cat"', Phrase("black cat")),
    ('"cat"', Phrase("cat")),
    ("tag:Pets", Tag("pets")),
    ('tag:"New York"', Tag("new york")),
    ("TAG:pets", Tag("pets")),
    ("owner:me", OwnedByCaller()),
    ("owner:ME", OwnedByCaller()),
    ("album:alb_123", InAlbum(123)),
    ("type:image", OfKind(MediaKind.IMAGE)),
    ("type:VIDEO", OfKind(MediaKind.VIDEO)),
    ("before:2024-01-01", Before(day_ms(2024, 1, 1))),
    ("after:2024-02-29", NotBefore(day_ms(2024, 2, 29))),
    ("is:public", Public()),
    ("is:PUBLIC", Public()),
])
def test_each_term(q: str, condition: object) -> None:
    [term] = parse(q).terms
    assert term == Term(condition, False, Token(q, 0))  # type: ignore[arg-type]


@pytest.mark.parametrize(("q", "condition"), [
    ("-cat", Word("cat")),
    ('-"black cat"', Phrase("black cat")),
    ("-tag:x", Tag("x")),
    ("-owner:me", OwnedByCaller()),
    ("-album:alb_7", InAlbum(7)),
    ("-type:video", OfKind(MediaKind.VIDEO)),
    ("-is:public", Public()),
])
def test_negation(q: str, condition: object) -> None:
    [term] = parse(q).terms
    assert term == Term(condition, True, Token(q, 0))  # type: ignore[arg-type]


def test_positions_count_from_zero_across_any_white_space() -> None:
    terms = parse('  cat\t"black  dog"\n -tag:x  is:public ').terms
    assert [(t.token.text, t.token.position) for t in terms] == [
        ("cat", 2), ('"black  dog"', 6), ("-tag:x", 20), ("is:public", 28)]
    assert terms[1].condition == Phrase("black  dog")


def test_an_empty_query_has_no_terms() -> None:
    assert parse("").terms == ()
    assert parse("   \t ").terms == ()


def test_only_a_plain_is_public_reaches_public_images() -> None:
    assert parse("cat is:public").includes_public
    assert not parse("cat -is:public").includes_public
    assert not parse("cat").includes_public


def test_short_words_are_marked_short() -> None:
    assert [t.condition.short for t in parse("a ab abc").terms] == [True, True, False]  # type: ignore[union-attr]


@pytest.mark.parametrize(("q", "code", "token", "position"), [
    ("cat colour:red", ErrorCode.UNKNOWN_OPERATOR, "colour:red", 4),
    ("http://example.com", ErrorCode.UNKNOWN_OPERATOR, "http://example.com", 0),
    ("-foo:bar", ErrorCode.UNKNOWN_OPERATOR, "-foo:bar", 0),
    ('cat "black dog', ErrorCode.UNCLOSED_QUOTE, '"black dog', 4),
    ('tag:"new york', ErrorCode.UNCLOSED_QUOTE, '"new york', 4),
    ('""', ErrorCode.EMPTY_PHRASE, '""', 0),
    ('x "  ...  "', ErrorCode.EMPTY_PHRASE, '"  ...  "', 2),
    ('"_"', ErrorCode.EMPTY_PHRASE, '"_"', 0),  # no letter or digit: no word of the document's
    ('"cat"dog', ErrorCode.STRAY_QUOTE, '"cat"dog', 0),
    ('ca"t', ErrorCode.UNCLOSED_QUOTE, '"t', 2),
    ('ab"cd ef"', ErrorCode.STRAY_QUOTE, 'ab"cd ef"', 0),
    ("cat - dog", ErrorCode.LONE_NEGATION, "-", 4),
    ("tag:", ErrorCode.MISSING_VALUE, "tag:", 0),
    ('tag:""', ErrorCode.MISSING_VALUE, 'tag:""', 0),
    ("owner:bob", ErrorCode.INVALID_VALUE, "owner:bob", 0),
    ("album:123", ErrorCode.INVALID_VALUE, "album:123", 0),
    ("album:alb_x", ErrorCode.INVALID_VALUE, "album:alb_x", 0),
    ("album:alb_0", ErrorCode.INVALID_VALUE, "album:alb_0", 0),
    ("album:alb_1234567890123456789", ErrorCode.INVALID_VALUE, "album:alb_1234567890123456789", 0),
    ("album:alb_\uff11", ErrorCode.INVALID_VALUE, "album:alb_\uff11", 0),  # a full-width digit is no digit
    ("type:audio", ErrorCode.INVALID_VALUE, "type:audio", 0),
    ("is:private", ErrorCode.INVALID_VALUE, "is:private", 0),
    ("before:2024-13-01", ErrorCode.INVALID_VALUE, "before:2024-13-01", 0),
    ("after:2023-02-29", ErrorCode.INVALID_VALUE, "after:2023-02-29", 0),
    ("after:yesterday", ErrorCode.INVALID_VALUE, "after:yesterday", 0),
    ("before:2024-1-1", ErrorCode.INVALID_VALUE, "before:2024-1-1", 0),
    ("cat -before:2024-01-01", ErrorCode.NOT_NEGATABLE, "-before:2024-01-01", 4),
    ("-after:2024-01-01", ErrorCode.NOT_NEGATABLE, "-after:2024-01-01", 0),
])
def test_malformed_queries_name_the_token_and_where_it_starts(q: str, code: ErrorCode, token: str,
                                                               position: int) -> None:
    detail = refused(q)
    assert (detail["code"], detail["token"], detail["position"]) == (code.value, token, position)
    assert q[position:].startswith(token)


def test_the_first_bad_token_is_the_one_named() -> None:
    detail = refused("cat type:audio colour:red")
    assert (detail["token"], detail["position"]) == ("type:audio", 4)


def test_the_message_quotes_the_token() -> None:
    with pytest.raises(InvalidInput) as raised:
        parse("cat colour:red")
    assert "'colour:red' at position 4" in raised.value.message
    assert "unknown operator 'colour:'" in raised.value.message


def test_the_query_length_is_bounded() -> None:
    parse("a" * MAX_QUERY_LENGTH)
    detail = refused("a" * (MAX_QUERY_LENGTH + 5))
    assert (detail["code"], detail["position"], detail["token"]) == (
        ErrorCode.QUERY_TOO_LONG.value, MAX_QUERY_LENGTH, "aaaaa")


def test_the_number_of_terms_is_bounded() -> None:
    words = [f"w{n}" for n in range(MAX_TERMS + 1)]
    assert len(parse(" ".join(words[:MAX_TERMS])).terms) == MAX_TERMS
    detail = refused(" ".join(words))
    assert detail["code"] == ErrorCode.TOO_MANY_TERMS.value
    assert detail["token"] == words[MAX_TERMS]
    assert detail["position"] == len(" ".join(words[:MAX_TERMS])) + 1


def test_a_long_token_is_shortened_in_the_message_but_whole_in_details() -> None:
    token = "nope:" + "x" * 200
    with pytest.raises(InvalidInput) as raised:
        parse(token)
    assert token not in raised.value.message
    assert raised.value.details[0]["token"] == token
