"""The CI workflows: a sharded folder-grading workflow, whose commands use options the grade command really
has, and a reusable per-repository feedback workflow that needs no secret."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from autograder import cli

WORKFLOWS = "{root}/.github/workflows/{name}.yml"


def _load(root, name):
    data = yaml.safe_load(open(WORKFLOWS.format(root=root, name=name)))
    return data, data.get("on", data.get(True))  # YAML 1.1 reads the key `on` as True


def _options(parser_name: str) -> set[str]:
    sub = cli.parser()._subparsers._group_actions[0].choices[parser_name]
    return {opt for action in sub._actions for opt in action.option_strings}


def _commands(data, subcommand):
    """Every `-m autograder <subcommand> ...` invocation in the workflow's run steps, as option lists."""
    found = []
    for job in data["jobs"].values():
        for step in job.get("steps", []):
            script = step.get("run", "").replace("\\\n", " ")
            for match in re.finditer(rf"-m autograder {subcommand} ([^\n]*)", script):
                found.append([t for t in shlex.split(match.group(1)) if t.startswith("--")])
    return found


def test_folder_mode_shards_merges_and_uploads(root):
    data, on = _load(root, "grade")
    assert "workflow_dispatch" in on
    grade = data["jobs"]["grade"]
    assert "fromJSON(needs.plan.outputs.shards)" in str(grade["strategy"]["matrix"]["shard"])
    assert grade["strategy"]["fail-fast"] is False
    assert data["jobs"]["merge"]["needs"] == "grade"
    uploads = [s for j in data["jobs"].values() for s in j.get("steps", []) if "upload-artifact" in s.get("uses", "")]
    assert {u["with"]["name"] for u in uploads} >= {"grades"}
    (command,) = _commands(data, "grade")
    assert {"--shard", "--probe-seed", "--out"} <= set(command)
    assert "${{ inputs." not in str([s.get("run", "") for s in grade["steps"]])  # inputs go through env (no injection)
    assert "--probe-seed ${{ needs.plan.outputs.probe_seed }}" in str([s.get("run", "") for s in grade["steps"]])
    assert _commands(data, "merge") == [["--out"]]


def test_per_repository_mode_needs_no_secret_and_runs_only_the_students_tree(root):
    """Per-repository feedback runs in the student's repository: no secret, no token, nothing checked out
    but the student's own repository, and the public checks of the helper package that tree holds
    (not the grader, which holds the references, the solutions and the hidden checks)."""
    data, on = _load(root, "classroom")
    assert "workflow_call" in on and "secrets" not in (on["workflow_call"] or {})
    text = open(WORKFLOWS.format(root=root, name="classroom")).read()
    code = "\n".join(line.split("#")[0] for line in text.splitlines())  # the comments may explain the rule
    for reference in ("secrets.", "secrets:", "GRADER_TOKEN", "token:", "github.token", "repository:",
                      "-m autograder", "grader"):
        assert reference not in code, reference
    steps = data["jobs"]["feedback"]["steps"]
    checkouts = [s for s in steps if "actions/checkout" in s.get("uses", "")]
    assert len(checkouts) == 1 and checkouts[0]["with"] == {"persist-credentials": False}
    assert any("-m selfsup.feedback" in s.get("run", "") and "GITHUB_STEP_SUMMARY" in s.get("run", "")
               for s in steps)
    assert data["permissions"] == {"contents": "read"}


@pytest.mark.parametrize("name, subcommand", [("grade", "grade"), ("grade", "merge")])
def test_workflow_options_exist(root, name, subcommand):
    data, _ = _load(root, name)
    known = _options(subcommand)
    for command in _commands(data, subcommand):
        assert set(command) <= known, set(command) - known


@pytest.mark.parametrize("name", ["grade"])
def test_grading_jobs_can_isolate_student_code(root, name):
    """The job that runs `autograder grade` is root in a privileged container (bubblewrap needs
    namespaces, and user nobody needs root to switch to) and installs bubblewrap through `make setup`."""
    data, _ = _load(root, name)
    job = data["jobs"]["grade"]
    container = job.get("container", {})
    assert "--privileged" in container.get("options", "") and container.get("image", "").startswith("python:3.11")
    assert "user" not in container.get("options", ""), "the container must run as root"
    assert any("setup" in step.get("run", "") and "make" in step.get("run", "") for step in job["steps"])
    assert "--no-isolation" not in str(job["steps"])


@pytest.mark.parametrize("name", ["grade", "classroom"])
def test_the_probe_seed_is_in_no_environment(root, name):
    """The probe seed reaches the grader on its command line only: no workflow, job or step puts it
    into an environment, where a process that inherits it could read it."""
    data, _ = _load(root, name)
    scopes = [data, *data["jobs"].values(), *(s for j in data["jobs"].values() for s in j.get("steps", []))]
    for scope in scopes:
        env = scope.get("env") or {}
        assert not [k for k, v in env.items() if "seed" in k.lower() or "probe_seed" in str(v)], env
