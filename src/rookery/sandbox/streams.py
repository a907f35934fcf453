"""Deterministic randomness for the synthetic users.

Every piece of generated data draws from a stream named by what it is for (the population seed, the
user's index, a label, a day), never from a shared generator, so a day's data is the same whichever
order or whichever window it is generated in. The streams are for plausible fake data, not secrets.
"""

from __future__ import annotations

import hashlib
import random


def _digest(parts: tuple[object, ...], size: int) -> bytes:
    text = ":".join(str(part) for part in parts)
    return hashlib.blake2b(text.encode(), digest_size=size).digest()


def stream(*parts: object) -> random.Random:
    """A random generator seeded by `parts` alone: the same parts always give the same draws."""
    return random.Random(int.from_bytes(_digest(parts, 16)))  # noqa: S311 - synthetic data, no secrets


def hex_id(*parts: object) -> str:
    """A 40-character lowercase hex id (the shape of Withings device ids) derived from `parts`."""
    return _digest(parts, 20).hex()


def uniforms(count: int, *parts: object) -> tuple[float, ...]:
    """`count` (at most 8) floats in [0, 1) from `parts`: cheaper than a generator for a few."""
    if not 0 < count <= 8:
        raise ValueError(f"uniforms() gives 1 to 8 values, not {count}")
    digest = _digest(parts, 8 * count)
    return tuple(int.from_bytes(digest[8 * i : 8 * i + 8]) / 2.0**64 for i in range(count))
