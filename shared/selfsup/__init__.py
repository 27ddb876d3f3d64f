"""selfsup: the student helper package of the self-supervised learning practical.

Import the part you need by its noun::

    from selfsup import data, models, probe, runtime, train, viz, checks

It holds data loading, the shared backbone, the training loop, the linear probe, plots and
public self-checks. It holds no solution to any exercise.
"""

__version__ = "1.0.0"
