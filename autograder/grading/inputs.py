"""What was submitted: files, folders and LMS zip downloads, each with a student id and an assignment.

* Every regular file under the given paths is an input, zip members included (nested zips one
  level deep). Hidden files and folders (a name starting with ``.``) and ``__MACOSX/`` are
  skipped; everything else appears in the outputs with a status, even a PDF.
* The **student id** comes from the names the LMS gave, never from a name inside a student's
  own upload (a zip a student handed in holds names the student chose, one of them perhaps
  another student's). A regular expression (``--student-pattern``) whose named groups, joined
  by ``_``, are the id is tried on the outermost name first: a zip that holds the file, then the
  file itself. The default reads LMS names such as ``smith_1234_5678_02_simclr.ipynb``
  (``smith_1234``; a ``late_`` marker is skipped). Fallback, in this order, on the file as the
  LMS delivered it (a file in the given folder, a member of an LMS download zip, or a student's
  zip as a whole): the innermost folder below the input path or inside the LMS's zip (a
  per-student folder); then the file name without Colab's and the LMS's decorations
  (``Copy of``, `` (1)``, the assignment's name); then ``anon-<first 8 hex of the file's
  sha256>``. ``--student`` sets the id outright (one student's repository).
* The **assignment** is recognised from the content (the release notebook's prose, locked
  cells and grade ids), never from the file name, which Colab and LMSs change.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat

#: ``smith_1234_5678_anything`` (Canvas-style) -> ``smith_1234``; ``smith_late_1234_5678_x`` too.
DEFAULT_STUDENT_PATTERN = r"^(?P<name>[a-z][a-z0-9-]*)_(?:late_)?(?P<number>\d+)_\d+_"
#: A member larger than this (uncompressed) is not read: zip bombs stay in the zip.
MAX_MEMBER_BYTES = 200 * 2**20
_DECORATIONS = [r"^copy of\s+", r"\s*\(\d+\)$", r"-checkpoint$", r"^copie de\s+", r"\s+copy$"]


@dataclass(frozen=True)
class InputFile:
    """One submitted file, possibly inside a zip.

    Attributes:
        key: unique and stable within a batch: the path as given, then ``!member`` per zip level.
        name: the file's own name.
        folders: folder names between the input path (or the zip's root) and the file.
        path: the file on disk (the outermost zip, for a zip member).
        members: the member names inside each zip, outermost first.
        containers: ``(name, folders)`` of each zip that holds the file, outermost first (the
            zip on disk, then a zip inside it).
    """

    key: str
    name: str
    folders: tuple[str, ...]
    path: Path
    members: tuple[str, ...] = ()
    containers: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def named_by_lms(self) -> list[tuple[str, tuple[str, ...]]]:
        """``(name, folders)`` of the names the LMS gave, outermost first, down to the file as the LMS
        delivered it: the file itself, a member of an LMS download (a zip given as an input, or
        lying directly in a given folder), or the student's own zip that holds it. Names inside a
        student's zip were chosen by the student and are not listed."""
        levels = [*self.containers, (self.name, self.folders)]
        lms_download = bool(self.containers) and not self.containers[0][1]  # its members are the LMS's
        return levels[:2] if lms_download else levels[:1]

    def read_bytes(self) -> bytes:
        """The file's content (zip members are read from their archive)."""
        if not self.members:
            return self.path.read_bytes()
        data = self.path.read_bytes()
        for member in self.members:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                info = archive.getinfo(member)
                if info.file_size > MAX_MEMBER_BYTES:
                    raise ValueError(f"zip member is {info.file_size:,} bytes uncompressed (limit {MAX_MEMBER_BYTES:,})")
                data = archive.read(member)
        return data


def _skipped(parts) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _zip_members(path: Path, key: str, data: bytes, outer: tuple[str, ...], depth: int,
                 containers: tuple[tuple[str, tuple[str, ...]], ...]) -> list[InputFile]:
    out = []
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        name, folders = containers[-1]
        return [InputFile(key, name, folders, path, outer, containers[:-1])]
    with archive:
        for info in archive.infolist():
            parts = PurePosixPath(info.filename).parts
            if info.is_dir() or not parts or _skipped(parts):
                continue
            member_key = f"{key}!{info.filename}"
            if info.filename.lower().endswith(".zip") and depth < 1 and info.file_size <= MAX_MEMBER_BYTES:
                out += _zip_members(path, member_key, archive.read(info), outer + (info.filename,), depth + 1,
                                    containers + ((parts[-1], tuple(parts[:-1])),))
            else:
                out.append(InputFile(member_key, parts[-1], tuple(parts[:-1]), path, outer + (info.filename,),
                                     containers))
    return out


def discover(paths: list[str | Path]) -> list[InputFile]:
    """Every input file under ``paths`` (files, folders, zips), sorted by key.

    Raises:
        FileNotFoundError: if a path does not exist.
    """
    found: dict[str, InputFile] = {}
    for given in paths:
        root = Path(given)
        if not root.exists():
            raise FileNotFoundError(f"no such file or folder: {given}")
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            rel = path.relative_to(root).parts if path != root else ()
            if _skipped(rel):
                continue
            key = PurePosixPath(str(given).replace("\\", "/"), *rel).as_posix() if rel else Path(given).as_posix()
            if path.suffix.lower() == ".zip":
                for item in _zip_members(path, key, path.read_bytes(), (), 0, ((path.name, tuple(rel[:-1])),)):
                    found[item.key] = item
            else:
                found[key] = InputFile(key, path.name, tuple(rel[:-1]), path)
    return [found[k] for k in sorted(found)]


def slug(text: str) -> str:
    """A safe student id: lower-case letters, digits, ``_`` and ``-``; at most 64 characters."""
    text = re.sub(r"[^a-z0-9_-]+", "-", text.strip().lower())
    return re.sub(r"-{2,}", "-", text).strip("-_")[:64]


def _undecorated_stem(name: str, assignment: str | None) -> str:
    stem = re.sub(r"\.ipynb$", "", name, flags=re.IGNORECASE).strip()
    for _ in range(3):
        for pattern in _DECORATIONS:
            stem = re.sub(pattern, "", stem, flags=re.IGNORECASE).strip()
    if assignment:
        stem = re.sub(re.escape(assignment), "", stem, flags=re.IGNORECASE)
    return slug(stem)


def student_id(item: InputFile, content: bytes, assignment: str | None, pattern: str = DEFAULT_STUDENT_PATTERN,
               forced: str | None = None) -> tuple[str, str]:
    """The student id of an input and where it came from (see the module docstring).

    Returns:
        ``(id, source)`` with source one of ``"--student"``, ``"pattern"``, ``"folder"``,
        ``"file name"``, ``"content hash"``.
    """
    if forced:
        return slug(forced), "--student"
    names = item.named_by_lms()
    for name, _ in names:
        match = re.search(pattern, name, flags=re.IGNORECASE)
        if match and any(match.groupdict().values()):
            sid = slug("_".join(v for v in match.groupdict().values() if v))
            if sid:
                return sid, "pattern"
    name, folders = names[-1]
    for folder in reversed(folders):
        sid = slug(folder)
        if sid:
            return sid, "folder"
    sid = _undecorated_stem(name, assignment)
    if sid and not re.fullmatch(r"[0-9_-]*", sid):
        return sid, "file name"
    return "anon-" + hashlib.sha256(content).hexdigest()[:8], "content hash"


class NotANotebook(ValueError):
    """The file is not a readable Jupyter notebook; the message says why."""


def read_notebook(content: bytes, name: str) -> nbformat.NotebookNode:
    """Parse a submission (any nbformat 4 minor version) or raise :class:`NotANotebook`."""
    if not content.strip():
        raise NotANotebook("empty file")
    try:
        raw = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        kind = Path(name).suffix or "no extension"
        raise NotANotebook(f"not a notebook: not JSON ({kind} file; {type(error).__name__})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise NotANotebook("not a notebook: JSON without a list of cells")
    if raw.get("nbformat") != 4:
        raise NotANotebook(f"unsupported notebook format {raw.get('nbformat')!r} (expected 4)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicate cell ids are repaired later
            nb = nbformat.reads(json.dumps(raw), as_version=4)
        for cell in nb.cells:
            if cell.get("cell_type") not in ("code", "markdown", "raw") or not isinstance(cell.get("source"), str):
                raise ValueError("a cell without a type or source")
    except Exception as error:  # noqa: BLE001 - nbformat raises many kinds
        raise NotANotebook(f"not a notebook: {error}") from None
    return nb


def normalized(source: str) -> str:
    """A cell's source with blank lines and surrounding whitespace dropped (for comparisons)."""
    return "\n".join(line.strip() for line in source.splitlines() if line.strip())


@dataclass
class Recognizer:
    """Tells which assignment a notebook is, from the release notebooks' content.

    A release is fingerprinted by its grade ids and by the normalised sources of the cells
    students do not write in (prose, setup, locked and test cells). A notebook scores the
    larger of the fraction of grade ids and the fraction of those cells it contains.
    """

    releases: dict[str, nbformat.NotebookNode]
    min_score: float = 0.25
    _prints: dict[str, tuple[set, set]] = field(default_factory=dict, init=False)

    def __post_init__(self):
        for name, nb in self.releases.items():
            ids, texts = set(), set()
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                if meta.get("grade_id"):
                    ids.add(meta["grade_id"])
                if not meta.get("solution") and normalized(cell.source):
                    texts.add(normalized(cell.source))
            self._prints[name] = (ids, texts)

    def scores(self, nb: nbformat.NotebookNode) -> dict[str, float]:
        """Similarity of ``nb`` to each release, in [0, 1]."""
        ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells} - {None}
        texts = {normalized(c.source) for c in nb.cells}
        out = {}
        for name, (rel_ids, rel_texts) in self._prints.items():
            by_id = len(ids & rel_ids) / len(rel_ids) if rel_ids else 0.0
            by_text = len(texts & rel_texts) / len(rel_texts) if rel_texts else 0.0
            out[name] = round(max(by_id, by_text), 3)
        return out

    def recognise(self, nb: nbformat.NotebookNode) -> tuple[str | None, dict[str, float]]:
        """The best-matching assignment (None if nothing matches well enough) and all scores."""
        scores = self.scores(nb)
        if not scores:
            return None, scores
        best = max(scores, key=scores.get)
        return (best if scores[best] >= self.min_score else None), scores
