"""A realistic, seeded demo store, generated with NumPy and written through the services.

Deterministic: the same `--customers` and `--seed` give the same store (dates are relative
to today, counts are not). Customers are generated in blocks of BLOCK, each from its own
random stream (seed, block), written in its own transactions: a million customers run in
bounded memory.

The model: a catalog in categories with brands and price tiers (budget / standard /
premium) and Zipf-like popularity; customers in en / id / zh locales paying USD / IDR /
CNY, acquired over 24 months (more of them lately); heterogeneous purchase rates
(gamma-distributed, BG/NBD style) and drop-out after each purchase (beta-distributed
probability); a preferred channel among web, app, social and pos; lines, coupons,
shipping, tax; some cancellations and refunds; abandoned carts; browsing sessions as
"Product Viewed" events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from patron.catalog import service as catalog_service
from patron.catalog.schemas import ProductIn, ProductRef
from patron.customers import service as customers_service
from patron.customers.schemas import IdentityKey, IdentityKind, ResolveRequest
from patron.db import refresh_statistics, unit_of_work
from patron.events import service as events_service
from patron.orders import service as orders_service
from patron.orders.schemas import (
    CartIn,
    CartLineIn,
    CartStatus,
    CustomerRefIn,
    OrderIn,
    OrderLineIn,
    OrderStatus,
    RefundIn,
)
from patron.store import service as store_service

SOURCE_KEY = "demo"
BLOCK = 2000  # customers per block (and per transaction)
HORIZON_DAYS = 730
CHANNELS = ("web", "app", "social", "pos")
CHANNEL_P = (0.45, 0.30, 0.10, 0.15)
# locale -> (probability, currency, countries, country probabilities, phone prefix)
LOCALES = {
    "en": (0.5, "USD", ("US", "GB", "AU", "SG"), (0.6, 0.2, 0.1, 0.1), "+1 555"),
    "id": (0.3, "IDR", ("ID",), (1.0,), "+62 812"),
    "zh": (0.2, "CNY", ("CN", "TW", "SG"), (0.8, 0.1, 0.1), "+86 138"),
}
USD_RATE = {"USD": 1.0, "IDR": 16000.0, "CNY": 7.2}  # units of currency per USD
ROUND_TO = {"USD": 1, "IDR": 100_000, "CNY": 10}  # minor units prices are rounded to
TAX = {"USD": 0.08, "IDR": 0.11, "CNY": 0.13}
SHIPPING = {"USD": (599, 5000), "IDR": (2_000_000, 50_000_000), "CNY": (1_000, 20_000)}
FX_RATES = {"IDR": "0.0000625", "CNY": "0.1389"}  # USD per unit, set if the store has none

NAMES = {
    "en": (
        "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Susan "
        "Richard Jessica Joseph Sarah Thomas Karen Emma Oliver Ava Noah Mia Liam".split(),
        "Smith Johnson Williams Brown Jones Garcia Miller Davis Wilson Taylor Clark Lewis "
        "Walker Hall Allen Young King Wright Scott Green".split(),
    ),
    "id": (
        "Budi Siti Agus Dewi Andi Sri Rizky Putri Dimas Ayu Fajar Nur Eko Rina Hendra Wulan "
        "Bayu Indah Yusuf Lestari".split(),
        "Santoso Wijaya Saputra Hidayat Kusuma Pratama Nugroho Lestari Setiawan Gunawan "
        "Halim Susanto Wibowo Siregar Nasution".split(),
    ),
    "zh": (
        "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀英 霞 平".split(),
        "王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡".split(),
    ),
}
PINYIN = {
    "伟": "wei", "芳": "fang", "娜": "na", "敏": "min", "静": "jing", "丽": "li", "强": "qiang",
    "磊": "lei", "军": "jun", "洋": "yang", "勇": "yong", "艳": "yan", "杰": "jie",
    "娟": "juan", "涛": "tao", "明": "ming", "超": "chao", "秀英": "xiuying", "霞": "xia",
    "平": "ping", "王": "wang", "李": "li", "张": "zhang", "刘": "liu", "陈": "chen",
    "杨": "yang", "黄": "huang", "赵": "zhao", "吴": "wu", "周": "zhou", "徐": "xu",
    "孙": "sun", "马": "ma", "朱": "zhu", "胡": "hu",
}  # fmt: skip
CATEGORIES = (
    ("Fashion > Tops", ("Kirana", "Northwind", "Lumen"), ("Tee", "Shirt", "Blouse"), 12, 45),
    ("Fashion > Shoes", ("Stride", "Kirana", "Ember"), ("Sneakers", "Loafers", "Sandals"), 35, 140),
    ("Beauty > Skincare", ("Sari Ayu", "Lotus", "Dewy"), ("Serum", "Cleanser", "Toner"), 8, 60),
    ("Home > Kitchen", ("Oakline", "Wok & Co", "Panci"), ("Pan", "Knife Set", "Kettle"), 10, 90),
    ("Home > Decor", ("Oakline", "Lumen", "Batik House"), ("Lamp", "Vase", "Cushion"), 8, 70),
    ("Electronics > Audio", ("Sonik", "Echo Bay", "Pulse"), ("Earbuds", "Speaker", "Headphones"),
     20, 250),
    ("Electronics > Accessories", ("Pulse", "Volt", "Cabelo"), ("Charger", "Cable", "Case"),
     5, 40),
    ("Sports > Outdoor", ("Trailhead", "Merapi", "Stride"), ("Backpack", "Tent", "Bottle"),
     15, 180),
    ("Food > Tea & Coffee", ("Kopi Nusantara", "Jade Leaf", "Roast"), ("Beans", "Tea", "Drip Bags"),
     4, 30),
    ("Kids > Toys", ("Kidoo", "Blocky", "Panda Play"), ("Blocks", "Puzzle", "Plush"), 6, 60),
)  # fmt: skip
ADJECTIVES = "Classic Everyday Premium Essential Urban Cosy Bold Light Pro Mini".split()
TIERS = (("budget", 0.6, 0.35), ("standard", 1.0, 0.45), ("premium", 2.2, 0.20))


@dataclass
class DemoReport:
    customers: int = 0
    products: int = 0
    orders: int = 0
    lines: int = 0
    cancelled: int = 0
    refunds: int = 0
    carts: int = 0
    events: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(slots=True)
class Product:
    sku: str
    title: str
    category: str
    brand: str
    tier: str
    price_usd: int  # cents


@dataclass
class Block:
    requests: list[ResolveRequest] = field(default_factory=list)
    currencies: list[str] = field(default_factory=list)
    orders: list[tuple[int, OrderIn]] = field(default_factory=list)  # (customer k, order)
    carts: list[tuple[int, CartIn]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def product_count(customers: int) -> int:
    return 120 + min(customers // 20, 880)


def make_catalog(seed: int, n: int) -> list[Product]:
    rng = np.random.default_rng([seed, 0xCA7])
    cats = rng.integers(0, len(CATEGORIES), n)
    tiers = rng.choice(len(TIERS), n, p=[t[2] for t in TIERS])
    u = rng.random(n)
    picks = rng.integers(0, 3, (n, 2))
    adjectives = rng.integers(0, len(ADJECTIVES), n)
    out = []
    for i in range(n):
        path, brands, nouns, lo, hi = CATEGORIES[cats[i]]
        tier, mult, _ = TIERS[tiers[i]]
        dollars = int((lo + (hi - lo) * u[i]) * mult)
        out.append(Product(
            sku=f"DEMO-{i + 1:04d}", title=f"{brands[picks[i, 0]]} {ADJECTIVES[adjectives[i]]} "
            f"{nouns[picks[i, 1]]}", category=path, brand=brands[picks[i, 0]], tier=tier,
            price_usd=max(dollars, 1) * 100 - 1,
        ))  # fmt: skip
    return out


def price_in(cents_usd: int, currency: str) -> int:
    value = cents_usd * USD_RATE[currency]
    step = ROUND_TO[currency]
    return max(int(round(value / step)) * step, step)


def _customer(
    rng: np.random.Generator, index: int, locale: str, acquired: datetime
) -> tuple[ResolveRequest, str]:
    _, currency, countries, country_p, phone_prefix = LOCALES[locale]
    firsts, lasts = NAMES[locale]
    first = firsts[int(rng.integers(len(firsts)))]
    last = lasts[int(rng.integers(len(lasts)))]
    country = countries[int(rng.choice(len(countries), p=country_p))]
    if locale == "zh":
        handle = f"{PINYIN[last]}.{PINYIN[first]}"
    else:
        handle = f"{first}.{last}".lower()
    email = f"{handle}.{index}@example.com"
    keys = [
        IdentityKey.of(IdentityKind.EXTERNAL, f"demo-{index}", SOURCE_KEY),
        IdentityKey.of(IdentityKind.EMAIL, email),
    ]
    traits: dict[str, Any] = {
        "first_name": first, "last_name": last, "locale": f"{locale}-{country}",
        "country": country, "properties": {"currency": currency},
    }  # fmt: skip
    if rng.random() < 0.5:
        keys.append(IdentityKey.of(IdentityKind.PHONE, f"{phone_prefix}{index:07d}"))
    if rng.random() < 0.3:
        traits["tags"] = ["newsletter"]
    return ResolveRequest(keys=keys, traits=traits, seen_at=acquired), currency


def _purchase_times(
    rng: np.random.Generator, acquired_day: np.ndarray, buyer: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(customer index, day) of every purchase: gamma rates, beta drop-out (BG/NBD)."""
    n = len(acquired_day)
    rate = rng.gamma(shape=0.75, scale=1 / (40 * 0.75), size=n)  # purchases per day
    p_drop = rng.beta(1.0, 4.0, size=n)
    t = acquired_day + rng.random(n) * 0.5
    alive = buyer.copy()
    who: list[np.ndarray] = []
    when: list[np.ndarray] = []
    for _ in range(120):
        active = alive & (t < HORIZON_DAYS)
        if not active.any():
            break
        idx = np.nonzero(active)[0]
        who.append(idx)
        when.append(t[idx])
        alive &= active & (rng.random(n) >= p_drop)
        t = t + rng.exponential(1.0, n) / rate
    if not who:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(who), np.concatenate(when)


