"""The words and shapes of a grading outcome, defined once: what every grading module writes and reads.

One input file's grading is a :class:`Record`; its JSON form is what ``records/<id>.json`` (signed)
and the ``submissions`` of ``results.json`` hold, and its keys keep the order they always had, so
old files read back and a re-run writes the same bytes. Inside it:

* :class:`Status`, the file's fate: graded (possibly after a repair), unreadable, not recognised,
  or an error of the grader's own machinery (never a graded 0);
* per autograded test cell an :class:`ExerciseResult`: the points, the re-check's
  :class:`Verdict`, its message, and what the in-kernel pass said (:class:`InKernel`);
* :class:`Flag` s, each of a :class:`FlagKind`, for the instructor to look at.

The enumerations are ``str`` enumerations: a member *is* its JSON word (``Status.GRADED ==
"graded"``), so a record read from JSON compares with them without conversion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """What became of one input file."""

    GRADED = "graded"
    REPAIRED = "repaired"          # graded after :mod:`.repair` fixed the file
    UNREADABLE = "unreadable"      # not a file, or not a notebook
    UNRECOGNISED = "unrecognised"  # a notebook of no assignment of the course
    ERROR = "error"                # the grader's own machinery failed: graded again on --resume

    @property
    def scored(self) -> bool:
        """Whether the record carries points (graded, with or without a repair)."""
        return self in (Status.GRADED, Status.REPAIRED)


class Verdict(StrEnum):
    """The re-check's outcome for one test cell (the one that gives the points)."""

    PASS = "pass"
    FAIL = "fail"
    TIMEOUT = "timeout"
    CRASH = "crash"
    UNCHECKED = "unchecked"  # a notebook the checks do not know: nbgrader's in-kernel points stand


class InKernel(StrEnum):
    """What nbgrader's in-kernel pass said about one test cell (compared with the re-check)."""

    PASS = "pass"
    FAIL = "fail"
    TIMEOUT = "timeout"          # the cell or the notebook ran out of time, or the kernel died
    NOT_RUN = "not run"          # an earlier time-out stopped the notebook before this cell
    UNAVAILABLE = "unavailable"  # no in-kernel pass (nbgrader failed, or the worker was replaced)


class Replay(StrEnum):
    """The notebook's own test replayed by the re-check, where the in-kernel pass passed it."""

    PASS = "pass"
    FAIL = "fail"        # the judge rejects the outputs: evidence of tampering
    RAISED = "raised"    # the code raised, or sent outputs that are not what the exercise returns: evidence
    ERROR = "error"      # it hung, crashed, or used a name the exercise cells do not define: no evidence
    NOT_RUN = "not run"

    @property
    def evidence(self) -> bool:
        """Whether this replay is evidence of tampering (the same cells failing the same test)."""
        return self in (Replay.FAIL, Replay.RAISED)


class FlagKind(StrEnum):
    """Why the instructor should look at a submission."""

    TAMPERING = "tampering"          # evidence that the notebook's own test was subverted
    DIFFERENCE = "difference"        # the in-notebook test passed, the stricter re-check did not
    DISAGREEMENT = "disagreement"    # the in-notebook test failed, the re-check passed: points given
    NOT_RECHECKED = "not_rechecked"  # points from the in-notebook test only
    IN_KERNEL = "in_kernel"          # the in-kernel pass could not run
    DUPLICATE = "duplicate"          # one student handed in several files of one assignment


#: The flags that ``summary.md`` lists by student (the others are in each record and the feedback).
LISTED_FLAGS = (FlagKind.TAMPERING, FlagKind.DUPLICATE)


@dataclass(frozen=True)
class Flag:
    """One flag of a record.

    Attributes:
        kind: why it is raised.
        message: for the instructor; student text in it is escaped where it is rendered.
        exercise: the test cell it concerns, or ``None`` for the whole file.
    """

    kind: FlagKind
    message: str
    exercise: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "exercise": self.exercise, "message": self.message}

    @classmethod
    def from_json(cls, data: dict) -> Flag:
        return cls(FlagKind(data["kind"]), data["message"], data.get("exercise"))


