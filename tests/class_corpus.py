"""Graded classes made from the corpus, without running nbgrader: an output folder as ``grade`` writes it.

For the written answers, the copied-work check and the LMS export only the outputs of a grade run
matter: ``results.json`` (the records), ``submitted/`` (the notebooks as handed in, with the
students' own outputs) and ``autograded/`` (the grader's run). :func:`write_graded` writes those
from submissions built here out of the corpus (``tests/grading_corpus.py``): the release notebook
filled with the reference solution (every cell, so that the cells a question asks about are there)
or with the catalogue's correct variants, answers, and outputs planted in the cells a question is
about, as a student's Colab run leaves them.

:func:`synthetic_class` makes a class of any size the same way (the benchmark's 300 students per
notebook): varied code, answers of random words, a few templates and empty cells, and planted copies.
"""

from __future__ import annotations

import ast
import base64
import copy
import functools
import inspect
import io
import random
import re
from pathlib import Path

import grading_corpus as corpus
import nbformat

from autograder.grading import questions as questions_mod
from autograder.grading.report import write_outputs
from autograder.grading.scoring import graded_cells


# ---------------------------------------------------------------------------- outputs of a Colab run
def png(seed: int, width: int = 96, height: int = 64) -> bytes:
    """A small PNG, different for every seed (a stand-in for a figure)."""
    from PIL import Image

    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        image.paste(tuple(rng.randrange(256) for _ in range(3)), (x, y, min(width, x + 12), min(height, y + 12)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def stream(text: str):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def figure(raw: bytes):
    return nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(raw).decode("ascii"),
                                                         "text/plain": "<Figure size 640x480 with 1 Axes>"})


def plant_outputs(nb: nbformat.NotebookNode, outputs: dict[str, list]) -> nbformat.NotebookNode:
    """``nb`` with the outputs of the code cells that contain each key replaced."""
    nb = copy.deepcopy(nb)
    for piece, outs in outputs.items():
        cell = next(c for c in nb.cells if c.cell_type == "code" and piece in c.source)
        cell.outputs = list(outs)
    return nb


# ---------------------------------------------------------------------------- code students write
def variant_source(grade_id: str, variant: str, helpers: tuple[str, ...] = ()) -> str:
    """An exercise cell defining the exercise's class as the catalogue's correct ``variant``.

    The catalogue's classes derive from a test helper; here they become what a student writes:
    the release's class line, ``__init__`` and ``__len__``, then the variant's own methods.
    """
    module = corpus._catalogue_module()
    source = inspect.getsource(getattr(module, variant))
    name = corpus.CLASS_OF[grade_id]
    if "(_Wrapper)" in source:
        head = (f"class {name}(Dataset):\n    def __init__(self, base):\n        self.base = base\n\n"
                "    def __len__(self):\n        return len(self.base)\n\n")
        body = source.split(":\n", 1)[1]
        source = head + body
    else:
        source = re.sub(r"^class \w+\(", f"class {name}(", source)
    parts = [inspect.getsource(getattr(module, h)) if not h.isupper() else corpus._helper_source(module, h)
             for h in helpers]
    return "\n\n".join(parts + [source])


def disguise(source: str, renames: dict[str, str], seed: int = 0) -> str:
    """``source`` as a copier hands it in: names renamed, reformatted, comments moved and added."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in renames:
            node.id = renames[node.id]
        elif isinstance(node, ast.arg) and node.arg in renames:
            node.arg = renames[node.arg]
        elif isinstance(node, ast.Attribute) and node.attr in renames:
            node.attr = renames[node.attr]
    lines = ast.unparse(tree).splitlines()  # the layout of ast.unparse, not the original's
    rng = random.Random(seed)
    for _ in range(3):
        at = rng.randrange(1, len(lines))
        indent = re.match(r"\s*", lines[at]).group(0)
        lines.insert(at, f"{indent}# {rng.choice(['my own work', 'step two', 'tidy up later', 'see lecture'])}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- answers students write
_VOCABULARY = ("network backbone feature features linear probe accuracy rotation rotations jigsaw tile tiles colour "
               "colours gray image images object objects label labels class classes random init pretext task "
               "tasks learn learns learned supervised self representation representations shortcut edge edges "
               "texture pixel pixels mean loss regression orientation upright sky grass ship plane frog cat dog "
               "horse truck bird deer because therefore however so thus while which that the a an of to in on "
               "for with by from than more less better worse higher lower small large few many 10 100 1000 "
               "percent curve band draws budget spread noise chance floor ceiling semantic low level high "
               "statistics filter filters convolution relu pooling cluster clusters separate separates direction "
               "directions train trained training epoch epochs run runs table figure plot shows").split()


_CALLS = ("torch.clamp({}, min={})", "torch.roll({}, {})", "({} * {})", "({} + {})", "torch.full_like({}, {})",
          "({} - {})", "torch.maximum({}, torch.tensor({}))", "({} / (1 + {}))")


def own_code(rng: random.Random, statements: int = 6) -> str:
    """A helper function of random statements with random constants: code of one student's own."""
    lines = [f"def helper_{rng.randrange(10**6)}(value):"]
    for _ in range(statements):
        call = rng.choice(_CALLS)
        lines.append(f"    value = {call.format('value', rng.randrange(1, 10**4))}")
    lines.append("    return value")
    return "\n".join(lines) + "\n"


