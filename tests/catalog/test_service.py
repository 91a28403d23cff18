"""Product upserts and lookups, on both backends."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.catalog import service
from patron.catalog.models import Product, ProductExternalId, Variant
from patron.catalog.schemas import ProductIn, ProductRef, ProductStatus, VariantIn
from patron.core.errors import ValidationError
from patron.store import service as store_service


def counts(session: Session) -> tuple[int, int, int]:
    return (
        session.scalar(select(func.count()).select_from(Product)) or 0,
        session.scalar(select(func.count()).select_from(ProductExternalId)) or 0,
        session.scalar(select(func.count()).select_from(Variant)) or 0,
    )


def source(session: Session, key: str) -> int:
    return store_service.ensure_source(session, key=key).id


def test_upsert_twice_changes_nothing(session: Session) -> None:
    # given a catalog of two products, one with two variants
    src = source(session, "shopify")
    products = [
        ProductIn(external_id="p1", sku="TEE-1", title="Tee", price=1999, currency="usd",
                  category_path="Apparel>Tops", variants=[
                      VariantIn(external_id="v1", sku="TEE-1-S", title="S", price=1999),
                      VariantIn(external_id="v2", sku="TEE-1-M", title="M", price=2099),
                  ]),
        ProductIn(external_id="p2", title="Mug", price=500, currency="IDR"),
    ]  # fmt: skip
    # when it is upserted twice
    first = service.upsert_products(session, products=products, source_id=src)
    before = service.get(session, product_id=first[0]).updated_at
    second = service.upsert_products(session, products=products, source_id=src)
    # then the same rows exist once, unchanged
    assert first == second
    assert counts(session) == (2, 2, 2)
    tee = service.get(session, product_id=first[0])
    assert (tee.currency, tee.category_path, tee.updated_at) == ("USD", "Apparel > Tops", before)
    assert [(v.sku, v.price) for v in tee.variants] == [("TEE-1-S", 1999), ("TEE-1-M", 2099)]


def test_second_source_links_to_the_same_product_by_sku(session: Session) -> None:
    shop, pos = source(session, "shopify"), source(session, "pos")
    [a] = service.upsert_products(
        session, products=[ProductIn(external_id="p1", sku="SKU-9", title="Bag")], source_id=shop
    )
    [b] = service.upsert_products(
        session, products=[ProductIn(external_id="77", sku="SKU-9", brand="Acme")], source_id=pos
    )
    assert a == b
    got = service.get(session, product_id=a)
    assert sorted((e.source_id, e.external_id) for e in got.external_ids) == sorted(
        [(shop, "p1"), (pos, "77")]
    )
    # None fields keep what is stored; given ones update
    assert (got.title, got.brand) == ("Bag", "Acme")
    assert counts(session) == (1, 2, 0)


def test_batch_naming_one_product_twice_makes_one(session: Session) -> None:
    src = source(session, "csv")
    ids = service.upsert_products(
        session,
        products=[ProductIn(sku="A", title="A1"), ProductIn(sku="A", title="A2", price=5)],
        source_id=src,
    )
    assert ids[0] == ids[1]
    got = service.get(session, product_id=ids[0])
    assert (got.title, got.price, counts(session)) == ("A2", 5, (1, 0, 0))


@pytest.mark.parametrize(
    ("product", "field"),
    [
        (ProductIn(sku="x", title="x", currency="XYZ"), "products[0].currency"),
        (ProductIn(sku="x", title="x", price=-1), "products[0].price"),
        (ProductIn(sku="x", title="x", stock=-3), "products[0].stock"),
        (ProductIn(sku="x", title="x", status="gone"), "products[0].status"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_names_the_field(session: Session, product: ProductIn, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        service.upsert_products(session, products=[product], source_id=source(session, "s"))
    assert err.value.field == field


def test_resolve_products_finds_or_creates_stubs(session: Session) -> None:
    src = source(session, "shopify")
    [known] = service.upsert_products(
        session, products=[ProductIn(external_id="p1", title="Known", brand="B")], source_id=src
    )
    ids = service.resolve_products(
        session,
        refs=[
            ProductRef(external_id="p1", title="Other name"),
            ProductRef(sku="NEW-1", title="New thing", price=700, currency="USD"),
            ProductRef(sku="NEW-1"),
            ProductRef(title="no ids"),
        ],
        source_id=src,
    )
    assert ids[0] == known
    assert ids[1] == ids[2]
    assert ids[1] not in (None, known)
    assert ids[3] is None
    assert service.get(session, product_id=known).title == "Known"  # a ref does not overwrite
    stub = service.get(session, product_id=ids[1])  # type: ignore[arg-type]
    assert (stub.title, stub.price, stub.status) == ("New thing", 700, ProductStatus.ACTIVE)
    assert counts(session) == (2, 1, 0)
