"""JSON for the hot path: orjson when it is installed (the ``fast`` extra), else the stdlib.

Both give the same Python values back and write JSON that either one reads, so processes with
and without orjson can share a database. What orjson does not do the stdlib's way falls back
to the stdlib: text it rejects (a lone surrogate escape, ``NaN``, bytes not in UTF-8) is parsed
again by ``json.loads``, and values it will not write (integers past 64 bits, keys that are not
strings, datetimes, lone surrogates) are written by ``json.dumps``. Known differences: orjson
reads an integer past 64 bits as a float, writes a float NaN or infinity as ``null`` (Telegram
sends neither), and writes enums and UUIDs, which the stdlib refuses. The text written
differs (compact, UTF-8 rather than ``\\u`` escapes), so nothing that hashes or compares JSON
text across processes may use ``dumps`` (bot/receiving/replay.py's digest does not).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

loads: Callable[[str | bytes], Any]
dumps: Callable[[Any], str]

try:
    import orjson
except ImportError:  # the fast extra is not installed: the stdlib, as before
    orjson = None  # type: ignore[assignment]

if orjson is not None:
    # datetimes and dataclasses go to the stdlib fallback, which refuses them as before
    _OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
    _orjson_loads, _orjson_dumps = orjson.loads, orjson.dumps
    _DecodeError = orjson.JSONDecodeError

    def loads(text: str | bytes) -> Any:
        try:
            return _orjson_loads(text)
        except _DecodeError:
            return json.loads(text)  # raises the stdlib's error when it is not JSON either

    def dumps(value: Any) -> str:
        try:
            return _orjson_dumps(value, option=_OPTIONS).decode()
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            return json.dumps(value)

    NAME = f"orjson {orjson.__version__}"
else:
    loads = json.loads
    dumps = json.dumps
    NAME = "stdlib json"
