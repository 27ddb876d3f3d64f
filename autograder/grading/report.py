"""Everything a batch writes: per-input records, ``grades.csv``, ``results.json`` and the class summary.

Layout of an output folder::

    records/<id>.json          one signed record per input file (what --resume and merge read)
    grades.csv                 one row per student: total, maximum, written questions not graded
                               yet, points per exercise and per written question
    results.json               every input file with its status, and per exercise the points,
                               maximum, status and message (the records, sorted)
    timings.json               seconds per submission (the one output that changes between runs)
    summary.md, summary.json   pass rate and most common failure messages per exercise,
                               statuses, repairs, flags (possible tampering)
    feedback/<student>/<notebook>.html, autograded/<student>/<notebook>.ipynb
    submitted/<student>/<notebook>.ipynb       the repaired submission with the student's own outputs
    written.json, similarity.json              written-answer scores folded in from a scores sheet and
                                               copied work found by ``answers`` (when there are any)

Every file is written to a temporary name in the same folder and renamed into place, so an
interrupted batch never leaves a half-written file; outputs are sorted and contain no clock
time, so running the same batch again writes the same bytes.

Records are signed (HMAC-SHA256) with ``$AUTOGRADER_SECRET`` when it is set, else with a key
kept in ``.grading-key`` in the output folder. Student code never sees the environment variable
(it is removed from the kernels' and sandboxes' environment), so with it set, a record forged
by student code is detected and graded again; without it, a student who knows where the
output folder is could read the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from .markup import inline
from .record import LISTED_FLAGS, ExerciseResult, FlagKind, Status, all_passed, scored

SECRET_ENV = "AUTOGRADER_SECRET"
KEY_FILE = ".grading-key"
STATUSES = tuple(Status)


def atomic_write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dumps(obj) -> str:
    """JSON with a two-space indent and a final newline. Keys keep their order (exercises stay in
    notebook order); every dict here is built in a fixed order, so the bytes are reproducible."""
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------- records
def signing_key(out: Path) -> bytes:
    """``$AUTOGRADER_SECRET``, else the output folder's own key (created on first use)."""
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV].encode()
    path = Path(out) / KEY_FILE
    if not path.exists():
        atomic_write(path, secrets.token_hex(32), mode=0o600)
    return path.read_text().strip().encode()


