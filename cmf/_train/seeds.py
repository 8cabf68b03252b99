"""The random generators of the blocked epochs' schedules, set up many epochs at a time.

Epoch ``e`` of a fit with base seed ``s`` draws its schedule from
``numpy.random.default_rng([s, e])`` (:func:`cmf._train.blocks.epoch_schedule`).
Making that generator costs about 15 us, as much as all the schedule's
draws: a :class:`numpy.random.SeedSequence` hashes the two numbers, then
:class:`numpy.random.PCG64` seeds itself from the hash. Both are fixed
algorithms (NumPy keeps SeedSequence's and PCG64's seeding stable, so that
seeds give the same streams across releases), and SeedSequence's hash is
the same sequence of 32-bit operations for every epoch but for the epoch's
own word: here it runs once for a batch of :data:`BATCH` epochs with
NumPy's array arithmetic, and each epoch then only sets its PCG64 state
into a generator this thread reuses. The draws are the same, bit for bit
(checked against NumPy itself once per batch; on any difference the
module falls back to ``default_rng`` for good).
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["epoch_generator", "seed_sequence_words", "pcg64_state", "BATCH"]

# Epochs whose states are computed together: the hash costs about as much
# for 64 epochs as for one.
BATCH = 64

_M32 = 0xFFFFFFFF
_M128 = (1 << 128) - 1
# SeedSequence's constants (numpy/random/bit_generator.pyx).
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R = 0xCA01F9DD, 0x4973F715
_POOL_SIZE = 4
# PCG64's 128-bit LCG multiplier (numpy/random/src/pcg64).
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645

_local = threading.local()
# Cleared for good if NumPy ever seeds otherwise than the code below.
_fast = [True]


def _words(n: int) -> list[int]:
    """A non-negative integer as SeedSequence reads it: 32-bit words, least significant first."""
    if n == 0:
        return [0]
    out = []
    while n:
        out.append(n & _M32)
        n >>= 32
    return out


def seed_sequence_words(seed: int, epochs: np.ndarray) -> np.ndarray:
    """``SeedSequence([seed, e]).generate_state(8, uint32)`` for every ``e`` of ``epochs``, shape (len, 8).

    Parameters
    ----------
    seed : int
        Non-negative.
    epochs : ndarray of int
        Each in ``[0, 2**32)``.

    Returns
    -------
    ndarray of uint64
        The 32-bit words (held in uint64, so that products do not overflow).
    """
    entropy: list = [np.uint64(w) for w in _words(seed)] + [epochs.astype(np.uint64)]
    if len(entropy) > _POOL_SIZE:
        raise ValueError("seed too large for the batched hash")
    hash_const = _INIT_A

    def hashmix(value):
        nonlocal hash_const
        value = value ^ np.uint64(hash_const)
        hash_const = (hash_const * _MULT_A) & _M32
        value = (value * np.uint64(hash_const)) & np.uint64(_M32)
        return value ^ (value >> np.uint64(16))

    def mix(x, y):
        # x, y < 2**32: the products fit in 64 bits; the difference wraps
        # modulo 2**64, which keeps it right modulo 2**32.
        result = (np.uint64(_MIX_MULT_L) * x - np.uint64(_MIX_MULT_R) * y) & np.uint64(_M32)
        return result ^ (result >> np.uint64(16))

    with np.errstate(over="ignore"):
        pool = [hashmix(entropy[i] if i < len(entropy) else np.uint64(0)) for i in range(_POOL_SIZE)]
        for src in range(_POOL_SIZE):
            for dst in range(_POOL_SIZE):
                if src != dst:
                    pool[dst] = mix(pool[dst], hashmix(pool[src]))
        hash_const = _INIT_B
        out = np.empty((len(epochs), 8), dtype=np.uint64)
        for i in range(8):
            value = pool[i % _POOL_SIZE] ^ np.uint64(hash_const)
            hash_const = (hash_const * _MULT_B) & _M32
            value = (value * np.uint64(hash_const)) & np.uint64(_M32)
            out[:, i] = value ^ (value >> np.uint64(16))
    return out


def pcg64_state(words: list[int]) -> dict:
    """The ``PCG64.state`` that ``PCG64`` seeds from SeedSequence output ``words`` (8 32-bit words)."""
    s0, s1, i0, i1 = (words[j] | (words[j + 1] << 32) for j in range(0, 8, 2))
    initstate, initseq = (s0 << 64) | s1, (i0 << 64) | i1
    inc = ((initseq << 1) | 1) & _M128
    state = (((inc + initstate) & _M128) * _PCG_MULT + inc) & _M128
    return {"bit_generator": "PCG64", "state": {"state": state, "inc": inc}, "has_uint32": 0, "uinteger": 0}


def epoch_generator(seed: int, epoch: int) -> np.random.Generator:
    """A generator in the state of ``numpy.random.default_rng([seed, epoch])``.

    It is this thread's one reused generator: draw from it before the next
    call. ``seed`` and ``epoch`` are non-negative, as the schedule's are.
    """
    if not _fast[0] or not 0 <= epoch < 2**32 or not 0 <= seed < 2**96:
        return np.random.default_rng([seed, epoch])
    cache = getattr(_local, "cache", None)
    if cache is None or cache[0] != seed or not cache[1] <= epoch < cache[1] + len(cache[2]):
        words = seed_sequence_words(seed, np.arange(epoch, epoch + BATCH))
        numpys = np.random.PCG64(np.random.SeedSequence([seed, epoch])).state["state"]
        if pcg64_state(words[0].tolist())["state"] != numpys:
            _fast[0] = False  # pragma: no cover - NumPy changed its seeding
            return np.random.default_rng([seed, epoch])  # pragma: no cover
        cache = _local.cache = (seed, epoch, words.tolist())
    generator = getattr(_local, "generator", None)
    if generator is None:
        generator = _local.generator = np.random.Generator(np.random.PCG64(0))
    generator.bit_generator.state = pcg64_state(cache[2][epoch - cache[1]])
    return generator
