"""Grading a class: from a pile of downloaded notebooks to grades and feedback that can be trusted.

``python -m autograder grade SUBMISSIONS... --out DIR`` runs these steps, one module each:

1. :mod:`.inputs` finds every file (``.ipynb``, folders, LMS ``.zip`` downloads), reads the
   student id from the file name and recognises the assignment from the notebook's content.
2. :mod:`.repair` aligns each notebook with its release notebook and undoes what Colab and
   students do to it: stripped or duplicated nbgrader metadata, deleted test cells, split
   cells, and Colab's personal ``executionInfo``. Every repair is reported.
3. :mod:`.execute` runs nbgrader's autograde in grading mode with a time limit per cell and
   per notebook and a memory cap (:mod:`.limits`), so that no submission can stop the batch.
   The kernel runs inside a bubblewrap sandbox (:mod:`.isolation`) that sees nothing secret.
   This in-kernel pass gives the executed notebook (for feedback) and nbgrader's scores.
4. :mod:`.recheck` decides the points: the student's exercise cells alone run in a fresh,
   isolated process (:mod:`.sandbox`) on probe inputs drawn from a seed chosen now; that
   process returns plain arrays, and the grader judges them (the public checks' judges and
   the references of :mod:`autograder.judges`). Where the in-kernel test passed and the
   re-check failed, the notebook's own test is replayed in the sandbox: if it now fails, the
   exercise is flagged as possible tampering, otherwise the two are reported as a difference
   (:mod:`.scoring`).
5. :mod:`.report` and :mod:`.feedback` write ``grades.csv``, ``results.json``, per-student
   HTML feedback and a class summary, atomically; :mod:`.batch` ties it together with worker
   processes, ``--shard``, ``--resume`` and :mod:`.merge`.
"""
