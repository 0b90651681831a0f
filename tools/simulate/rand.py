"""Counter-based randomness: every draw is a pure function of (key, a, b, channel).

A stateful generator would make a value depend on how many draws came before it, so a
fault that skips a run would shift the noise of every later run. Hashing the coordinates
instead keeps the normal behaviour of a node identical with and without faults, and keeps
output byte-identical for a seed whatever order things are generated in.
"""

from __future__ import annotations

import hashlib
import math

_M64 = (1 << 64) - 1
_INV53 = 2.0**-53
_INV32 = 2.0**-32
_TAU = 2.0 * math.pi


def key_of(seed: int, text: str) -> int:
    """A 64-bit key for a named thing (a node, a series) under one seed."""
    return int.from_bytes(
        hashlib.blake2b(f"{seed}|{text}".encode(), digest_size=8).digest(), "little"
    )


def mix(x: int) -> int:
    """splitmix64's finaliser: a fast, well-spread 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def bits(key: int, a: int, b: int = 0, channel: int = 0) -> int:
    # Odd 64-bit multipliers spread the coordinates before one full avalanche.
    x = key ^ ((a * 0xD6E8FEB86659FD93 + b * 0xA0761D6478BD642F + channel * 0xE7037ED1A0B428DB)
               & _M64)
    return mix(x)


def uniform(key: int, a: int, b: int = 0, channel: int = 0) -> float:
    """Uniform in [0, 1)."""
    return (bits(key, a, b, channel) >> 11) * _INV53


def normal(key: int, a: int, b: int = 0, channel: int = 0) -> float:
    """Standard normal: Box-Muller on the two 32-bit halves of one hash."""
    x = bits(key, a, b, channel)
    u1 = ((x >> 32) + 1) * _INV32  # in (0, 1]: log() stays finite
    u2 = (x & 0xFFFFFFFF) * _INV32
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TAU * u2)


def choice_index(key: int, a: int, n: int, b: int = 0, channel: int = 0) -> int:
    return int(uniform(key, a, b, channel) * n)


def hex_id(key: int, a: int, b: int, nbytes: int) -> str:
    """A lowercase hex id of ``nbytes`` bytes (OTLP trace ids: 16, span ids: 8)."""
    out = []
    for i in range((nbytes + 7) // 8):
        out.append(f"{bits(key, a, b, 0x7000 + i):016x}")
    text = "".join(out)[: nbytes * 2]
    # An all-zero id is invalid in OTLP; the odds are nil but the rule is cheap.
    return text if text.strip("0") else "1".rjust(nbytes * 2, "0")


def uuid7(key: int, a: int, b: int, millis: int) -> str:
    """A UUIDv7 (time-ordered, as current OpenLineage clients make) with hashed random bits."""
    rand = (bits(key, a, b, 0x7100) << 64) | bits(key, a, b, 0x7101)
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 64) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
