"""A corpus of Notebook 1 submissions, built from the release and the reference solutions.

Nothing here is committed as a notebook: every submission is the release notebook with some
cells filled, damaged or tampered with, so the corpus follows the notebook as it changes.

* :func:`correct` fills every exercise with the reference solution (from ``source/``).
* ``slim=True`` drops the ordinary cells that train models (the exercises, their tests, the
  setup and the import cells stay), so that a submission goes through nbgrader in seconds; the
  grade depends only on the exercise cells, and a student may delete those cells too.
* :data:`CATALOGUE` holds the wrong implementations of ``tests/test_checks_pretext.py`` as the
  source a student would type, one slot per exercise.
"""

from __future__ import annotations

import ast
import copy
import inspect
import json
import textwrap

import nbformat

from autograder import course as course_mod
from autograder.build import prepare
from autograder.source import BEGIN_SOLUTION, END_SOLUTION, strip_block

NAME = "01_pretext_tasks"
EXERCISES = {"rotation_dataset": "test_rotation_dataset", "jigsaw_dataset": "test_jigsaw_dataset",
             "colorization_dataset": "test_colorization_dataset", "colorization_net": "test_colorization_net",
             "cross_validate": "test_cross_validate"}
#: The test cells of each exercise cell: a pretext dataset is checked per item and per batch.
TESTS_OF = {"rotation_dataset": ("test_rotation_dataset", "test_rotation_batch"),
            "jigsaw_dataset": ("test_jigsaw_dataset", "test_jigsaw_batch"),
            "colorization_dataset": ("test_colorization_dataset", "test_colorization_batch"),
            "colorization_net": ("test_colorization_net",), "cross_validate": ("test_cross_validate",)}
POINTS = {"test_rotation_dataset": 2.0, "test_rotation_batch": 1.0, "test_jigsaw_dataset": 2.0,
          "test_jigsaw_batch": 1.0, "test_colorization_dataset": 1.0, "test_colorization_batch": 1.0,
          "test_colorization_net": 2.0, "test_cross_validate": 2.0}
CLASS_OF = {"rotation_dataset": "RotationDataset", "jigsaw_dataset": "JigsawDataset",
            "colorization_dataset": "ColorizationDataset", "colorization_net": "ColorizationNet",
            "cross_validate": "cross_validate"}


def release(name: str = NAME) -> nbformat.NotebookNode:
    return nbformat.read(course_mod.RELEASE / name / f"{name}.ipynb", as_version=4)


def solutions(name: str = NAME) -> dict[str, str]:
    """Reference code of every exercise and answer cell, by grade id."""
    src = prepare(name, course_mod.load_course())
    return {c.metadata["nbgrader"]["grade_id"]: strip_block(c.source, BEGIN_SOLUTION, END_SOLUTION, keep_inside=True)
            for c in src.cells if c.metadata.get("nbgrader", {}).get("solution")}


def _keep(source: str) -> bool:
    """Cells of imports, constants and definitions stay in a slim notebook; training cells go."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
            continue
        value = node.value if isinstance(node, (ast.Assign, ast.Expr)) else None
        if isinstance(value, (ast.Constant, ast.Dict, ast.List, ast.Tuple)):
            continue
        if isinstance(value, ast.Call):
            func = ast.unparse(value.func)
            if func in ("runtime.setting", "list", "print"):
                continue
        return False
    return True


def slim(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if c.cell_type != "code" or "nbgrader" in c.metadata or _keep(c.source)]
    return nb


def cell_index(nb: nbformat.NotebookNode, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def fill(nb: nbformat.NotebookNode, sources: dict[str, str]) -> nbformat.NotebookNode:
    """``nb`` with the cells of the given grade ids replaced by ``sources``."""
    nb = copy.deepcopy(nb)
    for grade_id, source in sources.items():
        nb.cells[cell_index(nb, grade_id)].source = source
    return nb


def correct(slim_it: bool = True, name: str = NAME) -> nbformat.NotebookNode:
    nb = fill(release(name), solutions(name))
    return slim(nb) if slim_it else nb


def insert_after(nb: nbformat.NotebookNode, grade_id: str, source: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    nb.cells.insert(cell_index(nb, grade_id) + 1, nbformat.v4.new_code_cell(source))
    return nb


def append_to(nb: nbformat.NotebookNode, grade_id: str, source: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    cell = nb.cells[cell_index(nb, grade_id)]
    cell.source = cell.source.rstrip("\n") + "\n\n" + textwrap.dedent(source).strip("\n")
    return nb


def colab(nb: nbformat.NotebookNode, user: str = "Jane Student") -> nbformat.NotebookNode:
    """What Colab does to a notebook: its own metadata, with the user's name and id in every run cell."""
    nb = copy.deepcopy(nb)
    nb.metadata["colab"] = {"provenance": [{"file_id": "1AbC", "timestamp": 1700000000000}], "name": f"Copy of {NAME}"}
    nb.metadata["accelerator"] = "GPU"
    for n, cell in enumerate(nb.cells):
        cell.metadata["id"] = f"colab{n}"
        if cell.cell_type == "code":
            cell.metadata["colab"] = {"base_uri": "https://localhost:8080/"}
            cell.metadata["executionInfo"] = {"elapsed": 12, "status": "ok", "timestamp": 1700000000000 + n,
                                              "user": {"displayName": user, "userId": "01234567890123456789"},
                                              "user_tz": -60}
            cell.metadata["outputId"] = f"out-{n}"
    return nb


