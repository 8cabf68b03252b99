"""The batched set-up of the schedules' generators (cmf._train.seeds) against NumPy's own."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from cmf._train import seeds

SEEDS = [0, 1, 5, 2**32 - 1, 2**32, 2**62 + 3, 2**63 - 1, 123456789012345678]


@pytest.mark.parametrize("seed", SEEDS)
def test_the_hash_is_seed_sequences(seed):
    epochs = np.array([0, 1, 2, 17, 2**31, 2**32 - 1])
    got = seeds.seed_sequence_words(seed, epochs)
    for row, epoch in zip(got, epochs):
        expected = np.random.SeedSequence([seed, int(epoch)]).generate_state(8, np.uint32)
        assert row.tolist() == expected.tolist()


@pytest.mark.parametrize("seed", SEEDS)
def test_the_state_is_pcg64s(seed):
    for epoch in (0, 3, 64):
        words = np.random.SeedSequence([seed, epoch]).generate_state(8, np.uint32).tolist()
        assert seeds.pcg64_state(words) == np.random.PCG64(np.random.SeedSequence([seed, epoch])).state


@pytest.mark.parametrize("seed", SEEDS)
def test_an_epochs_generator_draws_what_default_rng_draws(seed):
    # Across batch boundaries, out of order, and back to an earlier seed.
    for epoch in [1, 2, 63, 64, 65, 130, 3, 2**32 - 1, 2**32, 1]:
        expected = np.random.default_rng([seed, epoch])
        got = seeds.epoch_generator(seed, epoch)
        np.testing.assert_array_equal(got.random(5), expected.random(5))
        assert got.permutation(7).tolist() == expected.permutation(7).tolist()
        assert int(got.integers(0, 2**63 - 1, dtype=np.int64)) == int(expected.integers(0, 2**63 - 1, dtype=np.int64))


def test_threads_have_their_own_generators():
    failures = []

    def draw(seed):
        for epoch in range(1, 150):
            if seeds.epoch_generator(seed, epoch).random() != np.random.default_rng([seed, epoch]).random():
                failures.append((seed, epoch))

    threads = [threading.Thread(target=draw, args=(seed,)) for seed in (11, 12, 13)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_seeds_beyond_the_batched_hash_get_default_rng():
    for seed, epoch in ((2**130, 1), (-1 % 2**200, 2)):
        assert seeds.epoch_generator(seed, epoch).random() == np.random.default_rng([seed, epoch]).random()