def _signature(record: dict, key: bytes) -> str:
    body = json.dumps({k: v for k, v in record.items() if k != "signature"}, sort_keys=True).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def record_id(key: str) -> str:
    """The file name of an input's record: a readable slug plus a hash of the input key."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", key.split("/")[-1].split("!")[-1])[:40].strip("-.") or "input"
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def save_record(out: Path, record: dict, key: bytes) -> None:
    record = dict(record, signature=_signature(record, key))
    atomic_write(Path(out) / "records" / f"{record_id(record['key'])}.json", dumps(record))


def load_records(out: Path, key: bytes) -> tuple[dict[str, dict], list[str]]:
    """Valid records of an output folder by input key, and the files rejected (bad signature or JSON)."""
    records, rejected = {}, []
    for path in sorted((Path(out) / "records").glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            ok = isinstance(record, dict) and hmac.compare_digest(str(record.get("signature", "")),
                                                                 _signature(record, key))
        except (OSError, ValueError):
            ok = False
        if ok and path.stem == record_id(record["key"]):
            records[record["key"]] = record
        else:
            rejected.append(path.name)
    return records, rejected


# ---------------------------------------------------------------------------- outputs
def grades_csv(records: list[dict], written: dict | None = None) -> str:
    """One row per student; columns ``assignment/test`` for every autograded test cell seen and
    ``assignment/question`` for every written question.

    ``written`` holds the written scores folded in (:mod:`.written`); a written question without
    points is blank ("not graded yet", counted in ``not_graded``), never 0. Totals are the
    autograded points plus the written points given so far; ``max`` counts every question.
    """
    from .sheets import write_rows
    from .written import for_record, totals

    columns: dict[str, list[str]] = {}
    for r in scored(records):
        columns.setdefault(r["assignment"], [])
        for name in list(r["exercises"]) + list(r.get("manual", {})):
            if name not in columns[r["assignment"]]:
                columns[r["assignment"]].append(name)
    header = ["student", "total", "max", "not_graded"]
    for assignment in sorted(columns):
        header += [f"{assignment}/{t}" for t in columns[assignment]] + [f"{assignment}/total", f"{assignment}/flags"]
    rows: dict[str, dict] = defaultdict(dict)
    for r in sorted(scored(records), key=lambda r: (r["student"], r["assignment"], r["key"])):
        entries = for_record(written or {}, r)
        points, maximum, pending = totals(entries)
        row = rows[r["student"]]
        row["student"] = r["student"]
        row["total"] = row.get("total", 0.0) + r["total"] + points
        row["max"] = row.get("max", 0.0) + r["max"] + maximum
        row["not_graded"] = row.get("not_graded", 0) + pending
        for test, ex in r["exercises"].items():
            row[f"{r['assignment']}/{test}"] = ex["points"]
        for question, entry in entries.items():
            row[f"{r['assignment']}/{question}"] = entry["points"]
        row[f"{r['assignment']}/total"] = r["total"] + points
        row[f"{r['assignment']}/flags"] = len([f for f in r["flags"] if f["kind"] == FlagKind.TAMPERING])
    return write_rows(header, [rows[student] for student in sorted(rows)])


def _pattern(message: str) -> str:
    """A failure message with its numbers and tuples blanked, so that the same mistake groups together."""
    message = re.sub(r"\(\d+(, \d+)*\)", "(...)", message)
    return re.sub(r"\d+(\.\d+)?", "#", message)


def summary(records: list[dict], top: int = 5) -> dict:
    """The class summary: statuses, per-exercise pass rates and common failures, repairs, flags."""
    graded = scored(records)
    per_exercise: dict[str, dict] = {}
    for r in graded:
        for test, ex in r["exercises"].items():
            entry = per_exercise.setdefault(f"{r['assignment']}/{test}", {"graded": 0, "passed": 0, "failures": Counter(),
                                                                        "examples": {}})
            entry["graded"] += 1
            if ExerciseResult.from_json(ex).full_marks:
                entry["passed"] += 1
            else:
                key = _pattern(ex["message"])
                entry["failures"][key] += 1
                entry["examples"].setdefault(key, ex["message"])
    exercises = {}
    for name in sorted(per_exercise):
        e = per_exercise[name]
        exercises[name] = {
            "graded": e["graded"], "passed": e["passed"], "pass_rate": round(e["passed"] / e["graded"], 3),
            "common_failures": [{"count": c, "message": e["examples"][k]}
                                for k, c in sorted(e["failures"].items(), key=lambda kv: (-kv[1], kv[0]))[:top]]}
    return {
        "inputs": len(records),
        "statuses": dict(sorted(Counter(r["status"] for r in records).items())),
        "exercises": exercises,
        "repairs": dict(sorted(Counter(rep["kind"] for r in graded for rep in r.get("repairs", [])).items())),
        "flags": [{"student": r["student"], "assignment": r["assignment"], "file": r["key"], **f}
                  for r in sorted(graded, key=lambda r: (r["student"], r["key"])) for f in r["flags"]
                  if f["kind"] in LISTED_FLAGS],
        "not_graded": [{"file": r["key"], "status": r["status"], "reason": r.get("reason", "")}
                       for r in records if not Status(r["status"]).scored],
    }


def summary_markdown(data: dict) -> str:
    """``summary.md``: the class summary for people. Every string that a student could have written
    (messages, file names, reasons) enters it through :func:`.markup.inline`; student ids are
    slugs (:func:`.inputs.slug`), the rest is the grader's."""
    isolation = data.get("isolation") or "not recorded"
    resources = data.get("resources") or "not recorded"
    lines = ["# Class summary", "", f"{data['inputs']} input file(s): "
             + ", ".join(f"{n} {s}" for s, n in data["statuses"].items()), "",
             f"Isolation of student code: {'; '.join(isolation) if isinstance(isolation, list) else isolation}", "",
             f"Resources of each sandbox: {'; '.join(resources) if isinstance(resources, list) else resources}", "",
             "## Exercises (pass rate and the most common failures: a map of misconceptions)", ""]
    for name, e in data["exercises"].items():
        lines.append(f"### {name}: {e['passed']}/{e['graded']} passed ({100 * e['pass_rate']:.0f}%)")
        lines += [f"- {f['count']} x {inline(f['message'])}" for f in e["common_failures"]]
        lines.append("")
    if data["repairs"]:
        lines += ["## Repairs", ""] + [f"- {kind}: {n}" for kind, n in data["repairs"].items()] + [""]
    if data["flags"]:
        lines += ["## Flags", ""] + [f"- {f['student']} ({inline(f['file'])}): {inline(f['message'])}"
                                     for f in data["flags"]] + [""]
    if data["not_graded"]:
        lines += ["## Not graded", ""] + [f"- {inline(n['file'])}: {n['status']}: {inline(n['reason'])}"
                                          for n in data["not_graded"]]
        lines.append("")
    if data.get("copied_work"):
        from .similarity import summary_lines

        lines += summary_lines(data["copied_work"])
    return "\n".join(lines)