def make_block(
    seed: int, block: int, first_index: int, n: int, catalog: list[Product], start: datetime
) -> Block:
    rng = np.random.default_rng([seed, block])
    out = Block()
    n_products = len(catalog)
    popularity = 1.0 / (np.arange(n_products) + 5.0) ** 1.1
    popularity /= popularity.sum()
    loc_names = list(LOCALES)
    locales = rng.choice(len(loc_names), n, p=[LOCALES[k][0] for k in loc_names])
    acquired_day = HORIZON_DAYS * rng.random(n) ** 0.6
    buyer = rng.random(n) < 0.72
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_P)
    for k in range(n):
        acquired = start + timedelta(days=float(acquired_day[k]))
        request, currency = _customer(rng, first_index + k, loc_names[locales[k]], acquired)
        out.requests.append(request)
        out.currencies.append(currency)
    who, when = _purchase_times(rng, acquired_day, buyer)
    order_seq = np.zeros(n, dtype=np.int64)
    m = len(who)
    n_lines = np.minimum(1 + rng.poisson(0.9, m), 8)
    products = rng.choice(n_products, int(n_lines.sum()), p=popularity)
    quantities = 1 + (rng.random(len(products)) < 0.15) * rng.poisson(1.0, len(products))
    own_channel = rng.random(m) < 0.8
    other_channel = rng.choice(len(CHANNELS), m, p=CHANNEL_P)
    coupon = rng.random(m)
    fate = rng.random(m)
    pos = 0
    horizon_end = start + timedelta(days=HORIZON_DAYS)
    for j in range(m):
        k = int(who[j])
        seq = int(order_seq[k])
        order_seq[k] += 1
        currency = out.currencies[k]
        placed = start + timedelta(days=float(when[j]))
        ch = CHANNELS[channel[k] if own_channel[j] else other_channel[j]]
        lines = []
        for p_i, q in zip(products[pos : pos + n_lines[j]], quantities[pos : pos + n_lines[j]],
                          strict=True):  # fmt: skip
            prod = catalog[int(p_i)]
            lines.append(OrderLineIn(
                product=ProductRef(external_id=prod.sku, sku=prod.sku, title=prod.title),
                quantity=int(q), unit_price=price_in(prod.price_usd, currency),
            ))  # fmt: skip
        pos += int(n_lines[j])
        subtotal = sum(ln.quantity * ln.unit_price for ln in lines)
        codes: list[str] = []
        discount = 0
        if coupon[j] < 0.18:
            pct, code = (10, "WELCOME10") if coupon[j] < 0.10 else (15, "SALE15")
            discount = subtotal * pct // 100
            codes = [code]
        fee, free_from = SHIPPING[currency]
        shipping = 0 if ch == "pos" or subtotal >= free_from else fee
        tax = int(round((subtotal - discount) * TAX[currency]))
        ext = f"D{first_index + k:07d}-{seq:03d}"
        recent = horizon_end - placed < timedelta(days=2)
        order = OrderIn(
            external_id=ext, number=ext, placed_at=placed, currency=currency,
            customer=CustomerRefIn(), lines=lines, channel=ch,
            status=OrderStatus.PAID if recent else OrderStatus.FULFILLED,
            discount_total=discount, shipping_total=shipping, tax_total=tax,
            coupon_codes=codes,
        )  # fmt: skip
        total = subtotal - discount + shipping + tax
        if fate[j] < 0.03:
            order.status = OrderStatus.CANCELLED
            order.cancelled_at = min(placed + timedelta(hours=3), horizon_end)
        elif fate[j] < 0.08 and not recent:
            amount = total if fate[j] < 0.06 else lines[0].quantity * lines[0].unit_price
            order.refunds = [RefundIn(
                external_id=f"{ext}-r1", amount=min(amount, total),
                refunded_at=min(placed + timedelta(days=7), horizon_end),
                reason="returned" if fate[j] < 0.06 else "damaged item",
            )]  # fmt: skip
        out.orders.append((k, order))
    _carts_and_sessions(rng, out, first_index, n, acquired_day, catalog, popularity, start)
    return out


