"""tune's search space: its entries' edges, how they move, and the searches that move them.

The searches run on a stub estimator whose validation RMSE is a known
function of its parameters, so that where the optimum lies (inside the
initial space or beyond it) is set by the test, and nothing is timed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cmf._halving import epoch_scale
from cmf._tune_space import Choices, LogRange, extend_space, space_lines
from cmf.datasets import make_ratings
from cmf.model_selection import LogRange as PublicLogRange
from cmf.model_selection import default_space, log_uniform, tune

DATA = make_ratings(40, 30, 300, rank=2, random_state=0)


class Stub:
    """An estimator whose validation RMSE is ``1 + sum of squared log distances`` to ``OPTIMUM``.

    ``partial_fit`` trains one epoch and stops (as early stopping would),
    or with ``improving=True`` runs every epoch asked for, each a little
    better than the one before, so that only the epoch cap ends it.
    """

    OPTIMUM = {"n_factors": 64, "learning_rate": 0.005, "regularization": 0.05}
    fits: list[dict] = []

    def __init__(self, n_factors=8, learning_rate="auto", regularization=0.1, init_std=0.1, max_epochs=10,
                 patience=None, random_state=None, improving=False):
        self.n_factors, self.learning_rate, self.regularization = n_factors, learning_rate, regularization
        self.init_std, self.max_epochs, self.patience = init_std, max_epochs, patience
        self.random_state, self.improving = random_state, improving
        self.trained = 0

    def get_params(self):
        return {name: getattr(self, name) for name in ("n_factors", "learning_rate", "regularization", "init_std",
                                                       "max_epochs", "patience", "random_state", "improving")}

    def set_params(self, **params):
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def score(self):
        total = 1.0
        for name, best in self.OPTIMUM.items():
            value = getattr(self, name)
            if isinstance(value, (int, float)):
                total += math.log(value / best) ** 2
        return total

    def partial_fit(self, train, validation=None):
        Stub.fits.append({**self.get_params(), "epochs": self.max_epochs})
        epochs = self.max_epochs if self.improving else 1
        start = self.trained
        self.history_ = {"val_rmse": [self.score() + 1 / (start + i + 1) for i in range(epochs)]}
        self.trained += epochs
        self.n_epochs_, self.best_epoch_ = epochs, epochs
        return self


class SmallStep(Stub):
    """Only the learning rate matters, and its best lies far below the default range."""

    OPTIMUM = {"learning_rate": 0.0003}


class MoreFactors(Stub):
    """Only the factors matter: the more the better, to 1024."""

    OPTIMUM = {"n_factors": 1024}


class Smaller(Stub):
    """The smaller the learning rate the better, without end."""

    def score(self):
        return self.learning_rate


class Waning(Stub):
    """128 factors beat 64 and 256, and every configuration scores 0.001 worse than the one fitted before it."""

    OPTIMUM = {"n_factors": 128}
    made = 0

    def score(self):
        if not hasattr(self, "order"):
            Waning.made += 1
            self.order = Waning.made
        return super().score() + 0.001 * self.order


def _tune(template, **kwargs):
    Stub.fits = []
    return tune(DATA, estimator=template, n_jobs=1, refit=False, **kwargs)


# ----------------------------------------------------------------------
# The entries
# ----------------------------------------------------------------------
def test_log_range_draws_the_values_the_plain_log_uniform_drew():
    draw = float(np.exp(np.random.default_rng(3).uniform(np.log(0.002), np.log(0.01))))
    assert log_uniform(0.002, 0.01)(np.random.default_rng(3)) == draw
    assert log_uniform(0.002, 0.01) == PublicLogRange(0.002, 0.01)  # a user's range stays put
    rng = np.random.default_rng(0)
    assert {Choices((64, 128, 256))(rng) for _ in range(100)} == {64, 128, 256}


def test_log_range_edges_and_moves():
    r = LogRange(0.002, 0.01, extend=("low", "high"), limits=(1e-4, 0.02))
    # the outer quarter of the log width on each side is the edge
    quarter = 0.002 * 5 ** 0.25
    assert r.edge(0.002) == r.edge(quarter * 0.999) == "low" and r.edge(quarter * 1.001) is None
    assert r.edge(0.01) == "high" and r.edge(0.0045) is None
    low = r.extended("low")  # same width, centred on the old low edge: 0.002 / sqrt(5) to 0.002 * sqrt(5)
    assert low.bounds() == pytest.approx([0.002 / 5 ** 0.5, 0.002 * 5 ** 0.5])
    assert r.extended("high").bounds() == pytest.approx([0.01 / 5 ** 0.5, 0.02])  # within the limits
    assert LogRange(0.002, 0.02, extend=("high",), limits=(1e-4, 0.02)).edge(0.02) is None  # at its limit
    assert LogRange(0.002, 0.01, extend=("high",)).edge(0.002) is None  # the low edge may not move
    assert LogRange(0.002, 0.01).edge(0.002) is None
    with pytest.raises(ValueError, match="0 < low <= high"):
        LogRange(0.0, 1.0)


def test_choices_grow_by_doubling_up_to_their_limit():
    c = Choices((64, 128, 256), extend=True, limit=1024)
    assert c.edge(256) == "high" and c.edge(128) is None
    assert c.extended("high").values == (256, 512)
    assert c.extended("high").extended("high").values == (512, 1024)
    assert c.extended("high").extended("high").edge(1024) is None
    assert Choices((64, 128, 256)).edge(256) is None
    with pytest.raises(ValueError, match="increasing"):
        Choices((128, 64))


def test_extend_space_moves_only_the_entries_whose_best_is_at_an_edge():
    space = {**default_space(), "bias_regularization": [0.01, 0.1]}
    best = {"n_factors": 256, "learning_rate": 0.0021, "regularization": 0.05, "init_std": 0.0051,
            "bias_regularization": 0.1}
    # the runners-up agree on factors (upper half) and steps (lower half), not on the spread
    second = {**best, "n_factors": 128, "learning_rate": 0.0044, "init_std": 0.04}
    third = {**best, "n_factors": 256, "learning_rate": 0.003, "init_std": 0.006}
    moved, edges = extend_space(space, [best, second, third])
    assert edges == {"n_factors": "high", "learning_rate": "low"}
    assert extend_space(space, [best])[1] == {"n_factors": "high", "learning_rate": "low", "init_std": "low"}
    assert extend_space(space, [best, {**second, "n_factors": 64}])[1] == {"learning_rate": "low"}
    assert moved["n_factors"].values == (256, 512)
    assert moved["learning_rate"].bounds() == pytest.approx([0.002 / 5 ** 0.5, 0.002 * 5 ** 0.5])
    assert moved["regularization"] is space["regularization"] and moved["bias_regularization"] == [0.01, 0.1]


def test_an_auto_learning_rate_gets_the_epochs_of_a_round_unscaled():
    assert epoch_scale("auto", 10.0) == 1.0
    assert epoch_scale(0.001, 10.0) == 10.0 and epoch_scale(0.001, 5.0) == 5.0 and epoch_scale(0.05, 10.0) == 1.0
    # a template whose learning rate is "auto", not searched: the first round is min_epochs long
    _tune(Stub(improving=True), budget=3, extend=0, space={"n_factors": [8, 16]}, min_epochs=7, max_epochs=50)
    assert [f["epochs"] for f in Stub.fits[:3]] == [7, 7, 7] and {f["learning_rate"] for f in Stub.fits} == {"auto"}
    assert {f["patience"] for f in Stub.fits} == {5}
    # drawn learning rates are numbers, and a small one gets more epochs: 7 x 0.01 / 0.002
    _tune(Stub(improving=True), budget=3, extend=0, space={"learning_rate": [0.002]}, min_epochs=7, max_epochs=50)
    assert [f["epochs"] for f in Stub.fits[:3]] == [35, 35, 35]
    assert {f["patience"] for f in Stub.fits} == {25}  # the patience of 5 epochs at 0.01, in the same distance


# ----------------------------------------------------------------------
# The searches
# ----------------------------------------------------------------------
def test_the_search_moves_past_the_edges_and_finds_an_optimum_beyond_them():
    inside = _tune(Stub(), budget=9, extend=3)
    # the stub's optimum lies inside the space: one race, nothing moved
    assert {r["stage"] for r in inside.results} == {0} and len(inside.results) == 9
    assert all(not d["extended"] for d in inside.space.values())

    factors = _tune(MoreFactors(), budget=27, extend=3)
    assert factors.space["n_factors"]["extended"] == ["high", "high"]
    assert factors.space["n_factors"]["searched"] == [64, 128, 256, 512, 1024]
    assert factors.space["n_factors"]["final"] == [512, 1024]
    assert factors.best_params["n_factors"] == 1024
    assert all(not factors.space[name]["extended"] for name in ("learning_rate", "regularization", "init_std"))

    result = _tune(SmallStep(), budget=45, extend=3)
    space = result.space["learning_rate"]
    # three moves down, each centring the range (log width log 5) on its low edge, reach the optimum 0.0003
    assert space["extended"] == ["low", "low", "low"]
    low = 0.002 / 5 ** 1.5
    assert space["initial"] == [0.002, 0.01] and space["final"] == pytest.approx([low, low * 5])
    assert space["searched"] == pytest.approx([low, 0.01])
    assert all(low * 0.999 <= r["learning_rate"] <= 0.01 for r in result.results)
    assert abs(math.log(result.best_params["learning_rate"] / 0.0003)) < math.log(1.25)
    assert result.best_score < min(r["rmse"] for r in result.results if r["stage"] < 3)
    low_text = f"{low:.4g}:0.01"
    assert f"searched learning_rate {low_text} (from 0.002:0.01, moved past an edge 3 x low)" \
        in space_lines(result.space)


def test_a_space_of_the_users_own_is_searched_as_given():
    space = {"n_factors": [64, 128, 256], "learning_rate": log_uniform(0.002, 0.01),
             "regularization": lambda rng: float(rng.uniform(0.02, 0.15))}
    result = _tune(SmallStep(), budget=9, extend=3, space=space)
    assert {r["stage"] for r in result.results} == {0} and len(result.results) == 9
    assert {r["n_factors"] for r in result.results} <= {64, 128, 256}
    assert all(0.002 <= r["learning_rate"] <= 0.01 for r in result.results)
    assert result.space["n_factors"] == {"kind": "list", "initial": [64, 128, 256], "final": [64, 128, 256],
                                         "searched": [64, 128, 256], "extended": []}
    assert result.space["learning_rate"]["searched"] == [0.002, 0.01]
    assert result.space["regularization"] == {"kind": "other", "extended": []}
    assert space_lines(result.space) == []


@pytest.mark.parametrize("budget,extend,eta", [(45, 3, 3), (27, 3, 2), (30, 2, 2), (5, 2, 2), (7, 0, 3)])
def test_the_number_of_configurations_is_bounded(budget, extend, eta):
    space = {"learning_rate": LogRange(0.002, 0.01, extend=("low",), limits=(1e-12, 1.0))}
    result = _tune(Smaller(), budget=budget, extend=extend, eta=eta, space=space)
    stages = [r["stage"] for r in result.results]
    extra = math.ceil(budget / eta)
    # a first race of `budget`, then at most `extend` races of ceil(budget / eta)
    assert stages == [0] * budget + [s for s in range(1, max(stages) + 1) for _ in range(extra)]
    assert len(result.results) <= budget + extend * extra
    assert len(result.space["learning_rate"]["extended"]) == max(stages)
    assert len(Stub.fits) == len(result.results)  # the stub stops after a segment: one fit each
    if extra >= 14:  # with this many (seeded) draws a race, the best stays at the moving edge every time
        assert max(stages) == extend


def test_the_progress_of_an_extension_race_gives_the_best_of_the_whole_search():
    # The first race's best has 128 factors, the largest choice: the
    # extension race tries 256, and its configurations, all fitted later,
    # score worse than that best. "So far" is still the search's best.
    lines = []
    Waning.made = 0
    result = _tune(Waning(), budget=9, extend=1, space={"n_factors": Choices((64, 128), extend=True)},
                   random_state=0, progress=lines.append)
    assert result.space["n_factors"]["extended"] == ["high"]
    first = min(r["rmse"] for r in result.results if r["stage"] == 0)
    extension = min(r["rmse"] for r in result.results if r["stage"] == 1)
    assert result.best_score == first < extension
    assert lines[0] == f"round 1: trained 9 configuration(s), best validation RMSE so far {first:.4f}"
    assert lines[-1] == (f"extension 1, round 1: trained 3 configuration(s), best validation RMSE so far "
                         f"{first:.4f} (this race {extension:.4f})")


def test_no_race_starts_after_the_time_limit():
    result = _tune(SmallStep(), budget=9, extend=3, time_limit=0)
    assert len(result.results) == 9 and all(not d["extended"] for d in result.space.values())


def test_the_epoch_cap_doubles_only_when_none_was_given():
    space = {"n_factors": [64], "learning_rate": [0.005]}
    result = _tune(Stub(improving=True), budget=3, extend=2, space=space, min_epochs=10)
    cap = result.space["max_epochs"]
    assert (cap["initial"], cap["final"], cap["searched"], cap["extended"]) == (500, 2000, [500, 1000, 2000],
                                                                              ["high", "high"])
    assert space_lines(result.space) == ["raised the epoch cap from 500 to 2000"]
    # the best went on to each new cap, the space did not move, so no new configuration was drawn
    assert result.best_params["max_epochs"] == 2000 and result.converged is False and len(result.results) == 3
    assert sum(f["epochs"] for f in Stub.fits if f["n_factors"] == 64) <= 3 * 500 + 500 + 1000
    fixed = _tune(Stub(improving=True), budget=3, extend=2, space=space, min_epochs=10, max_epochs=40)
    assert fixed.space["max_epochs"] == {"kind": "cap", "initial": 40, "final": 40, "searched": [40], "extended": []}
    assert len(fixed.results) == 3 and fixed.best_params["max_epochs"] == 40


def test_extend_is_checked():
    with pytest.raises(ValueError, match="extend"):
        tune(DATA, extend=-1)


# ----------------------------------------------------------------------
# The report says what moved, and where a limit stopped the search
# ----------------------------------------------------------------------
class Shifting(Stub):
    """Smaller learning rates are better in the first race of 27, larger ones (and all better still) after it."""

    def score(self):
        if len(Stub.fits) <= 27:
            return 1.0 + self.learning_rate
        return 0.5 - self.learning_rate


def test_a_range_moved_back_is_not_reported_as_moved_past_an_edge():
    # The learning rate's upper edge, 0.01, is its limit. The first race
    # moves the range down ([0.002, 0.01] -> [0.000894, 0.00447]), the
    # second back up, which the limit stops at [0.002, 0.01] again: the
    # search never went above 0.01, and the third race's best sit at that
    # limit. The report used to say "moved past an edge 1 x low, 1 x high".
    space = {"learning_rate": LogRange(0.002, 0.01, extend=("low", "high"), limits=(1e-4, 0.01))}
    result = _tune(Shifting(), budget=27, extend=3, space=space)
    report = result.space["learning_rate"]
    low = 0.002 / 5 ** 0.5
    assert report["extended"] == ["low", "high"] and report["beyond"] == ["low"] and report["back"] == ["high"]
    assert report["final"] == pytest.approx([0.002, 0.01]) and report["searched"] == pytest.approx([low, 0.01])
    assert max(r["learning_rate"] for r in result.results) <= 0.01
    assert report["at_limit"] == {"side": "high", "bound": 0.01}
    assert space_lines(result.space) == [
        f"searched learning_rate {low:.4g}:0.01 (from 0.002:0.01, moved past an edge 1 x low, then back up 1 x "
        "over values already searched)",
        "learning_rate: the best values sit at the high edge 0.01, a limit the search does not move past",
    ]


def test_factors_whose_double_exceeds_the_limit_do_not_move_and_the_report_says_why():
    # 256 doubled is 512, past the limit 400: no choice can be added. The
    # search used to "move" to the choices (256,) and report a move.
    factors = Choices((64, 128, 256), extend=True, limit=400)
    assert factors.edge(256) is None and factors.at_limit(256) == "high" and factors.at_limit(128) is None
    assert Choices((64, 128, 256), extend=True, limit=512).edge(256) == "high"
    result = _tune(MoreFactors(), budget=27, extend=3, space={"n_factors": factors})
    assert {r["stage"] for r in result.results} == {0} and result.best_params["n_factors"] == 256
    report = result.space["n_factors"]
    assert report["extended"] == [] and report["at_limit"] == {"side": "high", "bound": 256}
    assert space_lines(result.space) == ["n_factors: the best values sit at the high edge 256, a limit the search "
                                         "does not move past"]
    # Without a limit in the way the same search moves, and says nothing of limits.
    moved = _tune(MoreFactors(), budget=27, extend=1, space={"n_factors": Choices((64, 128, 256), extend=True)})
    assert moved.space["n_factors"]["beyond"] == ["high"] and moved.space["n_factors"]["at_limit"] is None
    assert space_lines(moved.space) == ["searched n_factors 64,128,256,512 (from 64,128,256, moved past an edge "
                                        "1 x high)"]
