"""The page token of a runs listing, for every store: the last listed run's sort key.

Both stores issue and read tokens here, so they refuse exactly the same tokens. A token comes back
from the client, so it is untrusted input: anything that is not a token a store could have issued
is refused with ``ValueError`` (the runs use case answers 400), whatever the backend would have
made of it. A run id never holds ``/``; in a Firestore cursor one would address another
collection, and no store needs it.
"""

from __future__ import annotations

import base64
import json

MAX_TOKEN_CHARS = 512
"""A run's time and id encode to about 100 characters; anything far longer is not ours."""


def encode_page_token(requested_at: str, run_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([requested_at, run_id]).encode()).decode()


def decode_page_token(token: str) -> tuple[str, str]:
    """``(requested_at, run_id)``; raises ValueError on anything that is not a token a store issued."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise ValueError("bad page token")
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:  # bad base64, JSON or UTF-8: all ValueErrors
        raise ValueError("bad page token") from None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) and v for v in value)):
        raise ValueError("bad page token")
    if "/" in value[1]:
        raise ValueError("bad page token")
    return value[0], value[1]
