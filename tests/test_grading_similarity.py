"""Copied work: planted copies are caught through renaming, reformatting and moved comments;
independent correct solutions, the given code and the expected solutions are not flagged."""

from __future__ import annotations

import random

import class_corpus
import grading_corpus as corpus
import pytest

from autograder.grading import answers, questions, similarity

#: The catalogue's correct implementations of Notebook 1 (tests/test_checks_pretext.py), with their helpers.
CORRECT = {
    "rotation_dataset": [("RotationTorchFlips", ()), ("RotationRandom", ())],
    "jigsaw_dataset": [("JigsawGather", ("_tiles", "_assemble")), ("JigsawUnfold", ())],
    "colorization_dataset": [("ColorLuma", ()), ("ColorEinsum", ("LUMA",))],
    "colorization_net": [("_Upsample", ())],
}


def _exercise(grade_id: str) -> answers.Exercise:
    return next(e for e in answers.exercises(corpus.NAME) if e.grade_id == grade_id)


def _code_pairs(grade_id: str, sources: dict[str, str]) -> list[similarity.Pair]:
    """What ``answers`` flags among ``sources`` of one exercise (same base and names)."""
    exercise = _exercise(grade_id)
    keep = similarity.given_names(exercise.stub)
    base = similarity.code_fingerprints(exercise.stub, keep) | similarity.code_fingerprints(exercise.reference, keep)
    prints = {s: similarity.code_fingerprints(code, keep) for s, code in sources.items()}
    return similarity.similar_pairs(prints, base, similarity.CODE_THRESHOLD)


def _independent(grade_id: str) -> dict[str, str]:
    sources = {"reference": _exercise(grade_id).reference}
    for variant, helpers in CORRECT[grade_id]:
        sources[variant] = class_corpus.variant_source(grade_id, variant, helpers)
    return sources


@pytest.mark.parametrize("grade_id", list(CORRECT))
def test_independent_correct_solutions_are_not_flagged(grade_id):
    assert _code_pairs(grade_id, _independent(grade_id)) == []


@pytest.mark.parametrize("grade_id, variant", [(g, v) for g, vs in CORRECT.items() for v, _ in vs
                                               if v != "RotationRandom"])
def test_a_copy_with_renamed_variables_moved_comments_and_new_layout_is_caught(grade_id, variant):
    sources = _independent(grade_id)
    names = {"x": "img", "k": "choice", "i": "idx", "tiles": "parts", "out": "result", "luma": "brightness",
             "lo": "low", "hi": "high", "fc": "project", "conv": "layers"}
    copy = class_corpus.disguise(sources[variant], names, seed=3)
    assert copy != sources[variant] and "# " in copy
    pairs = _code_pairs(grade_id, {**sources, "copier": copy})
    assert [(p.a, p.b) for p in pairs] == [tuple(sorted(("copier", variant)))]
    assert pairs[0].similarity == 1.0


def test_the_expected_solution_and_the_given_code_are_never_flagged():
    reference = _exercise("rotation_dataset").reference
    renamed = class_corpus.disguise(reference, {"x": "image", "label": "k"}, seed=1)
    stub = _exercise("rotation_dataset").stub
    assert _code_pairs("rotation_dataset", {"a": reference, "b": renamed, "c": stub, "d": stub}) == []


def test_a_partial_copy_with_extra_code_is_still_caught():
    source = class_corpus.variant_source("jigsaw_dataset", "JigsawUnfold")
    extended = class_corpus.disguise(source, {"x": "img"}) + "\n\ndef unused(a):\n    return a * 2 + 1\n"
    pairs = _code_pairs("jigsaw_dataset", {"a": source, "b": extended})
    assert [(p.a, p.b) for p in pairs] == [("a", "b")] and pairs[0].similarity >= similarity.CODE_THRESHOLD