def _carts_and_sessions(
    rng: np.random.Generator, out: Block, first_index: int, n: int,
    acquired_day: np.ndarray, catalog: list[Product], popularity: np.ndarray, start: datetime,
) -> None:  # fmt: skip
    has_cart = rng.random(n) < 0.15
    sessions = np.where(rng.random(n) < 0.5, np.minimum(1 + rng.poisson(0.8, n), 4), 0)
    for k in range(n):
        recent_from = max(float(acquired_day[k]), HORIZON_DAYS - 60.0)
        if has_cart[k]:
            at = start + timedelta(days=recent_from + (HORIZON_DAYS - recent_from) * rng.random())
            chosen = rng.choice(len(catalog), int(1 + rng.integers(3)), p=popularity)
            currency = out.currencies[k]
            lines = [CartLineIn(
                product=ProductRef(external_id=catalog[int(i)].sku, sku=catalog[int(i)].sku,
                                   title=catalog[int(i)].title),
                quantity=1, unit_price=price_in(catalog[int(i)].price_usd, currency),
            ) for i in chosen]  # fmt: skip
            out.carts.append((k, CartIn(
                external_id=f"cart-{first_index + k}", customer=CustomerRefIn(), updated_at=at,
                channel="web", currency=currency, status=CartStatus.ABANDONED, lines=lines,
                value=sum(ln.unit_price * ln.quantity for ln in lines),
                checkout_url=f"https://demo.patron.local/cart/{first_index + k}",
            )))  # fmt: skip
        for s in range(int(sessions[k])):
            at = start + timedelta(days=recent_from + (HORIZON_DAYS - recent_from) * rng.random())
            views = rng.choice(len(catalog), int(1 + rng.poisson(1.5)), p=popularity)
            app = rng.random() < 0.4
            for v, i in enumerate(views):
                prod = catalog[int(i)]
                out.events.append({
                    "type": "track", "event": "Product Viewed",
                    "messageId": f"demo-{first_index + k}-{s}-{v}",
                    "userId": f"demo-{first_index + k}",
                    "timestamp": (at + timedelta(seconds=40 * v)).isoformat(),
                    "channel": "app" if app else "web",
                    "properties": {"product_id": prod.sku, "sku": prod.sku, "name": prod.title,
                                   "category": prod.category, "brand": prod.brand,
                                   "price": prod.price_usd / 100, "currency": "USD"},
                })  # fmt: skip


