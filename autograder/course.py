"""The course's layout and its one config file (``course.toml``)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source"
RELEASE = ROOT / "release"
SOLUTIONS = ROOT / "solutions"
HELPER = ROOT / "shared"


@dataclass(frozen=True)
class Course:
    """What ``course.toml`` says: the public repository that students open notebooks from."""

    repo: str
    branch: str

    @property
    def helper_requirement(self) -> str:
        """The pip requirement that installs the helper package on Colab."""
        return f"selfsup @ git+https://github.com/{self.repo}@{self.branch}#subdirectory=shared"

    def colab_url(self, notebook_path: str) -> str:
        """Colab's URL for a notebook of the public repository (path relative to its root)."""
        return f"https://colab.research.google.com/github/{self.repo}/blob/{self.branch}/{notebook_path}"


def load_course(path: Path = ROOT / "course.toml") -> Course:
    """Read ``course.toml``; raise ValueError naming the missing key."""
    with open(path, "rb") as f:
        config = tomllib.load(f)
    public = config.get("public", {})
    for key in ("repo", "branch"):
        if not isinstance(public.get(key), str) or not public[key]:
            raise ValueError(f"{path}: [public] {key} must be a non-empty string")
    if public["repo"].count("/") != 1:
        raise ValueError(f"{path}: [public] repo must be 'owner/name', got {public['repo']!r}")
    return Course(repo=public["repo"], branch=public["branch"])


def assignments() -> list[str]:
    """The notebooks of the course: the stems of ``source/*.py``, in order."""
    return sorted(p.stem for p in SOURCE.glob("[0-9][0-9]_*.py"))
