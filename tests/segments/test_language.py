"""Parse and compile errors say where (1-based column) and what was expected."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from patron.segments import service
from patron.segments.language import BoolOp, Call, Compare, Not, SegmentQueryError, parse
from tests.segments.conftest import EXAMPLE


def test_the_example_parses_into_the_expected_tree() -> None:
    tree = parse(EXAMPLE)
    assert isinstance(tree, BoolOp)
    assert tree.op == "and"
    kinds = [type(n).__name__ for n in tree.items]
    assert kinds == ["Compare", "Compare", "Call", "Compare", "Not"]
    money = tree.items[1]
    assert isinstance(money, Compare)
    assert (money.values[0].kind, str(money.values[0].number), money.values[0].currency) == (
        "money",
        "1000000",
        "IDR",
    )
    did = tree.items[2]
    assert isinstance(did, Call)
    assert [a.text for a in did.args] == ["Product Viewed"]
    assert [(c.name, c.op, c.values[0].text) for c in did.named] == [
        ("category", "=", "Shoes"),
        ("within", "=", "30d"),
    ]
    nested = tree.items[4]
    assert isinstance(nested, Not)
    assert isinstance(nested.item, Call)


def test_precedence_and_keywords_are_case_insensitive() -> None:
    tree = parse("a = 1 or b = 2 and not c = 3")
    assert isinstance(tree, BoolOp)
    assert tree.op == "or"
    right = tree.items[1]
    assert isinstance(right, BoolOp)
    assert right.op == "and"
    assert isinstance(right.items[1], Not)


@pytest.mark.parametrize(
    ("query", "position", "message"),
    [
        ("", 1, "expected a condition, like orders_count >= 2, found the end of the query"),
        (
            "orders_count >= ",
            17,
            "expected a value after '>=' (a number, \"text\", an amount "
            "like 100 USD, a time like -60d, true or false), found the end of the query",
        ),
        (
            "orders_count >= 2 AND",
            22,
            "expected a condition (a field like orders_count, or "
            "did(...)), found the end of the query",
        ),
        (
            "(orders_count >= 2",
            19,
            "expected ')' to close the '(' at column 1, found the end of the query",
        ),
        (
            "orders_count >= 2)",
            18,
            "expected AND, OR or the end of the query, found ')'; this ')' has no '('",
        ),
        (
            "orders_count 2",
            14,
            "expected a comparison (=, !=, >, >=, <, <=, IN, CONTAINS or IS NULL), found '2'",
        ),
        (
            'did("Viewed", within = 30x)',
            26,
            "unknown unit 'x' after 30: use h, d or w (like "
            "30d), or a currency after a space (like 100 USD)",
        ),
        ('email = "ann', 9, 'this text is not closed: add " at the end'),
        ("orders_count == 2", 14, "use a single '=' to compare"),
        ("orders_count >= 2 AND last_order_at IS 5", 40, "expected NULL after IS, found '5'"),
        ('did("A" within = 1d)', 9, "expected ',' or ')' to close did(, found 'within'"),
        ("orders_count >= 2 & total_spent > 5", 19, "unexpected character '&'"),
    ],
)
def test_syntax_errors_point_at_the_column(query: str, position: int, message: str) -> None:
    with pytest.raises(SegmentQueryError) as err:
        parse(query)
    assert (err.value.position, err.value.detail) == (position, message)
    assert err.value.field == "query"
    assert err.value.message == f"{message} (at column {position})"


@pytest.mark.parametrize(
    ("query", "position", "message"),
    [
        ("order_count >= 2", 1, "unknown field 'order_count'; did you mean 'orders_count'?"),
        ('orders_count >= "two"', 17, "expected a number for orders_count, found a text"),
        (
            "last_order_at < 60",
            17,
            "expected a time for last_order_at: relative like -60d (60 "
            'days ago) or a date like "2026-01-31", found a number',
        ),
        (
            'last_order_at < "soon"',
            17,
            'expected a date like "2026-01-31" for last_order_at, found "soon"',
        ),
        ("total_spent > 5 XYZ", 17, "unknown currency 'XYZ'"),
        (
            "total_spent > 5 EUR",
            15,
            "there is no exchange rate from EUR to the store currency "
            "IDR; set it in the store settings or write the amount in IDR",
        ),
        ('tags = "vip"', 1, 'tags is a list: use tags CONTAINS "..."'),
        ('first_name > "A"', 1, "first_name is text: compare it with =, !=, IN or CONTAINS"),
        ('did("Viewed", within = -3d)', 24, "within takes a positive duration, like within = 30d"),
        (
            "did(within = 3d)",
            1,
            'did takes the event name first, like did("Product Viewed", within = 30d)',
        ),
        ('ordered(colour = "red")', 9, "unknown ordered() filter 'colour'"),
        ('bought("x")', 1, "unknown function 'bought'"),
        ("did = 1", 1, "did is a function: write did(...)"),
        ('rfm_group = "Champs"', 13, "unknown RFM group 'Champs'; did you mean 'champions'?"),
        ("properties = 1", 1, "name the property, like properties.size"),
    ],
)
def test_meaning_errors_point_at_the_column(
    session: Session, store: object, query: str, position: int, message: str
) -> None:
    with pytest.raises(SegmentQueryError) as err:
        service.preview(session, query=query)
    assert (err.value.position, err.value.detail) == (position, message)
