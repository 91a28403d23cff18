"""The segment language: tokens, a recursive-descent parser and the syntax tree.

    query      := or_expr
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := unary ("AND" unary)*
    unary      := "NOT" unary | primary
    primary    := "(" or_expr ")" | name "(" [arg ("," arg)*] ")" | path test
    test       := op value | ["NOT"] "IN" "(" value ("," value)* ")"
                | "IS" ["NOT"] "NULL" | ["NOT"] "CONTAINS" value
    arg        := value | name op value | name ["NOT"] "IN" "(" value, ... ")"
    value      := STRING | NUMBER [CURRENCY] | DURATION | TRUE | FALSE
    op         := "=" | "!=" | ">" | ">=" | "<" | "<="

Keywords are case-insensitive. A DURATION is a signed number with a unit (h, d, w):
`-60d` is "60 days ago", `30d` a window length. Positions are 1-based columns.
Hand-written (not a parser generator) so that every error says, in a marketer's words,
what was expected at which column (ADR 13).

Every error message is a `Phrase`: an English template marked with `N_` plus named
parameters. `str()` of it is the English text the API and the CLI show; the web app
extracts the marked templates into its `segments` catalogs and renders the same phrase in
the reader's language (parameters that are phrases are translated too; what the user
typed, field names and keywords are not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Literal, TypeAlias

from patron.core.errors import ValidationError

KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "CONTAINS", "TRUE", "FALSE"})
COMPARATORS = ("=", "!=", ">", ">=", "<", "<=")
UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
MAX_LENGTH = 10_000
MAX_DEPTH = 64


def N_(message: str) -> str:
    """Mark `message` (an English template) for the web app's translation catalogs."""
    return message


Param: TypeAlias = "str | int | Phrase"


class Phrase:
    """An English message template (`str.format` fields) and its parameters, so that a
    reader in another language can be shown the same message translated. A parameter is
    shown as it is (what the user typed, a name, a number) unless it is itself a Phrase."""

    __slots__ = ("params", "template")

    def __init__(self, template: str, /, **params: Param) -> None:
        self.template = template
        self.params: dict[str, Param] = params

    def __str__(self) -> str:
        if not self.params:
            return self.template
        return self.template.format(**{k: str(v) for k, v in self.params.items()})

    def __repr__(self) -> str:
        return f"Phrase({self.template!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Phrase):
            return NotImplemented
        return (self.template, self.params) == (other.template, other.params)

    def __hash__(self) -> int:
        return hash(self.template)


class SegmentQueryError(ValidationError):
    """A query that does not parse or compile: where (1-based column) and what was expected.

    `message`, `detail` and `to_dict()` are English; `template` and `params` (the Phrase
    of `detail`) let the web app say the same in the user's language."""

    def __init__(
        self, message: str | Phrase, *, position: int, expected: str | Phrase | None = None
    ) -> None:
        phrase = message if isinstance(message, Phrase) else Phrase(message)
        detail = str(phrase)
        super().__init__(f"{detail} (at column {position})", field="query")
        self.position = position
        self.expected = None if expected is None else str(expected)
        self.detail = detail
        self.phrase = phrase

    @property
    def template(self) -> str:
        return self.phrase.template

    @property
    def params(self) -> dict[str, Param]:
        return self.phrase.params

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        body["position"] = self.position
        if self.expected is not None:
            body["expected"] = self.expected
        return body


# --- tokens -----------------------------------------------------------------------------