def is_empty() -> bool:
    with unit_of_work(readonly=True) as session:
        return not customers_service.list(session, include_anonymous=True, limit=1).items


def build(
    *, customers: int, seed: int, progress: Callable[[int], None] = lambda _: None
) -> DemoReport:
    """Generate and write the demo store; returns what was created (or already there)."""
    report = DemoReport()
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = now - timedelta(days=HORIZON_DAYS)
    catalog = make_catalog(seed, product_count(customers))
    with unit_of_work() as session:
        source_id = store_service.ensure_source(session, key=SOURCE_KEY).id
        settings = store_service.get_settings(session)
        missing = {c: r for c, r in FX_RATES.items() if c not in settings.fx_rates}
        if settings.base_currency == "USD" and missing:
            settings.fx_rates = {**settings.fx_rates, **missing}
            store_service.update_settings(session, settings=settings)
        report.products = len(catalog_service.upsert_products(session, products=[
            ProductIn(external_id=p.sku, sku=p.sku, title=p.title, category_path=p.category,
                      brand=p.brand, price=p.price_usd, currency="USD",
                      properties={"tier": p.tier})
            for p in catalog
        ], source_id=source_id))  # fmt: skip
    done = 0
    for block, first in enumerate(range(0, customers, BLOCK)):
        n = min(BLOCK, customers - first)
        data = make_block(seed, block, first + 1, n, catalog, start)
        _write_block(data, source_id, report)
        done += n
        progress(done)
    refresh_statistics()
    return report


