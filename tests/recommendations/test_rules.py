"""Every business rule on the served lists, with what it removed."""

from __future__ import annotations

from sqlalchemy.orm import Session

from patron.catalog import service as catalog_service
from patron.catalog.schemas import ProductStatus, ProductUpdate
from patron.recommendations import service
from patron.recommendations.schemas import CategoryRule, RepeatPolicy
from tests.recommendations.conftest import Store, add_cart, refund
from tests.recommendations.test_kinds import listed


def skus(store: Store, result: object) -> list[str]:
    return [k for k, _ in listed(store, result)]  # type: ignore[arg-type]


def test_out_of_stock_and_inactive_are_read_fresh(session: Session, store: Store) -> None:
    s = store
    service.train(session)
    assert skus(s, service.together(session, product_ids=[s.products["mug"]])) == [
        "coffee", "filter",
    ]  # fmt: skip
    # after training: coffee sells out, the filter is archived; no retraining needed
    catalog_service.update(session, product_id=s.products["coffee"], data=ProductUpdate(stock=0))
    catalog_service.update(session, product_id=s.products["filter"],
                           data=ProductUpdate(status=ProductStatus.ARCHIVED))  # fmt: skip
    got = service.together(session, product_ids=[s.products["mug"]])
    assert skus(s, got) == []
    assert got.excluded == {"inactive": 2, "out_of_stock": 2}
    # a sold-out product comes back when restocked; stock None (not tracked) is in stock
    catalog_service.update(session, product_id=s.products["coffee"], data=ProductUpdate(stock=5))
    assert skus(s, service.together(session, product_ids=[s.products["mug"]])) == ["coffee"]


def test_items_in_the_cart_are_not_recommended(session: Session, store: Store) -> None:
    s = store
    service.train(session)
    before = service.for_you(session, customer_id=s.customers["cat"], limit=2)
    assert skus(s, before) == ["filter", "coffee"]
    add_cart(session, s, "cat", ["coffee"])
    after = service.for_you(session, customer_id=s.customers["cat"], limit=2)
    assert skus(s, after) == ["filter", "mug-pro"]
    assert after.excluded["in_cart"] == 1


def test_refunded_items_are_not_recommended_to_that_customer(
    session: Session, store: Store
) -> None:
    s = store
    refund(session, s, "hal", "filter", 17)  # a partial refund naming the filter by sku
    service.train(session)
    got = service.for_you(session, customer_id=s.customers["hal"])
    assert "filter" not in skus(s, got)
    assert got.excluded["refunded"] == 1
    # another customer may still get it
    assert "filter" in skus(s, service.for_you(session, customer_id=s.customers["ann"]))


def test_bought_durables_are_excluded_consumables_are_not(session: Session, store: Store) -> None:
    s = store
    service.train(session)
    got = service.for_you(session, customer_id=s.customers["ann"], limit=10)
    assert "coffee" in skus(s, got)  # Food > Coffee: bought again by 2 of 10 pairs
    assert "mug" not in skus(s, got)  # Home > Kitchen: nobody bought a mug twice
    assert got.excluded["already_bought"] == 1


def test_category_rules_override_what_the_data_says(session: Session, store: Store) -> None:
    s = store
    service.train(session)
    for path, policy in (("Food", RepeatPolicy.DURABLE),
                         (" Home >Kitchen ", RepeatPolicy.CONSUMABLE)):  # fmt: skip
        service.set_category_rule(session, rule=CategoryRule(category_path=path, policy=policy))
    assert [(r.category_path, r.policy.value) for r in service.list_category_rules(session)] == [
        ("Food", "durable"),
        ("Home > Kitchen", "consumable"),
    ]
    got = service.for_you(session, customer_id=s.customers["ann"], limit=10)
    assert "coffee" not in skus(s, got)  # "Food" covers "Food > Coffee"
    assert "mug" in skus(s, got)
    service.delete_category_rule(session, category_path="Food")
    got = service.for_you(session, customer_id=s.customers["ann"], limit=10)
    assert skus(s, got)[0] == "coffee"


def test_diversity_caps_one_family(session: Session, store: Store) -> None:
    s = store
    service.train(session)
    got = service.trending(session, limit=10)
    # mug, mug-red and mug-green are one family ("classic-mug"): only the two best stay
    family = [k for k in skus(s, got) if k in ("mug", "mug-red", "mug-green")]
    assert family == ["mug", "mug-green"]
    assert got.excluded["diversity"] == 1
    similar = service.similar(session, product_id=s.products["mug-pro"], limit=10)
    assert [k for k in skus(s, similar) if k in ("mug", "mug-red", "mug-green")] == [
        "mug", "mug-green",
    ]  # fmt: skip
