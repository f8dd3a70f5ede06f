"""Write a large, realistic Shopify "Orders → Export" CSV for import benchmarks and tests.

Same shape as ``core/sample/shopify-orders-export.sample.csv``: UTF-8 with a BOM, CRLF, the 79
standard columns, one row per line item (1-3 per order), order-level fields only on an order's
first row, titles with quoted commas and quotes, dates like ``2026-10-29 14:02:11 +0100``.
Deterministic for a given seed. Standard library only.

    python benchmarks/make_shopify_export.py out.csv --rows 100000 [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

HEADER = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,"
    "Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,"
    "Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem compare at price,"
    "Lineitem sku,Lineitem requires shipping,Lineitem taxable,Lineitem fulfillment status,"
    "Billing Name,Billing Street,Billing Address1,Billing Address2,Billing Company,Billing City,"
    "Billing Zip,Billing Province,Billing Country,Billing Phone,Shipping Name,Shipping Street,"
    "Shipping Address1,Shipping Address2,Shipping Company,Shipping City,Shipping Zip,"
    "Shipping Province,Shipping Country,Shipping Phone,Notes,Note Attributes,Cancelled at,"
    "Payment Method,Payment Reference,Refunded Amount,Vendor,Outstanding Balance,Employee,"
    "Location,Device ID,Id,Tags,Risk Level,Source,Lineitem discount,Tax 1 Name,Tax 1 Value,"
    "Tax 2 Name,Tax 2 Value,Tax 3 Name,Tax 3 Value,Tax 4 Name,Tax 4 Value,Tax 5 Name,"
    "Tax 5 Value,Phone,Receipt Number,Duties,Billing Province Name,Shipping Province Name,"
    "Payment ID,Payment Terms Name,Next Payment Due At,Payment References"
).split(",")
assert len(HEADER) == 79

# (title, sku, price, vendor)
PRODUCTS = (
    ("Vitamin C serum 30ml", "VC-SER-30", "24.90", "Lumen Labs"),
    ("Silk sleep mask - Champagne", "SLK-MSK-CH", "8.95", "Yiwu Silk Co"),
    ('Jade facial roller, "Rose quartz" edition', "JDR-RQ", "19.00", "Lumen Labs"),
    ("LED mirror, 20 cm", "MIR-LED-20", "40.00", "SZ Bright"),
    ("Hair clips, pearl, set of 6", "HCL-PRL-6", "10.50", "Yiwu Silk Co"),
    ("Ionic hair dryer 1800W", "HDR-ION-18", "54.90", "SZ Bright"),
    ("Scrunchies, satin, 3-pack", "SCR-SAT-3", "11.45", "Yiwu Silk Co"),
    ('Makeup brush set "Pro", 12 pcs', "BRS-PRO-12", "29.00", "Lumen Labs"),
    ("Rose water toner 200ml", "", "12.00", "Lumen Labs"),
)

# (name, email, street, city, zip, country, phone, utc offset hours)
BUYERS = (
    ("Hannah Becker", "hannah.becker", "Bergmannstraße 14", "Berlin", "10961", "DE", "+49", 1),
    ("Tom O'Connor", "tom.oconnor", "12 Grafton St", "Dublin", "D02 XY45", "IE", "+353", 0),
    ("Ana Souza", "ana.souza", "Av. Paulista 900", "São Paulo", "01310-100", "BR", "+55", -3),
    ("Kenji Sato", "kenji.sato", "1-2-3 Shibuya", "Tokyo", "150-0002", "JP", "+81", 9),
    ("Дмитрий Кузнецов", "dmitri.k", "ул. Ленина 10, кв. 5", "Казань", "420111", "RU", "+7", 3),
    ("Emily Carter", "emily.carter", "742 Valencia St", "San Francisco", "94110", "US", "+1", -8),
)

# (financial status, fulfillment status, cancelled, weight)
OUTCOMES = (
    ("paid", "fulfilled", False, 50),
    ("paid", "unfulfilled", False, 20),
    ("paid", "partial", False, 8),
    ("partially_refunded", "fulfilled", False, 7),
    ("refunded", "unfulfilled", True, 5),
    ("pending", "unfulfilled", False, 5),
    ("authorized", "unfulfilled", False, 5),
)

_START = datetime(2026, 1, 1, tzinfo=UTC)


def write_shopify_export(path: Path | str, rows: int, *, seed: int = 0) -> int:
    """Write exactly ``rows`` line-item rows to ``path``; return the number of orders."""
    rng = random.Random(seed)
    orders = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(HEADER)
        written = 0
        while written < rows:
            items = min(rng.randint(1, 3), rows - written)
            for row in _order_rows(rng, 1001 + orders, items):
                writer.writerow(row)
            written += items
            orders += 1
    return orders


def _order_rows(rng: random.Random, number: int, items: int) -> list[list[str]]:
    name, user, street, city, zip_code, country, prefix, offset = rng.choice(BUYERS)
    financial, fulfillment, cancelled = rng.choices(
        [o[:3] for o in OUTCOMES], weights=[o[3] for o in OUTCOMES]
    )[0]
    if fulfillment == "partial" and items == 1:
        fulfillment = "fulfilled"
    tz = timezone(timedelta(hours=offset))
    created = (_START + timedelta(minutes=rng.randint(0, 320 * 24 * 60))).astimezone(tz)
    products = rng.sample(PRODUCTS, items)
    quantities = [rng.choice((1, 1, 1, 2, 3)) for _ in products]
    subtotal = sum(_cents(p[2]) * q for p, q in zip(products, quantities, strict=True))
    shipping = rng.choice((0, 490, 700))
    email = f"{user}+{number}@example.com"
    phone = f"{prefix} {rng.randint(100, 999)} {rng.randint(1000000, 9999999)}"
    fulfilled_lines = _fulfilled_lines(rng, fulfillment, items)
    rows = []
    for index, ((title, sku, price, vendor), quantity) in enumerate(
        zip(products, quantities, strict=True)
    ):
        row = dict.fromkeys(HEADER, "")
        row.update(
            {
                "Name": f"#{number}",
                "Email": email,
                "Created at": _date(created),
                "Lineitem quantity": str(quantity),
                "Lineitem name": title,
                "Lineitem price": price,
                "Lineitem sku": sku,
                "Lineitem requires shipping": "true",
                "Lineitem taxable": "true",
                "Lineitem fulfillment status": "fulfilled"
                if index in fulfilled_lines
                else "pending",
                "Vendor": vendor,
                "Lineitem discount": "0.00",
            }
        )
        if index == 0:
            refunded = _refunded(rng, financial, subtotal + shipping)
            row.update(
                {
                    "Financial Status": financial,
                    "Paid at": _date(created + timedelta(seconds=30)),
                    "Fulfillment Status": fulfillment,
                    "Fulfilled at": _date(created + timedelta(days=2))
                    if fulfillment != "unfulfilled"
                    else "",
                    "Accepts Marketing": "no",
                    "Currency": rng.choice(("USD", "EUR")),
                    "Subtotal": _money(subtotal),
                    "Shipping": _money(shipping),
                    "Taxes": "0.00",
                    "Total": _money(subtotal + shipping),
                    "Discount Amount": "0.00",
                    "Shipping Method": "Standard International",
                    "Cancelled at": _date(created + timedelta(hours=4)) if cancelled else "",
                    "Payment Method": "Shopify Payments",
                    "Refunded Amount": _money(refunded),
                    "Outstanding Balance": "0.00",
                    "Id": str(5912345000000 + number),
                    "Tags": rng.choice(("", "", "vip, repeat")),
                    "Risk Level": "Low",
                    "Source": "web",
                    "Phone": phone,
                    **_address("Billing", name, street, city, zip_code, country, phone),
                    **_address("Shipping", name, street, city, zip_code, country, phone),
                }
            )
        rows.append([row[column] for column in HEADER])
    return rows


def _fulfilled_lines(rng: random.Random, fulfillment: str, items: int) -> set[int]:
    if fulfillment == "fulfilled":
        return set(range(items))
    if fulfillment == "partial":  # some, never all, lines have left the warehouse
        return set(range(rng.randint(1, items - 1)))
    return set()


def _refunded(rng: random.Random, financial: str, total: int) -> int:
    if financial == "refunded":
        return total
    if financial == "partially_refunded":
        return rng.randint(1, max(1, total // 2))
    return 0


def _address(
    kind: str, name: str, street: str, city: str, zip_code: str, country: str, phone: str
) -> dict[str, str]:
    return {
        f"{kind} Name": name,
        f"{kind} Street": street,
        f"{kind} Address1": street,
        f"{kind} City": city,
        f"{kind} Zip": zip_code,
        f"{kind} Country": country,
        f"{kind} Phone": phone,
    }


def _cents(text: str) -> int:
    units, cents = text.split(".")
    return int(units) * 100 + int(cents)


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _date(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S %z")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    orders = write_shopify_export(args.path, args.rows, seed=args.seed)
    print(f"{args.path}: {args.rows} rows, {orders} orders")


if __name__ == "__main__":
    main()