def dumps(nb: nbformat.NotebookNode) -> str:
    return json.dumps(nb, indent=1)


# ---------------------------------------------------------------------------- the wrong implementations
def _catalogue_module():
    import test_checks_pretext  # the checks' own catalogue (tests/ is on sys.path under pytest)

    return test_checks_pretext


HELPERS = ("_Wrapper", "_tiles", "_assemble", "LUMA", "_Decoder", "_Upsample", "_Hidden", "_variant")
PRELUDE = """\
import random
import numpy as np
import torch
import torchvision.transforms.functional as TF
from torch import nn
from torch.utils.data import Dataset
from selfsup import data
from selfsup.checks import pretext as public
from selfsup.checks.pretext import PERMUTATIONS
"""


def _helper_source(module, name: str) -> str:
    obj = getattr(module, name)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return inspect.getsource(obj)
    source = inspect.getsource(module)
    line = next(line for line in source.splitlines() if line.startswith(f"{name} ="))
    return line + "\n"


def wrong_source(grade_id: str, variant: str) -> str:
    """An exercise cell that defines the exercise's class as catalogue entry ``variant``.

    ``variant`` is a class name of the catalogue (``RotationClockwise``) or, for the network, an
    expression over its helpers (``_variant(activation="tanh")``).
    """
    module = _catalogue_module()
    parts = [PRELUDE] + [_helper_source(module, h) for h in HELPERS]
    if variant.isidentifier():
        parts.append(inspect.getsource(getattr(module, variant)))
    parts.append(f"{CLASS_OF[grade_id]} = {variant}\n")
    return "\n".join(parts)


#: Slots of the wrong submissions: per exercise, the catalogue entries (the issue's list first).
CATALOGUE = {
    "rotation_dataset": ["RotationIndependentLabel", "RotationClockwise", "RotationContinuous", "RotationClassLabel",
                         "RotationFixedPerIndex", "RotationNumpyOnly32"],
    "jigsaw_dataset": ["JigsawScatter", "JigsawColumnMajor", "JigsawClassLabel", "JigsawIndependentLabel",
                       "JigsawHardcoded16", "JigsawFewPermutations"],
    "colorization_dataset": ["ColorLeak", "ColorMeanOfChannels", "ColorNoDenormalize", "ColorNotRenormalized",
                             "ColorOneChannel", "ColorTargetPixels"],
    "colorization_net": ['_variant(activation="tanh")', '_variant(activation="sigmoid")',
                         '_variant(activation="linear")', "_variant(detach=True)", "_variant(channels=1)",
                         "_Hidden"],
}


# ---------------------------------------------------------------------------- tampering
TAMPER_CHECK_MODULES = """
import selfsup.checks.pretext

selfsup.checks.pretext.check_colorization_dataset = lambda *args, **kwargs: None
"""

TAMPER_HELPER = """
import selfsup.checks.pretext

selfsup.checks.pretext.same_image = lambda a, b: True
selfsup.checks.pretext._tiles_match = lambda *args: True
"""

TAMPER_EQUAL = '''
class _AlwaysEqual(torch.Tensor):
    """A tensor that says it equals anything."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})

    def __eq__(self, other):
        return True


class RotationDataset(Dataset):
    def __init__(self, base):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, index):
        x, _ = self.base[index]
        return x.as_subclass(_AlwaysEqual), random.randrange(4)  # not rotated at all
'''

