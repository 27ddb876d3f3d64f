"""Submissions that attack the grader, graded in one batch with honest ones: they gain nothing, and
nothing secret shows up in any output.

Secret: the grader's judges and references, the solutions (model answers included), the
sources, the grader's working folders, the signing secret, and every other student's submission.
Each attack runs where student code runs, in both processes: the nbgrader kernel (ordinary
cells) and the re-check sandbox (exercise cells, called on the probe inputs). What it finds it
prints base64-encoded (the feedback filter only knows plain lines of grader code) or smuggles out
in an exception message, which the re-check reports. Run against the grader of commit f0325a1
(before isolation), the spies found the judges, the solutions and the other submission.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid

import grading_corpus as corpus
import pytest

from autograder import course as course_mod
from autograder.grading import batch
from autograder.grading.feedback import _public_lines
from autograder.grading.limits import Limits
from autograder.source import BEGIN_SOLUTION, END_SOLUTION

pytestmark = pytest.mark.integration

LIMITS = Limits(cell_timeout=30, notebook_timeout=180, memory_mb=2000, recheck_timeout=15)
MARKER = f"VICTIM-{uuid.uuid4().hex}"
SIGNING_SECRET = f"SIGNING-{uuid.uuid4().hex}"

#: Looks for every kind of secret from inside a student process; returns a report that says how
#: many it found, with what it found base64-encoded.
SPY = '''
def _spy(marker_prefix="VICTIM-"):
    import base64, glob, os, pathlib, sys
    found = []

    def read(path, limit=4000):
        try:
            with open(path, "rb") as f:
                data = f.read(limit)
        except (OSError, ValueError):
            return
        found.append((str(path), data))

    import selfsup
    root = pathlib.Path(selfsup.__file__).resolve().parents[2]  # the course repository, where the helper lives
    for rel in ["autograder/judges/simclr.py", "autograder/judges/mae_dinov2.py", "solutions/01_pretext_tasks.ipynb",
                "source/01_pretext_tasks.py", "autograder/grading/batch.py", ".grading-key"]:
        read(root / rel)
    for finder in glob.glob(sys.prefix + "/lib/python3*/site-packages/__editable__*finder.py"):
        text = open(finder).read()
        for path in set(p for p in __import__("re").findall(r"'(/[^']+)'", text) if "autograder" in p):
            for name in glob.glob(path + "/**/*.py", recursive=True)[:20]:
                read(name)
    try:
        import autograder.judges.simclr as judges
        read(judges.__file__)
    except ImportError:
        pass
    for key, value in os.environ.items():
        if "SIGNING-" in value or "SECRET" in key:
            found.append(("env:" + key, value.encode()))
    for pid in os.listdir("/proc"):
        if pid.isdigit() and pid != str(os.getpid()):
            for what in ("environ", "mem"):
                read(f"/proc/{pid}/{what}", 2000)
    seen = 0
    for top in ("/tmp", "/var/tmp", "/root", "/home", "/work", "/srv", "/opt", str(root.parent)):
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d not in (".venv", "site-packages", "__pycache__", ".git")]
            for name in files:
                seen += 1
                if seen > 20000:
                    break
                path = os.path.join(folder, name)
                if name.endswith((".ipynb", ".json", ".db", ".csv", ".py", ".html", ".md")):
                    try:
                        with open(path, "rb") as f:
                            data = f.read(200000)
                    except OSError:
                        continue
                    if marker_prefix.encode() in data or b"reference_nt_xent" in data or b"BEGIN SOLUTION" in data:
                        found.append((path, data[:4000]))
    lines = [f"SPY found {len(found)} secret(s)"]
    lines += ["LEAK:" + base64.b64encode(path.encode() + b"\\n" + data).decode() for path, data in found[:20]]
    return "\\n".join(lines)
'''

#: An ordinary cell: the spy in the kernel, then an attempt to pre-empt the grader's results.
KERNEL_ATTACK = SPY + '''
print(_spy())
import pathlib
for folder in [pathlib.Path.cwd(), *pathlib.Path.cwd().parents]:
    for name in ("results.json", "grades.csv", "gradebook.db", "0.npz", "events"):
        try:
            (folder / name).write_text('{"total": 100, "points": 3}')
        except OSError:
            pass
'''

#: An exercise cell: at load time it sprays fake results on every file descriptor and into the
#: folders around it and kills what it can; when the re-check calls it, it raises its spy report.
SANDBOX_ATTACK = SPY + '''
import json, os, pathlib, signal

_fake = json.dumps({"ok": True}).encode()
for _fd in range(3, 256):
    for _payload in (len(_fake).to_bytes(8, "big") + _fake, json.dumps({"loaded": []}).encode(),
                     json.dumps({"done": 1, "exit": 0}).encode()):
        try:
            os.write(_fd, _payload)
        except OSError:
            pass
for _folder in [pathlib.Path.cwd(), *pathlib.Path.cwd().parents]:
    for _name in ("0.npz", "events", "results.json"):
        try:
            (_folder / _name).write_text("{}")
        except OSError:
            pass


class RotationDataset(Dataset):
    def __init__(self, base):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, index):
        raise ValueError(_spy())
'''

#: An exercise cell that kills every process it may signal (the re-check's zygote included) while loading.
SABOTEUR = '''
import os, signal
try:
    os.kill(-1, signal.SIGKILL)
except OSError:
    pass
'''


def _needles() -> dict[str, str]:
    """What must never appear in a student-facing output: ``{what: text}``."""
    public = _public_lines()
    needles = {"the other student's submission": MARKER, "the signing secret": SIGNING_SECRET}
    for path in sorted((course_mod.ROOT / "autograder" / "judges").glob("*.py")):
        for line in path.read_text().splitlines():
            if len(line.strip()) >= 40 and line.strip() not in public:
                needles[f"{path.name}: {line.strip()[:40]}"] = line.strip()
    for path in sorted(course_mod.SOURCE.glob("[0-9][0-9]_*.py")):
        inside = False
        for line in path.read_text().splitlines():  # model answers: markdown lines between the markers
            text = line[2:].strip() if line.startswith("# ") else ""
            if text in (BEGIN_SOLUTION, END_SOLUTION):
                inside = text == BEGIN_SOLUTION
            elif inside and len(text) >= 40:
                needles[f"model answer of {path.stem}: {text[:40]}"] = text
    return needles


def _decoded(text: str) -> str:
    """``text`` and every base64 blob in it, decoded."""
    parts = [text]
    for blob in re.findall(r"[A-Za-z0-9+/=]{40,}", text):
        try:
            parts.append(base64.b64decode(blob + "=" * (-len(blob) % 4)).decode("utf-8", "replace"))
        except (binascii.Error, ValueError):
            continue
    return "\n".join(parts)


def _own_answers(nb, text: str):
    """``nb`` with every written answer in the student's own words (not the model answers)."""
    answers = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
               if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")]
    return corpus.fill(nb, dict.fromkeys(answers, text))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    good = _own_answers(corpus.correct(), "I am not sure.")
    victim = _own_answers(corpus.append_to(good, "rotation_dataset", f"# {MARKER}"), f"My own answer. {MARKER}")
    (folder / "aa-victim_1_1_01_pretext_tasks.ipynb").write_text(corpus.dumps(victim))
    (folder / "zz-victim_2_2_01_pretext_tasks.ipynb").write_text(corpus.dumps(victim))
    wrong = corpus.wrong_source("jigsaw_dataset", "JigsawColumnMajor")
    spy = corpus.insert_after(corpus.fill(good, {"jigsaw_dataset": wrong}), "test_rotation_dataset", KERNEL_ATTACK)
    (folder / "kernelspy_3_3_01_pretext_tasks.ipynb").write_text(corpus.dumps(spy))
    sandbox_spy = corpus.fill(good, {"rotation_dataset": SANDBOX_ATTACK, "jigsaw_dataset": wrong})
    (folder / "sandboxspy_4_4_01_pretext_tasks.ipynb").write_text(corpus.dumps(sandbox_spy))
    saboteur = corpus.append_to(good, "colorization_dataset", SABOTEUR)
    (folder / "saboteur_5_5_01_pretext_tasks.ipynb").write_text(corpus.dumps(saboteur))
    out = tmp_path_factory.mktemp("graded")
    patch = pytest.MonkeyPatch()
    patch.setenv("AUTOGRADER_SECRET", SIGNING_SECRET)
    try:
        records = batch.run(batch.Options(paths=[str(folder)], out=out, assignment=corpus.NAME, jobs=2,
                                          probe_seed=4242, limits=LIMITS))
    finally:
        patch.undo()
    return {r["student"]: r for r in records}, out