TokenKind = Literal["string", "number", "duration", "name", "keyword", "op", "punct", "end"]


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    pos: int  # 1-based column of the first character
    value: object = None


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _describe(tok: Token) -> Param:
    if tok.kind == "end":
        return Phrase(N_("the end of the query"))
    if tok.kind == "string":
        return Phrase(N_("the text {text}"), text=tok.text)
    return f"'{tok.text}'"  # the token as typed


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise SegmentQueryError(
            Phrase(N_("the query is longer than {limit} characters"), limit=MAX_LENGTH),
            position=MAX_LENGTH + 1,
        )
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        pos = i + 1
        if ch in "\"'":
            j, out = i + 1, []
            while j < n and text[j] != ch:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                out.append(text[j])
                j += 1
            if j >= n:
                raise SegmentQueryError(
                    Phrase(N_("this text is not closed: add {quote} at the end"), quote=ch),
                    position=pos,
                    expected=ch,
                )
            tokens.append(Token("string", text[i : j + 1], pos, "".join(out)))
            i = j + 1
            continue
        m = _NUMBER.match(text, i)
        if m and (ch != "-" or (i + 1 < n and text[i + 1].isdigit())):
            j = m.end()
            number = Decimal(m.group())
            u = _NAME.match(text, j)
            if u and u.group() in UNITS:
                if "." in m.group():
                    raise SegmentQueryError(
                        Phrase(
                            N_("a duration is a whole number of hours, days or weeks, like 30d")
                        ),
                        position=pos,
                        expected="a whole number",
                    )
                tokens.append(
                    Token("duration", text[i : u.end()], pos, UNITS[u.group()] * int(number))
                )
                i = u.end()
                continue
            if u and not (u.group().isupper() and len(u.group()) == 3):
                raise SegmentQueryError(
                    Phrase(
                        N_(
                            "unknown unit '{unit}' after {number}: use h, d or w (like 30d), "
                            "or a currency after a space (like 100 USD)"
                        ),
                        unit=u.group(),
                        number=m.group(),
                    ),
                    position=j + 1,
                    expected="h, d or w",
                )
            tokens.append(Token("number", m.group(), pos, number))
            i = j
            continue
        m = _NAME.match(text, i)
        if m:
            word = m.group()
            if word.upper() in KEYWORDS:
                tokens.append(Token("keyword", word.upper(), pos))
            else:
                tokens.append(Token("name", word, pos, word))
            i = m.end()
            continue
        two = text[i : i + 2]
        if two in (">=", "<=", "!="):
            tokens.append(Token("op", two, pos))
            i += 2
            continue
        if two == "==":
            raise SegmentQueryError(
                Phrase(N_("use a single '=' to compare")), position=pos, expected="="
            )
        if two == "<>":
            raise SegmentQueryError(
                Phrase(N_("use '!=' for 'not equal'")), position=pos, expected="!="
            )
        if ch in "=<>":
            tokens.append(Token("op", ch, pos))
            i += 1
            continue
        if ch in "(),.":
            tokens.append(Token("punct", ch, pos))
            i += 1
            continue
        raise SegmentQueryError(
            Phrase(N_("unexpected character {character}"), character=repr(ch)), position=pos
        )
    tokens.append(Token("end", "", n + 1))
    return tokens


# --- the syntax tree --------------------------------------------------------------------

ValueKind = Literal["string", "number", "money", "duration", "bool"]


@dataclass(frozen=True, slots=True)
class Value:
    kind: ValueKind
    pos: int
    text: str = ""
    number: Decimal = Decimal(0)
    currency: str = ""
    duration: timedelta = timedelta(0)
    flag: bool = False

    def describe(self) -> Phrase:
        return Phrase(
            {
                "string": N_("a text"),
                "number": N_("a number"),
                "money": N_("an amount of money"),
                "duration": N_("a duration"),
                "bool": N_("true or false"),
            }[self.kind]
        )


Op = Literal[
    "=",
    "!=",
    ">",
    ">=",
    "<",
    "<=",
    "in",
    "not_in",
    "is_null",
    "is_not_null",
    "contains",
    "not_contains",
]


