"""The one seam for JSON: every byte of JSON that channels reads or writes goes through here.

>>> loads(dumps({"a": [1, None]}))
{'a': [1, None]}

Standard library ``json``, strict both ways: ``NaN``/``Infinity`` are refused (they are not
JSON and phoenix.js cannot parse them), and anything the parser rejects, nests too deeply or
carries an integer too long to convert is a :class:`ProtocolError`, never another exception.
"""

from __future__ import annotations

import json
from typing import Any

from ._errors import ProtocolError

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_encode = _encoder.encode


def _no_constants(name: str) -> Any:
    raise ProtocolError(f"{name} is not JSON")


_decoder = json.JSONDecoder(parse_constant=_no_constants)
_decode = _decoder.decode


def dumps(value: Any) -> str:
    """``value`` as compact JSON text; ``TypeError``/``ValueError`` if it is not JSON-able."""
    return _encode(value)


def loads(text: str | bytes) -> Any:
    """Parse JSON text (``str`` or UTF-8 ``bytes``); :class:`ProtocolError` if it is not."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return _decode(text)
    except ProtocolError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, digits
        raise ProtocolError(f"malformed JSON: {exc}") from None