def test_honest_work_keeps_its_points(graded):
    records, _ = graded
    for student in ("aa-victim_1", "zz-victim_2"):
        assert records[student]["total"] == sum(corpus.POINTS.values()), records[student]["exercises"]


def test_attackers_gain_nothing(graded):
    records, _ = graded
    points = {s: {t: e["points"] for t, e in r["exercises"].items()} for s, r in records.items()}
    assert points["kernelspy_3"]["test_jigsaw_dataset"] == 0.0
    assert points["sandboxspy_4"]["test_rotation_dataset"] == 0.0
    assert points["sandboxspy_4"]["test_jigsaw_dataset"] == 0.0


def test_the_spies_find_nothing_in_either_process(graded):
    records, out = graded
    kernel = (out / "autograded" / "kernelspy_3" / f"{corpus.NAME}.ipynb").read_text()
    assert "SPY found 0 secret(s)" in kernel
    sandbox = records["sandboxspy_4"]["exercises"]["test_rotation_dataset"]["message"]
    assert "SPY found 0 secret(s)" in sandbox, sandbox


def test_a_saboteur_costs_only_its_own_exercise(graded):
    records, _ = graded
    exercises = records["saboteur_5"]["exercises"]
    assert exercises["test_rotation_dataset"]["points"] == 3.0 and exercises["test_jigsaw_dataset"]["points"] == 3.0


def test_nothing_secret_in_any_output(graded):
    """Feedback, autograded notebooks, results.json, the summary and grades.csv: plain or base64-encoded."""
    _, out = graded
    needles = _needles()
    assert len(needles) > 20
    victim_files = {"aa-victim_1", "zz-victim_2"}
    leaks = []
    for path in sorted(out.rglob("*")):
        if not path.is_file() or path.name.startswith(".") or path.suffix not in (".html", ".ipynb", ".json", ".md",
                                                                                   ".csv"):
            continue
        owner = next((part for part in path.relative_to(out).parts if part in victim_files), None)
        text = _decoded(path.read_text(errors="replace"))
        for what, needle in needles.items():
            if what == "the other student's submission" and owner is not None:
                continue  # a student's own notebook may contain their own words
            if needle in text:
                leaks.append(f"{path.relative_to(out)}: {what}")
    assert not leaks, leaks


def test_results_say_which_isolation_was_in_force(graded):
    _, out = graded
    meta = json.loads((out / "results.json").read_text())["meta"]
    assert meta["isolation"].startswith("bubblewrap")
    assert "Isolation of student code: bubblewrap" in (out / "summary.md").read_text()
