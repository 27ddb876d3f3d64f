"""No correct answer loses a point, whatever probe seed the grader draws: the short form of
``benchmarks/judge_sweep.py`` (the instructor's solution and every correct variant of the
catalogues, judged by the re-check's definitions on many seeds).

Seeds per exercise are sized by the measured cost of one judgement (``benchmarks/results/
*-judge-sweep-*.json``, seconds per seed) to keep the whole sweep near two minutes on two cores:
hundreds where a judgement costs milliseconds, a handful where one probe builds networks or
augments hundreds of images. The seeds start far from those of the catalogue tests.
"""

from __future__ import annotations

import pytest

from autograder import course as course_mod
from benchmarks.judge_sweep import implementations, merge, sweep

pytestmark = pytest.mark.integration

#: Probe seeds per exercise in this short sweep (the benchmark runs 10,000).
SEEDS = {"test_rotation_dataset": 100, "test_jigsaw_dataset": 30, "test_colorization_dataset": 200,
         "test_rotation_batch": 100, "test_jigsaw_batch": 30, "test_colorization_batch": 200,
         "test_colorization_net": 6, "test_simclr_augment": 4, "test_two_views": 15, "test_projection_head": 100,
         "test_simclr_model": 30, "test_nt_xent_loss": 20, "test_mae_reconstruct": 5, "test_mae_features": 50,
         "test_cls_attention_maps": 40, "test_foreground_mask": 200, "test_pca_rgb": 30, "test_knn_predict": 60,
         "test_cross_validate": 100, "test_nt_xent_loop": 10, "test_choose_k": 100}
FIRST_SEED = 50_000

CASES = [(test, label, obj) for assignment in course_mod.assignments()
         for test, items in implementations(assignment).items() for label, obj in items]


def test_every_exercise_is_swept():
    assert {test for test, _, _ in CASES} == set(SEEDS)


@pytest.mark.parametrize("test, label, obj", CASES, ids=[f"{t}-{label}" for t, label, _ in CASES])
def test_correct_answers_pass_on_every_seed(test, label, obj):
    result = sweep(test, obj, range(FIRST_SEED, FIRST_SEED + SEEDS[test]))
    assert not result["failures"], result["failures"][:3]


def _part(first, count, failures=()):
    result = {"seeds": count, "failures": list(failures), "seconds_per_seed": 0.5}
    return {"date": "d", "host": "h", "torch": "t", "command": "c", "seeds": {"first": first, "count": count},
            "failures": len(failures), "results": {"test_x": {"solution": result}}}


def test_merge_adds_disjoint_parts_and_keeps_their_failures():
    failure = {"seed": 12, "message": "wrong"}
    merged = merge([_part(0, 10), _part(10, 5, [failure])])
    result = merged["results"]["test_x"]["solution"]
    assert result["seeds"] == 15 and result["failures"] == [failure] and merged["failures"] == 1
    assert result["seed_ranges"] == [[0, 9], [10, 14]] and result["seconds_per_seed"] == 0.5


def test_merge_refuses_a_seed_swept_twice():
    with pytest.raises(ValueError, match="swept twice"):
        merge([_part(0, 10), _part(9, 5)])
