"""The generating model of make_ratings and its oracle floor, against direct per-row computations."""

import numpy as np
import pytest

from cmf.datasets import LowRankModel, make_ratings


def _split(data, fraction=0.2, seed=0):
    test = np.random.default_rng(seed).random(len(data.values)) < fraction
    return ((data.rows[~test], data.cols[~test], data.values[~test]),
            (data.rows[test], data.cols[test], data.values[test]))


def test_return_model_leaves_the_data_unchanged():
    plain = make_ratings(300, 200, 5_000, rank=3, random_state=4)
    data, model = make_ratings(300, 200, 5_000, rank=3, random_state=4, return_model=True)
    for name in ("rows", "cols", "values"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(data, name))
    assert model.shape == (300, 200) and model.row_factors.shape == (300, 3) and model.col_factors.shape == (200, 3)
    # The repr names the model, not its 1,500 parameters.
    assert repr(model) == ("LowRankModel(shape=(300, 200), rank=3, mean=3.5, bias_std=0.3, factor_std=0.447, "
                           "noise_std=0.5)")


def test_expected_values_differ_from_the_data_by_the_noise():
    data, model = make_ratings(2_000, 500, 100_000, rank=4, noise_std=0.25, random_state=1, return_model=True)
    residual = data.values - model.expected(data.rows, data.cols)
    # 100,000 N(0, 0.25) draws: the sample std is within 1% and the mean within 0.005.
    assert residual.std() == pytest.approx(0.25, rel=0.01)
    assert abs(residual.mean()) < 0.005
    u, i = int(data.rows[7]), int(data.cols[7])
    by_hand = (model.mean + float(model.row_bias[u]) + float(model.col_bias[i])
               + float(np.dot(model.row_factors[u].astype(np.float64), model.col_factors[i])))
    assert model.expected([u], [i])[0] == pytest.approx(by_hand, rel=1e-12)


def _oracle_by_rows(model, train, test, side):
    """The posterior mean per row as a stacked least-squares problem, one row at a time."""
    own, given = (0, 1) if side == "rows" else (1, 0)
    factors = model.col_factors if side == "rows" else model.row_factors
    given_bias = model.col_bias if side == "rows" else model.row_bias
    n_own = model.shape[own]
    rank = factors.shape[1]
    # Ridge as least squares: prior rows sqrt(penalty) * I with target 0.
    prior = np.diag(np.sqrt(model.noise_std**2 / np.array([model.bias_std**2] + [model.factor_std**2] * rank)))
    estimates = np.zeros((n_own, rank + 1))
    for j in range(n_own):
        mine = train[own] == j
        design = np.column_stack([np.ones(mine.sum()), factors[train[given][mine]].astype(np.float64)])
        target = train[2][mine].astype(np.float64) - model.mean - given_bias[train[given][mine]]
        estimates[j] = np.linalg.lstsq(np.vstack([design, prior]),
                                       np.concatenate([target, np.zeros(rank + 1)]), rcond=None)[0]
    design = np.column_stack([np.ones(len(test[2])), factors[test[given]].astype(np.float64)])
    predicted = model.mean + given_bias[test[given]].astype(np.float64) + (design * estimates[test[own]]).sum(axis=1)
    return np.sqrt(np.mean((test[2].astype(np.float64) - predicted) ** 2))


@pytest.mark.parametrize("chunk", [1 << 16, 7, 1])
@pytest.mark.parametrize("side", ["rows", "cols"])
def test_oracle_rmse_equals_a_per_row_posterior_mean(side, chunk, monkeypatch):
    # Small chunks split a row's ratings over several chunks (7: runs of
    # about 25 ratings, so most chunks hold one run that began earlier).
    monkeypatch.setattr("cmf._low_rank_model._CHUNK", chunk)
    data, model = make_ratings(120, 80, 3_000, rank=3, random_state=2, return_model=True)
    train, test = _split(data)
    assert model.oracle_rmse(train, test, side=side) == pytest.approx(_oracle_by_rows(model, train, test, side), rel=1e-10)


def test_oracle_rmse_lies_between_the_noise_and_what_a_fit_reaches():
    import cmf

    data, model = make_ratings(400, 300, 12_000, rank=4, random_state=3, return_model=True)
    train, test = _split(data)
    floor = max(model.oracle_rmse(train, test), model.oracle_rmse(train, test, side="cols"))
    truth = np.sqrt(np.mean((test[2] - model.expected(test[0], test[1])) ** 2))
    fitted = cmf.MatrixFactorization(n_factors=4, random_state=0).fit_triplets(*train, shape=model.shape)
    learned = np.sqrt(np.mean((test[2] - fitted.predict(test[0], test[1], clip=False)) ** 2))
    # 30 ratings a row and 40 a column for 5 parameters each: the floor sits
    # clearly above the noise, and a fit that learns both sides stays above it.
    assert truth < floor < learned
    assert floor > 1.02 * truth


def test_oracle_rmse_reaches_the_noise_with_plenty_of_data():
    # 2,000 ratings for each of 5 rows of rank 2: the estimate is all but exact.
    data, model = make_ratings(5, 2_000, 10_000, rank=2, random_state=5, return_model=True)
    train, test = _split(data)
    truth = np.sqrt(np.mean((test[2] - model.expected(test[0], test[1])) ** 2))
    assert model.oracle_rmse(train, test) == pytest.approx(truth, rel=0.005)


def test_an_unrated_row_is_predicted_from_the_prior_mean():
    data, model = make_ratings(50, 40, 600, rank=2, random_state=6, return_model=True)
    train, test = _split(data)
    kept = train[0] != 0  # row 0 loses its training ratings
    train = tuple(a[kept] for a in train)
    at_zero = test[0] == 0
    assert at_zero.any()
    only = tuple(a[at_zero] for a in test)
    prior_mean = model.mean + model.col_bias[only[1]].astype(np.float64)
    expected = np.sqrt(np.mean((only[2] - prior_mean) ** 2))
    assert model.oracle_rmse(train, only) == pytest.approx(expected, rel=1e-12)


def test_bad_arguments_name_the_problem():
    data, model = make_ratings(30, 20, 200, rank=2, random_state=7, return_model=True)
    train, test = _split(data)
    with pytest.raises(ValueError, match="side must be"):
        model.oracle_rmse(train, test, side="users")
    with pytest.raises(ValueError, match=r"rows must lie in \[0, 30\)"):
        model.oracle_rmse(train, (test[0] + 30, test[1], test[2]))
    with pytest.raises(ValueError, match="test holds no ratings"):
        model.oracle_rmse(train, tuple(a[:0] for a in test))
    with pytest.raises(TypeError, match="must hold integers"):
        model.expected([0.5], [1])
    assert isinstance(model, LowRankModel)