@dataclass(frozen=True)
class ExerciseResult:
    """One autograded test cell of a record.

    Attributes:
        points: given (the cell's maximum if the re-check passed, else 0; nbgrader's for ``unchecked``).
        max: the cell's points in the release.
        status: the re-check's verdict.
        message: the verdict's message, naming the likely mistake.
        in_kernel: what the in-kernel pass said.
    """

    points: float
    max: float
    status: Verdict
    message: str
    in_kernel: InKernel = InKernel.UNAVAILABLE

    @property
    def full_marks(self) -> bool:
        """Passed, or (unchecked) given every point by the in-notebook test."""
        return self.status == Verdict.PASS or (self.status == Verdict.UNCHECKED and self.points >= self.max)

    def to_json(self) -> dict[str, Any]:
        return {"points": self.points, "max": self.max, "status": str(self.status), "message": self.message,
                "in_kernel": str(self.in_kernel)}

    @classmethod
    def from_json(cls, data: dict) -> ExerciseResult:
        return cls(float(data["points"]), float(data["max"]), Verdict(data["status"]), data["message"],
                   InKernel(data.get("in_kernel", InKernel.UNAVAILABLE)))


#: The keys every record has, in their JSON order; the others (``sha256``, ``recognition``,
#: ``student_source``, ``fingerprint``, ``probe_seed``, ``repairs``, ``colab_cells_cleaned``,
#: ``in_kernel``, ``timing``, ``feedback``, ``signature``) are added as grading proceeds.
CORE_KEYS = ("key", "status", "reason", "student", "assignment", "exercises", "manual", "total", "max", "flags",
             "repairs")


@dataclass
class Record:
    """One input file's grading, and its JSON form.

    Attributes:
        key: the input's name (``path`` or ``archive.zip!member``).
        status: what became of it.
        reason: why it was not graded (empty when graded).
        student, assignment: who and which notebook (empty until recognised).
        exercises: per autograded test cell, in notebook order.
        manual: per written question ``{"max": points}`` (scored by :mod:`.written`).
        total, max: the autograded points and their maximum.
        flags: for the instructor.
        extra: every other key of the JSON form, in order (hashes, repairs, timings, signature).
    """

    key: str
    status: Status = Status.GRADED
    reason: str = ""
    student: str = ""
    assignment: str = ""
    exercises: dict[str, ExerciseResult] = field(default_factory=dict)
    manual: dict[str, dict] = field(default_factory=dict)
    total: float = 0.0
    max: float = 0.0
    flags: list[Flag] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = {"key": self.key, "status": str(self.status), "reason": self.reason, "student": self.student,
               "assignment": self.assignment, "exercises": {t: e.to_json() for t, e in self.exercises.items()},
               "manual": dict(self.manual), "total": self.total, "max": self.max,
               "flags": [f.to_json() for f in self.flags], "repairs": self.extra.get("repairs", [])}
        out.update((k, v) for k, v in self.extra.items() if k != "repairs")
        return out

    @classmethod
    def from_json(cls, data: dict) -> Record:
        """A record from its JSON form (a current or an older ``results.json`` entry)."""
        extra = {k: v for k, v in data.items() if k not in CORE_KEYS or k == "repairs"}
        extra.setdefault("repairs", [])
        return cls(key=data["key"], status=Status(data["status"]), reason=data.get("reason", ""),
                   student=data.get("student", ""), assignment=data.get("assignment", ""),
                   exercises={t: ExerciseResult.from_json(e) for t, e in data.get("exercises", {}).items()},
                   manual=dict(data.get("manual", {})), total=float(data.get("total", 0.0)),
                   max=float(data.get("max", 0.0)), flags=[Flag.from_json(f) for f in data.get("flags", [])],
                   extra=extra)


def scored(records: list[dict]) -> list[dict]:
    """The records (JSON form) that carry points: graded, with or without a repair."""
    return [r for r in records if Status(r["status"]).scored]


def all_passed(records: list[dict]) -> bool:
    """Whether every file was graded and every exercise of every file passed the re-check."""
    return bool(records) and len(scored(records)) == len(records) and all(
        e["status"] == Verdict.PASS for r in records for e in r["exercises"].values())
