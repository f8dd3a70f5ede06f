"""Which import format a file is in, and one entry point that streams its orders."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

from core.orders.formats.errors import ImportFileError
from core.orders.formats.native_csv import iter_native_csv
from core.orders.formats.native_json import iter_native_json
from core.orders.formats.shopify import iter_shopify_csv
from core.orders.model import Order

FORMATS = ("native-json", "native-csv", "shopify-csv")

_SNIFF_BYTES = 64 * 1024  # a Shopify header is about 1.2 kB
_SHOPIFY_MARKS = {"Name", "Financial Status", "Lineitem name"}
_NATIVE_MARKS = {"number", "sku", "unit_price"}


def detect_format(path: Path) -> str:
    """One of FORMATS, from the first bytes: a JSON object, or the CSV header's column names.

    The content decides (a mislabelled ``orders.txt`` still imports); the extension only shapes
    the message when nothing matches.
    """
    file = path.name
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff")
    if not text.strip():
        raise ImportFileError(file, "the file is empty")
    if text.lstrip().startswith("{"):
        return "native-json"
    first_line = text.splitlines()[0]
    columns = {name.strip() for name in next(csv.reader([first_line]), [])}
    if _SHOPIFY_MARKS <= columns:
        return "shopify-csv"
    if _NATIVE_MARKS <= columns:
        return "native-csv"
    raise ImportFileError(file, _unknown_reason(path, first_line), line=1)


def _unknown_reason(path: Path, first_line: str) -> str:
    if path.suffix.lower() == ".json":
        return 'not a JSON object: expected {"format": "returns-orders/1", "orders": [...]}'
    if ";" in first_line and "," not in first_line:
        return "the header is separated by semicolons: save the CSV with commas"
    return (
        "unknown format: expected a returns-orders/1 JSON file, a CSV with the native columns "
        f"(number, sku, unit_price, …) or a Shopify orders export; the first line is "
        f"{first_line[:80]!r}"
    )


def iter_orders(
    path: Path,
    *,
    fmt: str | None = None,
    shop: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Order]:
    """Stream the orders of ``path``, one at a time; never a list of the whole file.

    The format and the arguments are checked now; the file's content as the iterator advances.
    ``shop`` is required for a Shopify export; for the native formats it must match every
    order's shop (refusing an import into the wrong shop), and None takes the file's shops.
    ``progress(n)`` gets the bytes consumed so far, every ~1000 rows and at the end.
    """
    if fmt is None:
        fmt = detect_format(path)
    if fmt == "native-json":
        return iter_native_json(path, shop=shop, progress=progress)
    if fmt == "native-csv":
        return iter_native_csv(path, shop=shop, progress=progress)
    if fmt == "shopify-csv":
        if not shop or not shop.strip():
            raise ImportFileError(
                path.name, "a Shopify export has no shop column: say which shop it is for"
            )
        return iter_shopify_csv(path, shop=shop, progress=progress)
    raise ValueError(f"unknown import format {fmt!r}: expected one of {', '.join(FORMATS)}")
