"""Copied work, flagged for the instructor: near-identical written answers and exercise code.

Nothing here changes a point. It lists pairs (and the groups they form) whose work is so alike
that a person should look; the instructor decides.

How work is compared (the idea of MOSS's fingerprints: Schleimer, Wilkerson and Aiken,
*Winnowing: local algorithms for document fingerprinting*, SIGMOD 2003, simplified to keep
every k-gram):

* **Written answers** are reduced to lower-case words (Markdown and punctuation dropped); a
  fingerprint is a run of :data:`TEXT_K` consecutive words.
* **Exercise code** is parsed (Python's ``ast``) and reduced to its structure: comments,
  docstrings, layout and formatting vanish with the parse; every name the student binds
  (variables, arguments, helper functions, attributes they assign) becomes one placeholder,
  so renaming changes nothing; strings become one placeholder; names the student only uses
  (``torch.rot90``, ``range``, the class and methods the notebook asks for) and numbers stay.
  A fingerprint is a run of :data:`CODE_K` consecutive tokens of that structure.
* **What every student shares is left out**: the fingerprints of the code the release notebook
  gives (the exercise's stub) and of the reference solution (the expected solution, which
  independent correct students reproduce: a one-line answer leaves nothing else to compare),
  of the question's own wording and the answer template, and any fingerprint held by at least
  :func:`common_count` students of the class (a common idiom, not a copy).
* Two students' remaining fingerprint sets are compared by their Jaccard similarity
  ``|A & B| / |A | B|``; a pair is flagged when it reaches the threshold and shares at least
  :data:`MIN_SHARED` fingerprints (so that two tiny answers are never "identical"). Candidate
  pairs come from an index of fingerprints, so a class of 300 costs far less than 300^2
  comparisons of whole answers.
"""

from __future__ import annotations

import ast
import builtins
import json
import math
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

TEXT_K = 4                #: words per fingerprint of a written answer
CODE_K = 10               #: structure tokens per fingerprint of exercise code
TEXT_THRESHOLD = 0.5      #: Jaccard similarity from which two answers are flagged
CODE_THRESHOLD = 0.7      #: Jaccard similarity from which two exercise cells are flagged
MIN_SHARED = 8            #: fingerprints two flagged works must share at least
COMMON_SHARE = 0.1        #: a fingerprint held by this share of the class (and at least 5) is common
SIMILARITY_FILE = "similarity.json"
_BUILTINS = frozenset(dir(builtins))


def common_count(students: int) -> int:
    """How many students must hold a fingerprint for it to count as common (left out)."""
    return max(5, math.ceil(COMMON_SHARE * students))


# ---------------------------------------------------------------------------- fingerprints
def words(text: str) -> list[str]:
    """Lower-case words and numbers of ``text`` (Markdown, LaTeX commands and punctuation dropped)."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return re.findall(r"[^\W_]+(?:[.'][^\W_]+)*", text)


def shingles(tokens: list[str], k: int) -> set[tuple[str, ...]]:
    """Every run of ``k`` consecutive tokens (the whole list if it is shorter but not empty)."""
    if 0 < len(tokens) < k:
        return {tuple(tokens)}
    return {tuple(tokens[i:i + k]) for i in range(len(tokens) - k + 1)}


def text_fingerprints(text: str) -> set[tuple[str, ...]]:
    return shingles(words(text), TEXT_K)


class _Structure(ast.NodeVisitor):
    """The token stream of a module: node types, operators, literal names and numbers."""

    def __init__(self, bound: set[str], attributes: set[str], keep: frozenset[str]):
        self.bound, self.attributes, self.keep = bound, attributes, keep
        self.tokens: list[str] = []

    def _name(self, name: str) -> str:
        return name if name in self.keep or name not in self.bound else "V"

    def generic_visit(self, node):
        if isinstance(node, (ast.Load, ast.Store, ast.Del)):
            return
        self.tokens.append(type(node).__name__)
        super().generic_visit(node)

    def visit_Name(self, node):
        self.tokens.append(self._name(node.id))

    def visit_arg(self, node):
        self.tokens.append("arg:" + self._name(node.arg))

    def visit_Attribute(self, node):
        self.visit(node.value)
        keep = node.attr in self.keep or node.attr not in self.attributes
        self.tokens.append("." + (node.attr if keep else "A"))

    def visit_Constant(self, node):
        self.tokens.append("S" if isinstance(node.value, (str, bytes)) else repr(node.value))

    def _definition(self, node):
        self.tokens.append(type(node).__name__ + ":" + self._name(node.name))
        for field in ("decorator_list", "args", "bases", "keywords", "returns", "body"):
            value = getattr(node, field, None)
            if isinstance(value, list):
                for item in value:
                    self.visit(item)
            elif isinstance(value, ast.AST):
                self.visit(value)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _definition

    def visit_keyword(self, node):
        self.tokens.append(f"kw:{node.arg}")
        self.visit(node.value)

    def visit_alias(self, node):
        self.tokens.append("alias:" + node.name)


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            node.body = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                                 and isinstance(s.value.value, str))] or [ast.Pass()]


def _bound_names(tree: ast.AST) -> tuple[set[str], set[str]]:
    """Names the code binds, and attribute names it assigns (``obj.attr = ...``)."""
    names, attributes = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            attributes.add(node.attr)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
    return names - _BUILTINS, attributes


def given_names(source: str) -> frozenset[str]:
    """The classes, functions and attributes the release notebook's stub defines: the interface
    every student keeps, so it stays literal (arguments and variables do not)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return frozenset()
    _, attributes = _bound_names(tree)
    defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return frozenset(defined | attributes)