@dataclass(frozen=True, slots=True)
class Compare:
    path: tuple[str, ...]
    op: Op
    values: tuple[Value, ...]
    pos: int

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Value, ...]
    named: tuple[Compare, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class Not:
    item: Node
    pos: int


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: Literal["and", "or"]
    items: tuple[Node, ...]
    pos: int


Node = Compare | Call | Not | BoolOp


@dataclass(slots=True)
class _Parser:
    tokens: list[Token]
    i: int = 0
    depth: int = 0
    _unused: list[str] = field(default_factory=list)

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(
        self, expected: Phrase, *, tok: Token | None = None, hint: Phrase | None = None
    ) -> SegmentQueryError:
        tok = tok or self.tok
        found = _describe(tok)
        message = Phrase(N_("expected {expected}, found {found}"), expected=expected, found=found)
        if hint is not None:
            message = Phrase(N_("{message}; {hint}"), message=message, hint=hint)
        return SegmentQueryError(message, position=tok.pos, expected=expected)

    def is_kw(self, word: str) -> bool:
        return self.tok.kind == "keyword" and self.tok.text == word

    def is_punct(self, ch: str) -> bool:
        return self.tok.kind == "punct" and self.tok.text == ch

    def expect_punct(self, ch: str, expected: Phrase) -> Token:
        if not self.is_punct(ch):
            raise self.error(expected)
        return self.next()

    # grammar rules

    def query(self) -> Node:
        if self.tok.kind == "end":
            raise self.error(Phrase(N_("a condition, like orders_count >= 2")))
        node = self.or_expr()
        if self.tokens[self.i].kind != "end":
            expected = Phrase(N_("AND, OR or the end of the query"))
            if self.is_punct(")"):
                raise self.error(expected, hint=Phrase(N_("this ')' has no '('")))
            raise self.error(expected)
        return node

    def or_expr(self) -> Node:
        first = self.and_expr()
        items = [first]
        while self.is_kw("OR"):
            self.next()
            items.append(self.and_expr())
        return first if len(items) == 1 else BoolOp("or", tuple(items), _pos(first))

    def and_expr(self) -> Node:
        first = self.unary()
        items = [first]
        while self.is_kw("AND"):
            self.next()
            items.append(self.unary())
        return first if len(items) == 1 else BoolOp("and", tuple(items), _pos(first))

    def unary(self) -> Node:
        if self.is_kw("NOT"):
            tok = self.next()
            return Not(self.unary(), tok.pos)
        return self.primary()

    def primary(self) -> Node:
        tok = self.tok
        if self.is_punct("("):
            self.next()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise SegmentQueryError(Phrase(N_("the query nests too deeply")), position=tok.pos)
            node = self.or_expr()
            self.depth -= 1
            if not self.is_punct(")"):
                raise self.error(
                    Phrase(N_("')' to close the '(' at column {column}"), column=tok.pos)
                )
            self.next()
            return node
        if tok.kind != "name":
            raise self.error(Phrase(N_("a condition (a field like orders_count, or did(...))")))
        self.next()
        if self.is_punct("("):
            return self.call(tok)
        path = [str(tok.value)]
        while self.is_punct("."):
            self.next()
            part = self.tok
            if part.kind not in ("name", "keyword"):
                raise self.error(Phrase(N_("a property name after '.'")))
            self.next()
            path.append(part.text if part.kind == "name" else part.text.lower())
        return self.test(tuple(path), tok.pos)

    def test(self, path: tuple[str, ...], pos: int) -> Compare:
        tok = self.tok
        if tok.kind == "op":
            self.next()
            return Compare(path, tok.text, (self.value(after=tok.text),), pos)  # type: ignore[arg-type]
        negate = False
        if self.is_kw("NOT"):
            negate = True
            self.next()
            if not (self.is_kw("IN") or self.is_kw("CONTAINS")):
                raise self.error(Phrase(N_("IN or CONTAINS after NOT")))
        if self.is_kw("IN"):
            self.next()
            return Compare(path, "not_in" if negate else "in", self.value_list(), pos)
        if self.is_kw("CONTAINS"):
            self.next()
            value = self.value(after="CONTAINS")
            return Compare(path, "not_contains" if negate else "contains", (value,), pos)
        if self.is_kw("IS"):
            self.next()
            is_not = False
            if self.is_kw("NOT"):
                self.next()
                is_not = True
            if not self.is_kw("NULL"):
                raise self.error(
                    Phrase(N_("NULL after IS NOT")) if is_not else Phrase(N_("NULL after IS"))
                )
            self.next()
            return Compare(path, "is_not_null" if is_not else "is_null", (), pos)
        raise self.error(Phrase(N_("a comparison (=, !=, >, >=, <, <=, IN, CONTAINS or IS NULL)")))

    def value_list(self) -> tuple[Value, ...]:
        self.expect_punct("(", Phrase(N_("'(' to start the list of values")))
        values = [self.value(after="(")]
        while self.is_punct(","):
            self.next()
            values.append(self.value(after=","))
        self.expect_punct(")", Phrase(N_("',' or ')' to close the list")))
        return tuple(values)

    def value(self, *, after: str) -> Value:
        tok = self.tok
        if tok.kind == "string":
            self.next()
            return Value("string", tok.pos, text=str(tok.value))
        if tok.kind == "duration":
            self.next()
            assert isinstance(tok.value, timedelta)
            return Value("duration", tok.pos, text=tok.text, duration=tok.value)
        if tok.kind == "number":
            self.next()
            assert isinstance(tok.value, Decimal)
            nxt = self.tok
            if nxt.kind == "name" and str(nxt.value).isupper() and len(str(nxt.value)) == 3:
                self.next()
                return Value(
                    "money",
                    tok.pos,
                    text=f"{tok.text} {nxt.text}",
                    number=tok.value,
                    currency=str(nxt.value),
                )
            return Value("number", tok.pos, text=tok.text, number=tok.value)
        if self.is_kw("TRUE") or self.is_kw("FALSE"):
            self.next()
            return Value("bool", tok.pos, text=tok.text.lower(), flag=tok.text == "TRUE")
        raise self.error(
            Phrase(
                N_(
                    "a value after '{after}' (a number, \"text\", an amount like 100 USD, "
                    "a time like -60d, true or false)"
                ),
                after=after,
            )
        )

    def call(self, name_tok: Token) -> Call:
        self.next()  # "("
        args: list[Value] = []
        named: list[Compare] = []
        if self.is_punct(")"):
            self.next()
            return Call(str(name_tok.value), (), (), name_tok.pos)
        while True:
            tok = self.tok
            if tok.kind == "name":
                self.next()
                key = str(tok.value)
                nxt = self.tok
                if nxt.kind == "op":
                    self.next()
                    named.append(
                        Compare(
                            (key,),
                            nxt.text,  # type: ignore[arg-type]
                            (self.value(after=nxt.text),),
                            tok.pos,
                        )
                    )
                elif self.is_kw("IN") or self.is_kw("NOT"):
                    negate = self.is_kw("NOT")
                    self.next()
                    if negate and not self.is_kw("IN"):
                        raise self.error(Phrase(N_("IN after NOT")))
                    if negate:
                        self.next()
                    named.append(
                        Compare((key,), "not_in" if negate else "in", self.value_list(), tok.pos)
                    )
                else:
                    raise self.error(
                        Phrase(N_("'=' or another comparison after '{name}'"), name=key)
                    )
            else:
                if named:
                    raise self.error(
                        Phrase(
                            N_('a named filter (like category = "Shoes") in {function}()'),
                            function=name_tok.text,
                        )
                    )
                args.append(self.value(after="(" if not args else ","))
            if self.is_punct(","):
                self.next()
                continue
            if self.is_punct(")"):
                self.next()
                break
            raise self.error(Phrase(N_("',' or ')' to close {function}("), function=name_tok.text))
        return Call(str(name_tok.value), tuple(args), tuple(named), name_tok.pos)


def _pos(node: Node) -> int:
    return node.pos


def parse(text: str) -> Node:
    """The syntax tree of `text`; SegmentQueryError (422, field "query") with the column."""
    return _Parser(tokenize(text)).query()