def test_code_that_does_not_parse_is_left_out():
    assert similarity.code_fingerprints("def broken(:\n    pass") is None
    assert _code_pairs("jigsaw_dataset", {"a": "def broken(:", "b": "def broken(:"}) == []


def test_code_structure_ignores_comments_docstrings_names_and_layout():
    a = 'def f(values):\n    """Doc."""\n    total = 0  # running sum\n    for v in values:\n        total += v * 2\n' \
        "    return total\n"
    b = "def f(xs):\n    # sum it\n    acc=0\n    for item in xs: acc += item*2\n    return acc\n"
    c = "def f(xs):\n    acc = 0\n    for item in xs:\n        acc -= item * 2\n    return acc\n"
    assert similarity.code_tokens(a) == similarity.code_tokens(b)
    assert similarity.code_tokens(a) != similarity.code_tokens(c)


# ---------------------------------------------------------------------------- written answers
def _text_pairs(answers_by_student: dict[str, str], question: str = "q_rotation") -> list[similarity.Pair]:
    q = next(q for q in questions.questions(corpus.NAME) if q.grade_id == question)
    base = similarity.text_fingerprints(q.prompt) | similarity.text_fingerprints(q.stub)
    prints = {s: similarity.text_fingerprints(t) for s, t in answers_by_student.items()}
    return similarity.similar_pairs(prints, base, similarity.TEXT_THRESHOLD)


def test_near_identical_answers_are_caught_and_independent_ones_are_not():
    rng = random.Random(3)
    ada, bob = class_corpus.ANSWERS["ada"]["q_rotation"], class_corpus.ANSWERS["bob"]["q_rotation"]
    others = {f"r{k}": class_corpus.random_answer(rng) for k in range(6)}
    copy = class_corpus.edit_words(ada, rng, edits=3).upper()  # case and a few words changed
    pairs = _text_pairs({"ada": ada, "bob": bob, "cy": copy, **others})
    assert [(p.a, p.b) for p in pairs] == [("ada", "cy")]


def test_answers_that_quote_the_question_are_not_flagged_for_it():
    q = next(q for q in questions.questions(corpus.NAME) if q.grade_id == "q_rotation")
    quoted = q.prompt.split("\n", 1)[1]
    rng = random.Random(5)
    assert _text_pairs({"a": quoted + " " + class_corpus.random_answer(rng, 30),
                        "b": quoted + " " + class_corpus.random_answer(rng, 30)}) == []


def test_short_identical_answers_are_not_evidence():
    assert _text_pairs({"a": "Rotation, because of the sky.", "b": "Rotation, because of the sky."}) == []


def test_what_much_of_the_class_shares_is_not_a_copy():
    rng = random.Random(9)
    shared = class_corpus.random_answer(rng, 40)
    crowd = {f"s{k}": shared + " " + class_corpus.random_answer(rng, 60) for k in range(8)}
    assert _text_pairs(crowd) == []


def test_groups_join_the_pairs_of_one_copied_answer():
    pairs = [similarity.Pair("a", "b", 1.0, 10), similarity.Pair("b", "c", 0.9, 10), similarity.Pair("d", "e", 0.8, 9)]
    assert similarity.groups(pairs) == [["a", "b", "c"], ["d", "e"]]


def test_the_model_answer_is_recognised_even_when_many_share_it():
    q = next(q for q in questions.questions(corpus.NAME) if q.grade_id == "q_jigsaw")
    base = similarity.text_fingerprints(q.prompt)
    rng = random.Random(1)
    prints = {f"s{k}": similarity.text_fingerprints(q.rubric if k < 6 else class_corpus.random_answer(rng))
              for k in range(10)}
    hits = similarity.like_reference(prints, similarity.text_fingerprints(q.rubric), base, similarity.TEXT_THRESHOLD)
    assert [h["student"] for h in hits] == [f"s{k}" for k in range(6)]
    assert similarity.similar_pairs(prints, base, similarity.TEXT_THRESHOLD) == []  # common to the class
