"""The one way to parse JSON that comes from outside: request bodies, page tokens, credentials a
user sends or the store gives back, messages off the queue, vendors' API responses.

``json.loads`` recurses once per nesting level, so a document a few thousand levels deep raises
``RecursionError``, which nobody expects from a parser and which ends as a 500 (or a crashed
worker). ``loads_untrusted`` refuses such a document before parsing it and turns every failure
(bad bytes, bad syntax, too deep, a number too long to convert) into ``UntrustedJsonError``.

``UntrustedJsonError`` is a ``ValueError``, so callers that already treat ``ValueError`` as "bad
input" keep working. Map it to what the caller's side means: a 400 ``InvalidRequest`` naming the
field for a client's input, a ``TerminalError`` for a vendor's response or a stored value (retrying
will not make the document parse).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 64
"""Far deeper than any document this project reads (service-account keys, run messages, vendor
usage reports nest a handful of levels), far below the interpreter's recursion limit."""

# A string literal (its brackets do not count) or a bracket. Strings are matched whole, escapes
# included, so the scan is one linear pass.
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class UntrustedJsonError(ValueError):
    """The input is not JSON this project will read (malformed, not UTF-8, or nested too deep)."""


def nesting_depth(text: str, limit: int) -> int:
    """The deepest nesting of arrays and objects in ``text``, scanning no further than ``limit + 1``."""
    depth = deepest = 0
    for match in _STRUCTURE.finditer(text):
        found = match.group()
        if found in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif found in "]}":
            depth -= 1
    return deepest


def loads_untrusted(
    raw: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH, parse_float: Callable[[str], Any] | None = None
) -> Any:
    """``json.loads`` for input nobody vouches for; raises ``UntrustedJsonError`` on any bad input.

    ``parse_float=Decimal`` keeps every non-integer number exact (amounts of money)."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    except UnicodeDecodeError:
        raise UntrustedJsonError("not UTF-8") from None
    if nesting_depth(text, max_depth) > max_depth:
        raise UntrustedJsonError(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_float=parse_float)
    except RecursionError:  # the scan above makes this unreachable; kept as the last line of defence
        raise UntrustedJsonError(f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # JSONDecodeError, and int() refusing a number with too many digits
        raise UntrustedJsonError(f"not valid JSON ({type(exc).__name__})") from None
