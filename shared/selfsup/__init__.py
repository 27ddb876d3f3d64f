"""selfsup: the student helper package of the self-supervised learning practical.

Import the part you need by its noun::

    from selfsup import augment, checks, data, hub, models, probe, reference, runtime, submission, train, viz

It holds data loading (``data``), batched augmentation (``augment``), the shared backbone
(``models``), the training loop (``train``), the linear probe (``probe``), pretrained-model
loading for Notebook 3 (``hub``), plots (``viz``), the course's recorded reference numbers
(``reference``), the pre-submission check (``submission``) and public self-checks (``checks``).
It holds no solution to any exercise.
"""

__version__ = "1.0.0"
