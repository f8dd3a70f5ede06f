"""Pure, streaming readers of the order import formats: native JSON, native CSV, Shopify CSV.

Only the stdlib, pydantic and the core domain: no database, no bot. Every reader yields domain
``Order`` objects one at a time and raises ``ImportFileError`` saying where a file is wrong.
"""

from core.orders.formats.detect import FORMATS, detect_format, iter_orders
from core.orders.formats.errors import ImportFileError
from core.orders.formats.shopify import vendor_to_supplier_id

__all__ = ["FORMATS", "ImportFileError", "detect_format", "iter_orders", "vendor_to_supplier_id"]