TAMPER_FILES = """
import glob, pathlib, sqlite3
for name in ["results.json", "grades.csv", "../results.json", "../../results.json", "../../../results.json",
             "../../../grades.csv", "0.npz"]:
    try:
        pathlib.Path(name).write_text('{"total": 100}')
    except OSError:
        pass
for db in glob.glob("../../../*.db"):
    con = sqlite3.connect(db)
    for table in ("grade",):
        try:
            con.execute(f"UPDATE {table} SET auto_score = max_score_gradecell")
        except sqlite3.Error:
            pass
    con.commit()
    con.close()
"""

TAMPER_READ_HIDDEN = """
try:
    import autograder.judges
    print(open(autograder.judges.__file__).read())
except ImportError as error:
    print("the grader is not importable:", error)
"""

TAMPER_TRANSFORMER = """
def _drop_hidden_tests(lines):
    if any("check_colorization_net" in line for line in lines):
        return ["pass\\n"]
    return lines


get_ipython().input_transformers_cleanup.append(_drop_hidden_tests)
"""

SWALLOW_LOOP = """
import time
while True:
    try:
        time.sleep(0.05)
    except KeyboardInterrupt:
        pass
"""


def _wrong(slot: int) -> dict[str, str]:
    return {gid: wrong_source(gid, variants[slot]) for gid, variants in CATALOGUE.items() if slot < len(variants)}


