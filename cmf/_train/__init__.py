"""The training pipeline, one job per module.

- :mod:`~cmf._train.config`: the hyperparameters, each checked once (a table).
- :mod:`~cmf._train.state`: the factor state, its padding, initial values, AdaGrad state, prediction.
- :mod:`~cmf._train.stats`: counts, exact mean and scale of the training data.
- :mod:`~cmf._train.epochs`: epoch sources (permutation, blocked; :mod:`cmf.dask` adds its own).
- :mod:`~cmf._train.loop`: setup and the epoch loop; returns why training stopped.
- :mod:`~cmf._train.progress`: whether an epoch moved the model (a stalled fit is not converged).
- :mod:`~cmf._train.blocks`: the block grid, the partition and the schedule of blocked epochs.
- :mod:`~cmf._train.exact`, :mod:`~cmf._train.interrupt`: exact sums, deferred Ctrl-C.
- :mod:`~cmf._train.gibbs`: the Gibbs sampler of :class:`cmf.BayesianMatrixFactorization` (its own loop).

Data flows down: the estimator (:mod:`cmf.model`) and :mod:`cmf.dask` call
:func:`cmf._train.loop.train`; nothing here imports either of them.
"""
