"""Number parsing shared by the text calibration readers (COLMAP, projection matrices)."""

from __future__ import annotations

import math


class TokenError(ValueError):
    """A token is not a finite number (``parsed`` False: not a number; True: NaN or infinite)."""

    def __init__(self, token: str, parsed: bool):
        super().__init__(token)
        self.token = token
        self.parsed = parsed  # True: a number, but NaN or infinite; False: not a number at all


def finite_float(token: str) -> float:
    """``float(token)`` for a finite number; raises :class:`TokenError` otherwise.

    Python's ``float`` accepts ``1_000``; calibration files never mean that, so underscores are refused.
    """
    try:
        if "_" in token:
            raise ValueError
        value = float(token)
    except ValueError:
        raise TokenError(token, parsed=False) from None
    if not math.isfinite(value):
        raise TokenError(token, parsed=True)
    return value