def code_tokens(source: str, keep: frozenset[str] = frozenset()) -> list[str] | None:
    """The structure of ``source`` as tokens (see the module's docstring); None if it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    _strip_docstrings(tree)
    names, attributes = _bound_names(tree)
    visitor = _Structure(names, attributes, keep)
    for statement in tree.body:
        visitor.visit(statement)
    return visitor.tokens


def code_fingerprints(source: str, keep: frozenset[str] = frozenset()) -> set[tuple[str, ...]] | None:
    tokens = code_tokens(source, keep)
    return None if tokens is None else shingles(tokens, CODE_K)


# ---------------------------------------------------------------------------- pairs
@dataclass(frozen=True)
class Pair:
    """Two students whose work on one item is alike.

    Attributes:
        a, b: the two student ids (``a < b``).
        similarity: Jaccard similarity of their fingerprints, after leaving out shared material.
        shared: fingerprints they share.
    """

    a: str
    b: str
    similarity: float
    shared: int


def similar_pairs(fingerprints: dict[str, set], base: set, threshold: float,
                  min_shared: int = MIN_SHARED) -> list[Pair]:
    """Pairs of students whose fingerprints (less ``base`` and the class's common ones) are alike.

    Args:
        fingerprints: per student, the fingerprints of their work on one item (None: not comparable).
        base: fingerprints everyone has (the stub, the reference, the question's wording).
        threshold: the Jaccard similarity from which a pair is returned.
        min_shared: the fingerprints a returned pair must share at least.

    Returns:
        Pairs by decreasing similarity, then by ids.
    """
    own = {s: f - base for s, f in fingerprints.items() if f}
    held = Counter(fp for f in own.values() for fp in f)
    common = common_count(len(own))
    own = {s: {fp for fp in f if held[fp] < common} for s, f in own.items()}
    index: dict[tuple, list[str]] = defaultdict(list)
    for student in sorted(own):
        for fp in own[student]:
            index[fp].append(student)
    shared: Counter = Counter()
    for students in index.values():
        if len(students) > 1:
            shared.update(combinations(students, 2))
    pairs = []
    for (a, b), n in shared.items():
        if n < min_shared:
            continue
        similarity = n / (len(own[a]) + len(own[b]) - n)
        if similarity >= threshold:
            pairs.append(Pair(a, b, round(similarity, 3), n))
    return sorted(pairs, key=lambda p: (-p.similarity, p.a, p.b))


def like_reference(fingerprints: dict[str, set], reference: set, base: set, threshold: float,
                   min_shared: int = MIN_SHARED) -> list[dict]:
    """Students whose work is near-identical to ``reference`` (the model answer, which students never
    see: a leaked solution?), with no class-frequency filter: ``[{student, similarity, shared}]``."""
    model = reference - base
    out = []
    for student, prints in sorted(fingerprints.items()):
        own = (prints or set()) - base
        n = len(own & model)
        if n >= min_shared and n / (len(own) + len(model) - n) >= threshold:
            out.append({"student": student, "similarity": round(n / (len(own) + len(model) - n), 3), "shared": n})
    return out


def groups(pairs: list[Pair]) -> list[list[str]]:
    """The groups that flagged pairs form (connected components), each sorted, largest first."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for pair in pairs:
        parent[root(pair.a)] = root(pair.b)
    members: dict[str, list[str]] = defaultdict(list)
    for student in sorted(parent):
        members[root(student)].append(student)
    return sorted(members.values(), key=lambda g: (-len(g), g))


# ---------------------------------------------------------------------------- the class summary
def load(grades_dir: Path) -> dict | None:
    """What ``answers`` found (``similarity.json`` of an output folder), or None."""
    path = Path(grades_dir) / SIMILARITY_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _link(student: str, page: str) -> str:
    return f"[`{student}`]({page}#s-{student})"


def summary_lines(found: dict) -> list[str]:
    """The class summary's section on copied work (Markdown lines), with links to both pages."""
    items = [i for i in found.get("items", []) if i["pairs"] or i.get("like_model_answer")]
    lines = ["## Possible copied work: a prompt to look, not a verdict", "",
             "Work so alike after normalisation that a person should compare it (docs/grading.md, "
             "\"Review the flagged pairs\"). No point was changed. The similarity is the share of the pair's own "
             "fingerprints (code structure or runs of words, after leaving out the given code, the expected "
             "solution and what many students share) that they have in common.", ""]
    if not items:
        return lines + ["Nothing was flagged.", ""]
    for item in items:
        what = "written answer" if item["kind"] == "answer" else "exercise code"
        lines.append(f"### {item['assignment']}/{item['item']} ({what})")
        lines.append("")
        for group in item["groups"]:
            if len(group) > 2:
                lines.append(f"- a group of {len(group)}: " + ", ".join(_link(s, item["page"]) for s in group))
        for pair in item["pairs"]:
            lines.append(f"- {_link(pair['a'], item['page'])} and {_link(pair['b'], item['page'])}: "
                         f"similarity {pair['similarity']:.2f} ({pair['shared']} fingerprints in common)")
        for hit in item.get("like_model_answer", []):
            lines.append(f"- {_link(hit['student'], item['page'])} and the model answer (which students never see): "
                         f"similarity {hit['similarity']:.2f}")
        lines.append("")
    return lines