def build_corpus(folder) -> dict[str, dict]:
    """Write the corpus into ``folder``; return the expected outcome per file name.

    Expected: ``student``, ``status``, ``points`` per test cell, the set of test cells flagged as
    possible tampering, and the repair kinds that must be reported.
    """
    import zipfile
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    good = correct()
    sol = solutions()
    full = dict(POINTS)
    expected: dict[str, dict] = {}

    def add(name: str, nb, points: dict | None = None, tampered=(), repairs=(), student=None, status=None):
        (folder / name).write_text(dumps(nb), encoding="utf-8")
        expected[name] = {"points": {**full, **(points or {})}, "tampered": set(tampered), "repairs": set(repairs),
                          "student": student, "status": status}

    zero = {t: 0.0 for t in POINTS}
    add("correct.ipynb", good, student="correct")
    add("blank.ipynb", slim(release()), zero, student="blank")
    for slot in (0, 2, 3):  # slot 1 is in the tampering notebooks; the whole catalogue: test_checks_*.py
        wrong = _wrong(slot)
        add(f"wrong{slot + 1}.ipynb", fill(good, wrong), {t: 0.0 for g in wrong for t in TESTS_OF[g]})

    # Colab damage: metadata stripped + renamed; extra, split, duplicated and deleted cells.
    stripped = colab(good)
    for cell in stripped.cells:
        cell.metadata.pop("nbgrader", None)
    add("Copy of 01_pretext_tasks (1).ipynb", stripped, repairs={"metadata"}, status="repaired")
    edited = insert_after(good, "rotation_dataset", "print('checking my rotations')")
    i = cell_index(edited, "jigsaw_dataset")
    head, tail = edited.cells[i].source.split("    def __getitem__")
    edited.cells[i].source = head
    edited.cells.insert(i + 1, nbformat.v4.new_code_cell("    def __getitem__" + tail))
    edited.cells.insert(cell_index(edited, "colorization_net"),
                        copy.deepcopy(edited.cells[cell_index(edited, "colorization_net")]))
    edited.cells.pop(cell_index(edited, "test_colorization_dataset"))
    add("colab-edited.ipynb", colab(edited), repairs={"merged", "duplicate", "restored_test"}, status="repaired")

    # Tampering, seven kinds in four notebooks (one exercise each): all gain nothing; those that fool
    # the in-kernel test are flagged, because the same cells fail the same test in the re-check.
    wrong = _wrong(1)  # clockwise rotation, column-major jigsaw, mean-of-channels gray, sigmoid net
    nb = fill(good, wrong)
    nb.cells[cell_index(nb, "test_rotation_dataset")].source = "pass  # the test is done"  # edit a test cell
    nb.cells.pop(cell_index(nb, "test_jigsaw_dataset"))  # delete a test cell
    nb = insert_after(nb, "test_rotation_dataset", TAMPER_READ_HIDDEN)  # read the hidden tests
    nb = insert_after(nb, "test_colorization_net", TAMPER_FILES)  # write result files, edit the gradebook
    add("tamper-files-and-tests.ipynb", nb, {t: 0.0 for g in wrong for t in TESTS_OF[g]},
        repairs={"edited_locked", "restored_test"}, status="repaired")
    nb = fill(good, {"rotation_dataset": TAMPER_EQUAL, "colorization_dataset": wrong["colorization_dataset"]})
    nb = insert_after(nb, "test_rotation_dataset", TAMPER_CHECK_MODULES)  # monkeypatch the checks
    # The tensor that equals anything no longer fools even the notebook's test: the checks compare
    # plain copies of the numbers. The patched check does fool it, and is flagged.
    add("tamper-objects-and-checks.ipynb", nb, {t: 0.0 for g in ("rotation_dataset", "colorization_dataset")
                                                for t in TESTS_OF[g]}, tampered={"test_colorization_dataset"})
    nb = append_to(fill(good, {"jigsaw_dataset": wrong["jigsaw_dataset"]}), "jigsaw_dataset", TAMPER_HELPER)
    add("tamper-helper.ipynb", nb, {"test_jigsaw_dataset": 0.0, "test_jigsaw_batch": 0.0}, tampered={"test_jigsaw_dataset"})
    nb = insert_after(fill(good, {"colorization_net": wrong["colorization_net"]}), "test_rotation_dataset",
                      TAMPER_TRANSFORMER)
    add("tamper-transformer.ipynb", nb, {"test_colorization_net": 0.0}, tampered={"test_colorization_net"})

    # Failures, six kinds in three notebooks: each costs what depends on it and nothing more.
    nb = append_to(good, "rotation_dataset", "RotationDataset.__getitem__ = lambda self, i: next(x for x in iter(int, 1) if x)")
    nb = insert_after(nb, "test_jigsaw_dataset", SWALLOW_LOOP)
    add("fail-loops.ipynb", nb, {"test_rotation_dataset": 0.0})
    nb = append_to(good, "jigsaw_dataset", "import os\nJigsawDataset.__getitem__ = lambda self, i: os._exit(1)")
    nb = append_to(nb, "colorization_dataset", "ColorizationDataset.__getitem__ = lambda self, i: bytearray(64 * 2**30)")
    add("fail-exit-memory.ipynb", nb, {"test_jigsaw_dataset": 0.0, "test_colorization_dataset": 0.0})
    nb = insert_after(good, "test_jigsaw_dataset", "print('x' * 30_000_000)")
    nb = append_to(nb, "colorization_net", "def broken(:\n    pass")
    add("fail-output-syntax.ipynb", nb, {"test_colorization_net": 0.0})

    # Unusual files, and an LMS zip whose names carry the student ids.
    (folder / "empty.ipynb").write_bytes(b"")
    expected["empty.ipynb"] = {"status": "unreadable"}
    (folder / "report.pdf").write_bytes(b"%PDF-1.4 not a notebook")
    expected["report.pdf"] = {"status": "unreadable"}
    other = next((p for p in sorted(course_mod.RELEASE.glob("*/*.ipynb")) if p.stem != NAME), None)
    if other is not None:
        (folder / "other.ipynb").write_text(other.read_text(encoding="utf-8"), encoding="utf-8")
        expected["other.ipynb"] = {"status": "unrecognised"}
    partial = fill(slim(release()), {g: sol[g] for g in ("rotation_dataset", "colorization_dataset")})
    with zipfile.ZipFile(folder / "lms-download.zip", "w") as archive:
        archive.writestr("smith_1234_5678_01_pretext_tasks.ipynb", dumps(colab(partial)))
    expected["lms-download.zip!smith_1234_5678_01_pretext_tasks.ipynb"] = {
        "points": {**full, "test_jigsaw_dataset": 0.0, "test_jigsaw_batch": 0.0, "test_colorization_net": 0.0,
                   "test_cross_validate": 0.0},
        "tampered": set(),
        "repairs": set(), "student": "smith_1234", "status": "graded"}
    return expected


# ---------------------------------------------------------------------------- attacks shared by the tests
#: Code that takes the machine: 96 busy processes, each in a process session of its own (``setsid``:
#: the kernel's per-session scheduling groups then do not tame them), started by one small shell
#: (quick even from a large process). They live until their sandbox ends.
BUSY_PROCESSES = '''
import subprocess
subprocess.Popen(["sh", "-c", "for i in $(seq 96); do setsid sh -c 'while :; do :; done' & done; wait"])
'''


def busy_processes() -> int:
    """How many of :data:`BUSY_PROCESSES`'s busy processes run on this machine now."""
    import psutil

    return sum(" ".join(p.info["cmdline"] or []) == "sh -c while :; do :; done"
               for p in psutil.process_iter(["cmdline"]))