def write_outputs(out: Path, records: list[dict], meta: dict) -> None:
    """Write ``grades.csv``, ``results.json``, ``summary.md`` and ``summary.json`` from ``records``."""
    out = Path(out)
    records = sorted(records, key=lambda r: r["key"])
    public = [{k: v for k, v in r.items() if k not in ("signature", "timing")} for r in records]
    atomic_write(out / "results.json", dumps({"meta": meta, "submissions": public}))
    _write_grades_and_summary(out, records, meta)
    atomic_write(out / "timings.json", dumps({r["key"]: r["timing"] for r in records if "timing" in r}))


def _write_grades_and_summary(out: Path, records: list[dict], meta: dict) -> None:
    from .similarity import load as load_copied_work
    from .written import load as load_written

    atomic_write(out / "grades.csv", grades_csv(records, load_written(out)))
    data = {**summary(records), "isolation": meta.get("isolation"), "resources": meta.get("resources")}
    copied = load_copied_work(out)
    if copied:
        data["copied_work"] = copied
    atomic_write(out / "summary.json", dumps(data))
    atomic_write(out / "summary.md", summary_markdown(data))


def rewrite_outputs(out: Path) -> None:
    """Rewrite ``grades.csv`` and the class summary of an output folder from its ``results.json``,
    with the written scores and copied-work flags added since (records and signatures untouched)."""
    out = Path(out)
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    _write_grades_and_summary(out, data["submissions"], data.get("meta", {}))


def console_report(records: list[dict], out: Path, strict: bool, quiet: bool) -> int:
    """Print what a ``grade`` or ``merge`` run did; the exit code (``strict``: 1 unless every file was
    graded and every exercise passed)."""
    graded = scored(records)
    tampering = sum(1 for r in graded for f in r["flags"] if f["kind"] == FlagKind.TAMPERING)
    if not quiet:
        statuses = Counter(r["status"] for r in records)
        print(f"{len(records)} file(s): " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))
        for r in sorted(graded, key=lambda r: (r["student"], r["assignment"])):
            print(f"  {r['student']:24s} {r['assignment']:20s} {r['total']:g}/{r['max']:g}")
        if tampering:
            print(f"{tampering} exercise(s) flagged as possible tampering: see {Path(out) / 'summary.md'}")
        print(f"outputs in {out}: grades.csv, results.json, summary.md, feedback/")
    return 0 if not strict or all_passed(records) else 1