def random_answer(rng: random.Random, words: int = 70) -> str:
    """An answer of random course words: independent of every other answer drawn this way."""
    picked = [rng.choice(_VOCABULARY) for _ in range(words)]
    sentences, at = [], 0
    while at < len(picked):
        n = rng.randint(8, 16)
        sentences.append(" ".join(picked[at:at + n]).capitalize() + ".")
        at += n
    return " ".join(sentences)


def edit_words(text: str, rng: random.Random, edits: int = 3) -> str:
    """``text`` with a few words replaced: a near-identical copy."""
    words = text.split()
    for _ in range(edits):
        words[rng.randrange(len(words))] = rng.choice(_VOCABULARY)
    return " ".join(words)


# ---------------------------------------------------------------------------- notebooks and the folder
@functools.lru_cache(maxsize=None)
def _reference_notebook(name: str) -> nbformat.NotebookNode:
    return corpus.correct(slim_it=False, name=name)


def submission(name: str, code: dict[str, str] | None = None, answers: dict[str, str | None] | None = None,
               outputs: dict[str, list] | None = None) -> nbformat.NotebookNode:
    """A full notebook of ``name``: reference solutions, then ``code`` and ``answers`` by grade id
    (an answer of None deletes the cell), and ``outputs`` planted by code piece."""
    nb = corpus.fill(_reference_notebook(name), {**(code or {}),
                                                               **{q: a for q, a in (answers or {}).items()
                                                                  if a is not None}})
    for question, answer in (answers or {}).items():
        if answer is None:
            nb.cells.pop(corpus.cell_index(nb, question))
    return plant_outputs(nb, outputs or {})


