"""Inputs of a grading batch: files, folders and zips; student ids; notebooks recognised by content."""

from __future__ import annotations

import io
import zipfile

import nbformat
import pytest

import grading_corpus as corpus
from autograder.grading import inputs


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_discover_files_folders_zips_and_nested_zips(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.ipynb").write_text("{}")
    (tmp_path / "a" / ".hidden.ipynb").write_text("{}")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    inner = _zip({"deep/z.ipynb": b"{}"})
    (tmp_path / "lms.zip").write_bytes(_zip({"alice/y.ipynb": b"{}", "__MACOSX/._y.ipynb": b"", "more.zip": inner}))
    found = {f.key: f for f in inputs.discover([tmp_path])}
    root = tmp_path.as_posix()
    assert sorted(found) == sorted([f"{root}/a/x.ipynb", f"{root}/notes.pdf", f"{root}/lms.zip!alice/y.ipynb",
                                    f"{root}/lms.zip!more.zip!deep/z.ipynb"])
    member = found[f"{root}/lms.zip!alice/y.ipynb"]
    assert member.folders == ("alice",) and member.read_bytes() == b"{}"
    assert found[f"{root}/lms.zip!more.zip!deep/z.ipynb"].read_bytes() == b"{}"
    assert found[f"{root}/a/x.ipynb"].folders == ("a",)


def test_discover_a_missing_path_fails_loudly(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        inputs.discover([tmp_path / "nope"])


@pytest.mark.parametrize("name, folders, sid, source", [
    ("smith_1234_5678_02_simclr.ipynb", (), "smith_1234", "pattern"),
    ("Smith_LATE_1234_5678_02_simclr.ipynb", (), "smith_1234", "pattern"),
    ("Copy of 02_simclr.ipynb", ("Jane Doe_4711_assignsubmission_file_",), "jane-doe_4711_assignsubmission_file",
     "folder"),
    ("jdoe - 02_simclr (1).ipynb", (), "jdoe", "file name"),
    ("Copy of 02_simclr (1).ipynb", (), None, "content hash"),
])
def test_student_id_pattern_then_folder_then_name_then_hash(name, folders, sid, source):
    item = inputs.InputFile(key=name, name=name, folders=folders, path=None)
    got, how = inputs.student_id(item, b"content", "02_simclr")
    assert how == source
    assert got == (sid or "anon-" + __import__("hashlib").sha256(b"content").hexdigest()[:8])


def test_student_id_custom_pattern_and_forced_id():
    item = inputs.InputFile(key="k", name="hw-s123456.ipynb", folders=(), path=None)
    assert inputs.student_id(item, b"", None, pattern=r"hw-(?P<id>s\d+)") == ("s123456", "pattern")
    assert inputs.student_id(item, b"", None, forced="Repo Owner") == ("repo-owner", "--student")


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b"%PDF-1.4", "not JSON"),
    (b'{"a": 1}', "without a list of cells"),
    (b'{"cells": [], "nbformat": 3}', "unsupported notebook format"),
    (b'{"cells": [{"cell_type": "code"}], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "not a notebook"),
])
def test_unreadable_files_say_why(content, reason):
    with pytest.raises(inputs.NotANotebook, match=reason):
        inputs.read_notebook(content, "x.ipynb")


def test_recognised_by_content_even_without_metadata_or_name():
    release = corpus.release()
    recognizer = inputs.Recognizer({corpus.NAME: release, "other": nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Something else entirely")])})
    stripped = corpus.correct()
    for cell in stripped.cells:
        cell.metadata = {}
    assert recognizer.recognise(stripped)[0] == corpus.NAME
    unrelated = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hello')")])
    assert recognizer.recognise(unrelated)[0] is None


def _ids(tmp_path) -> dict[str, str]:
    found = inputs.discover([tmp_path])
    return {f.key.removeprefix(tmp_path.as_posix() + "/"): inputs.student_id(f, b"x", "01_pretext_tasks")[0]
            for f in found}


def test_a_name_inside_a_students_own_zip_never_takes_another_students_id(tmp_path):
    """A student hands in a zip of their own whose member is named like another student's LMS file:
    the id comes from the names the LMS gave (the student's zip, or its per-student folder)."""
    forged = {"jones_999_111_01_pretext_tasks.ipynb": b"{}", "jones/01_pretext_tasks.ipynb": b"{}"}
    upload = _zip(forged)
    # a Canvas download: every file LMS-named, one of them the student's own zip
    (tmp_path / "canvas.zip").write_bytes(_zip({"jones_999_111_01_pretext_tasks.ipynb": b"{}",
                                                "smith_1234_5678_upload.zip": upload}))
    # the same files unpacked into a folder
    (tmp_path / "unpacked").mkdir()
    (tmp_path / "unpacked" / "smith_1234_5678_upload.zip").write_bytes(upload)
    # a Moodle download: one folder per student, a zip uploaded into one of them
    (tmp_path / "moodle.zip").write_bytes(_zip({"Ann Lee_42_assignsubmission_file_/upload.zip": upload}))
    (tmp_path / "per-student" / "lee").mkdir(parents=True)
    (tmp_path / "per-student" / "lee" / "upload.zip").write_bytes(upload)
    ids = _ids(tmp_path)
    assert ids.pop("canvas.zip!jones_999_111_01_pretext_tasks.ipynb") == "jones_999"  # the real one
    for member in forged:
        assert ids.pop(f"canvas.zip!smith_1234_5678_upload.zip!{member}") == "smith_1234"
        assert ids.pop(f"unpacked/smith_1234_5678_upload.zip!{member}") == "smith_1234"
        assert ids.pop(f"moodle.zip!Ann Lee_42_assignsubmission_file_/upload.zip!{member}") == \
            "ann-lee_42_assignsubmission_file"
        assert ids.pop(f"per-student/lee/upload.zip!{member}") == "lee"
    assert not ids