def _write_block(data: Block, source_id: int, report: DemoReport) -> None:
    with unit_of_work() as session:
        for r in data.requests:
            r.source_id = source_id
        ids = customers_service.resolve_many(session, data.requests)
        report.customers += len(set(ids))
        for k, order in data.orders:
            order.customer = CustomerRefIn(customer_id=ids[k])
        orders = [o for _, o in data.orders]
        for i in range(0, len(orders), 2000):
            orders_service.upsert_orders(session, orders=orders[i : i + 2000],
                                         source_id=source_id)  # fmt: skip
        report.orders += len(orders)
        report.lines += sum(len(o.lines) for o in orders)
        report.cancelled += sum(o.status is OrderStatus.CANCELLED for o in orders)
        report.refunds += sum(len(o.refunds) for o in orders)
        for k, cart in data.carts:
            cart.customer = CustomerRefIn(customer_id=ids[k])
        orders_service.upsert_carts(session, carts=[c for _, c in data.carts],
                                    source_id=source_id)  # fmt: skip
        report.carts += len(data.carts)
    for i in range(0, len(data.events), 2000):
        with unit_of_work() as session:
            events_service.ingest(session, messages=data.events[i : i + 2000],
                                  source_id=source_id, received_at=datetime.now(UTC))  # fmt: skip
    report.events += len(data.events)