def _restore_deleted_answers(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> tuple:
    """What the grader's repair does to a notebook whose answer cells were deleted (put back as the stub)."""
    from autograder.grading.repair import repair

    repaired, repairs, _ = repair(nb, release)
    return repaired, [r.as_dict() for r in repairs]


def write_graded(folder: Path, students: list[dict]) -> Path:
    """An output folder of ``grade`` for ``students``: ``{student, assignment, notebook, [autograded]}``.

    Every exercise is recorded as passed; ``notebook`` is what the student handed in (repaired as
    the grader does); ``autograded``, if given, stands for the grader's grading-mode run.
    """
    folder = Path(folder)
    records = []
    releases = {}
    for n, s in enumerate(students):
        assignment = s["assignment"]
        if assignment not in releases:
            releases[assignment] = corpus.release(assignment)
        tests, answers = graded_cells(releases[assignment])
        nb, repairs = _restore_deleted_answers(s["notebook"], releases[assignment])
        student = s["student"]
        (folder / "submitted" / student).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / "submitted" / student / f"{assignment}.ipynb")
        if s.get("autograded") is not None:
            (folder / "autograded" / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(s["autograded"], folder / "autograded" / student / f"{assignment}.ipynb")
        records.append({
            "key": f"submissions/{student}_{1000 + n}_1_{assignment}.ipynb",
            "status": "repaired" if repairs else "graded",
            "reason": "", "student": student, "assignment": assignment, "sha256": f"{n:064x}",
            "exercises": {t: {"points": p, "max": p, "status": "pass", "message": "passed", "in_kernel": "pass"}
                          for t, p in tests.items()},
            "manual": {a: {"max": p} for a, p in answers.items()},
            "total": sum(tests.values()), "max": sum(tests.values()), "flags": [], "repairs": repairs,
            "feedback": f"feedback/{student}/{assignment}.html"})
    write_outputs(folder, records, {"probe_seed": 1, "isolation": "test"})
    return folder


# ---------------------------------------------------------------------------- a class of any size
def synthetic_class(size: int, names=("01_pretext_tasks", "02_simclr", "03_mae_dinov2"), seed: int = 0,
                    copy_share: float = 0.03) -> tuple[list[dict], dict]:
    """``size`` students per notebook, each with their own code and answers; returns the students and
    the planted copies ``{(assignment, item): {(a, b), ...}}``.

    Every exercise is the reference with a unique extra statement or two (students' own code), about
    5% of answers are left as the template and 2% empty; ``copy_share`` of the students copy one
    answer and one exercise from another student (renamed, reformatted, a few words changed).
    """
    rng = random.Random(seed)
    students, planted = [], {}
    for name in names:
        release = _reference_notebook(name)
        sol = corpus.solutions(name)
        exercise_ids = [c.metadata["nbgrader"]["grade_id"] for c in release.cells
                        if c.metadata.get("nbgrader", {}).get("solution") and not c.metadata["nbgrader"].get("grade")]
        qs = questions_mod.questions(name)
        pieces = sorted({p for q in qs for p in q.evidence})
        made: list[dict] = []
        for k in range(size):
            student = f"s{k:04d}"
            code = {}
            for gid in exercise_ids:
                code[gid] = sol[gid] + "\n\n" + own_code(rng)
            answers = {}
            for q in qs:
                roll = rng.random()
                answers[q.grade_id] = q.stub if roll < 0.05 else "" if roll < 0.07 else \
                    random_answer(rng) + (" The gap is $\\frac{a}{b} = 0.3$." if roll > 0.9 else "")
            outputs = {p: [stream(f"{student}: linear probe {rng.uniform(40, 80):.1f}%\n"),
                           figure(png(rng.randrange(10**9)))] for p in pieces}
            made.append({"student": student, "assignment": name, "code": code, "answers": answers,
                         "outputs": outputs})
        copiers = rng.sample(range(1, size), max(1, int(copy_share * size))) if size > 1 else []
        originals = [k for k in range(size) if k not in copiers]  # a copy of a copy would be overwritten
        for k in copiers:
            source = rng.choice(originals)
            a, b = made[source], made[k]
            q = rng.choice([q for q in qs if a["answers"][q.grade_id] not in (q.stub, "")] or qs)
            b["answers"][q.grade_id] = edit_words(a["answers"][q.grade_id], rng)
            gid = rng.choice(exercise_ids)
            b["code"][gid] = disguise(a["code"][gid], {"x": "img", "label": "rot"}, seed=k)
            planted.setdefault((name, q.grade_id), set()).add((a["student"], b["student"]))
            planted.setdefault((name, gid), set()).add((a["student"], b["student"]))
        for m in made:
            students.append({"student": m["student"], "assignment": name,
                             "notebook": submission(name, m["code"], m["answers"], m["outputs"])})
    return students, planted


# ---------------------------------------------------------------------------- the small class of the tests
ANSWERS = {
    "ada": {
        "q_random_init": "Random filters already respond to colour and texture, so a linear classifier on 256 such "
                         "responses separates ships on blue water from frogs on green grass. The random number is "
                         "the floor that every pretext task must beat.",
        "q_rotation": "In my run rotation gave the best probe, $61.4\\%$ against $58.7\\%$ for jigsaw, while chance "
                      "is $\\frac{1}{4}$ for the pretext task itself. To tell upright from upside down the network "
                      "must find sky, legs and wheels; top-down views of frogs stay ambiguous. "
                      "<script>alert('xss')</script>",
        "q_jigsaw": "Edges and colour gradients continue across the tile borders, so it can match borders; leaving "
                    "a gap between tiles removes that cue.",
        "q_colorization": "MSE averages the plausible colours into brown, so predictions look washed out.",
        "q_label_efficiency": "With ten labels per class rotation is ahead, and the bands overlap after a hundred.",
    },
    "bob": {
        "q_random_init": "Even untrained convolutions compute local statistics such as colour histograms; fitting "
                         "a classifier with fifty thousand labels on them gets far above chance.",
        "q_rotation": "Jigsaw won for me by a small margin. Rotation needs canonical orientation, which objects "
                      "photographed from above do not have, so the labels there are noise.",
        "q_jigsaw": "Chromatic aberration tells where a tile sat in the lens; jittering colours per tile hides it.",
        "q_colorization": "Regression to the conditional mean makes greyish outputs whenever several hues fit.",
        "q_label_efficiency": "Supervised stays on top everywhere, which is no surprise given all its labels.",
    },
}


def small_class(folder: Path) -> dict:
    """Six students of Notebook 1 written as a grade run's output folder; returns what was planted.

    * ``ada``: own answers (one with LaTeX and a ``<script>``), the reference code, outputs of her
      own run in the cells the questions are about, and a different grading-mode run;
    * ``bob``: own answers, the catalogue's correct variants of every exercise (independent code);
    * ``cy``: ada's ``q_rotation`` with a few words changed, bob's jigsaw renamed, reformatted and
      commented differently;
    * ``dee``: every answer left as the template but ``q_jigsaw``, which is empty; two more
      correct variants;
    * ``eve``: the model answer of ``q_rotation`` word for word, the ``q_colorization`` cell deleted;
    * ``fay``: answers of random words, the reference code.
    """
    name = corpus.NAME
    rng = random.Random(7)
    bob_code = {"rotation_dataset": variant_source("rotation_dataset", "RotationTorchFlips"),
                "jigsaw_dataset": variant_source("jigsaw_dataset", "JigsawUnfold"),
                "colorization_dataset": variant_source("colorization_dataset", "ColorEinsum", ("LUMA",)),
                "colorization_net": variant_source("colorization_net", "_Upsample")}
    ada_outputs = {"viz.bar_chart(results": [stream("rotation: linear probe 61.4% (ada's own run)\n"), figure(png(1))],
                   "viz.label_efficiency(curves": [stream("rotation: 10 per class 31.2%, 100 per class 44.0%\n"),
                                                   figure(png(2))],
                   '["gray"] * 8': [figure(png(3))]}
    grading_mode = {piece: [stream("GRADING-MODE NUMBER 12.5%\n")] for piece in ada_outputs}
    rubric = {q.grade_id: q.rubric for q in questions_mod.questions(name)}
    template = {q.grade_id: q.stub for q in questions_mod.questions(name)}
    cy_answers = {q: random_answer(rng) for q in template}
    cy_answers["q_rotation"] = edit_words(ANSWERS["ada"]["q_rotation"], rng, edits=2)
    eve_answers = {q: random_answer(rng) for q in template}
    eve_answers.update(q_rotation=rubric["q_rotation"], q_colorization=None)
    students = [
        {"student": "ada", "assignment": name,
         "notebook": submission(name, answers=ANSWERS["ada"], outputs=ada_outputs),
         "autograded": submission(name, answers=ANSWERS["ada"], outputs=grading_mode)},
        {"student": "bob", "assignment": name, "notebook": submission(name, bob_code, ANSWERS["bob"])},
        {"student": "cy", "assignment": name, "notebook": submission(
            name, {"jigsaw_dataset": disguise(bob_code["jigsaw_dataset"],
                                              {"x": "image", "k": "which", "out": "tiles"})},
            cy_answers)},
        {"student": "dee", "assignment": name, "notebook": submission(
            name, {"jigsaw_dataset": variant_source("jigsaw_dataset", "JigsawGather", ("_tiles", "_assemble")),
                   "colorization_dataset": variant_source("colorization_dataset", "ColorLuma")},
            {**template, "q_jigsaw": ""})},
        {"student": "eve", "assignment": name, "notebook": submission(name, answers=eve_answers)},
        {"student": "fay", "assignment": name, "notebook": submission(name, answers={q: random_answer(rng)
                                                                                     for q in template})},
    ]
    write_graded(folder, students)
    return {"students": [s["student"] for s in students], "copied_answer": ("ada", "cy", "q_rotation"),
            "copied_code": ("bob", "cy", "jigsaw_dataset"), "like_model": ("eve", "q_rotation"),
            "template": "dee", "empty": ("dee", "q_jigsaw"), "missing": ("eve", "q_colorization")}
