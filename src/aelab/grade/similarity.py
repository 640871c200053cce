"""Similarity hints between submissions: whose exercise code is unusually alike, and where.

In the manner of MOSS (Schleimer, Wilkerson and Aiken, "Winnowing: local algorithms for document
fingerprinting", SIGMOD 2003): each submission's answer cells, with the code the lab gives (the
stub's lines: signatures, comments) removed, become a stream of tokens in which the names the
student binds (variables, parameters, functions) are all one token and strings another, comments
and layout gone; every run of :data:`K` tokens is hashed, and in each window of :data:`WINDOW`
consecutive hashes the smallest is kept (winnowing), so any shared run of ``K + WINDOW - 1`` tokens
leaves at least one shared fingerprint. Fingerprints that many submissions share (idioms, code
the exercise all but dictates) are dropped, as MOSS drops common passages. A pair's score is the
share of the smaller submission's fingerprints that the other has.

The result is a ranked list of pairs with the lines they share: a hint of where to read two
notebooks side by side, never a verdict (short exercises are also written alike independently).
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import math
import tokenize
import zlib
from dataclasses import dataclass, field

__all__ = ["K", "WINDOW", "Pair", "fingerprints", "rank"]

#: Tokens per hashed run, and hashes per winnowing window.
K, WINDOW = 5, 4
#: A fingerprint in more than this share of the submissions (and in more than 2) is common code.
COMMON_SHARE = 0.3
#: A pair is listed when it shares at least this many fingerprints and this share of the smaller one's.
MIN_SHARED, MIN_SCORE = 4, 0.5

_BUILTINS = set(dir(builtins))
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
         tokenize.ENDMARKER}  # fmt: skip


@dataclass
class Pair:
    """Two submissions, their score (0 to 1), the fingerprints they share, and the shared lines
    (exercise, line of the first, line of the second), in the first's order."""

    first: str
    second: str
    score: float
    shared: int
    lines: list[tuple[str, str, str]] = field(default_factory=list)


def _bound_names(source: str) -> set[str] | None:
    """The names ``source`` binds (assignments, parameters, functions, classes, loop and import
    names), or None when it does not parse (then every name counts as bound)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


def _tokens(source: str, given: str) -> list[tuple[str, int]]:
    """The normalised tokens of ``source`` with their line numbers (from 1), the lines that are
    also in ``given`` (the lab's code for this cell, compared without blanks) left out."""
    given_lines = {"".join(line.split()) for line in given.splitlines() if line.strip()}
    bound = _bound_names(source)
    previous = ""
    out: list[tuple[str, int]] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in _SKIP or "".join(token.line.split()) in given_lines:
                continue
            text = token.string
            if token.type == tokenize.NAME and not keyword.iskeyword(text) and previous != ".":
                if (bound is None and text not in _BUILTINS) or (bound is not None and text in bound):
                    text = "V"
            elif token.type == tokenize.STRING:
                text = "S"
            previous = token.string
            out.append((text, token.start[0]))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # an unfinished cell: the tokens before the fault
    return out


def fingerprints(code: dict[str, str], given: dict[str, str]) -> dict[int, set[tuple[str, int]]]:
    """A submission's winnowed fingerprints: hash -> where it occurs (exercise grade_id, line).

    ``code`` holds its answer cells by grade_id; ``given`` the lab's code of those cells.
    """
    found: dict[int, set[tuple[str, int]]] = {}
    for grade_id, source in sorted(code.items()):
        tokens = _tokens(source, given.get(grade_id, ""))
        hashes = [
            (zlib.crc32(" ".join(text for text, _ in tokens[i : i + K]).encode()), tokens[i][1])
            for i in range(len(tokens) - K + 1)
        ]
        for start in range(max(1, len(hashes) - WINDOW + 1)):
            window = hashes[start : start + WINDOW]
            if window:
                value, line = min(reversed(window), key=lambda item: item[0])  # the rightmost smallest
                found.setdefault(value, set()).add((grade_id, line))
    return found


def _line(code: dict[str, str], where: set[tuple[str, int]]) -> tuple[str, str]:
    """The exercise and first source line of a fingerprint's occurrences."""
    grade_id, line = min(where)
    return grade_id, code[grade_id].splitlines()[line - 1].strip()


def rank(code: dict[str, dict[str, str]], given: dict[str, str], *, limit: int = 20) -> list[Pair]:
    """The pairs of submissions whose code is unusually alike, most alike first (at most ``limit``).

    ``code`` is submission -> grade_id -> answer cell source; ``given`` the lab's code of each
    answer cell (grade_id -> source), removed before comparing.
    """
    prints = {name: fingerprints(cells, given) for name, cells in code.items()}
    counts: dict[int, int] = {}
    for found in prints.values():
        for value in found:
            counts[value] = counts.get(value, 0) + 1
    common = max(2, math.ceil(COMMON_SHARE * len(prints)))
    kept = {name: {v: w for v, w in found.items() if counts[v] <= common} for name, found in prints.items()}
    names = sorted(kept)
    pairs = []
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            shared = kept[first].keys() & kept[second].keys()
            smaller = min(len(kept[first]), len(kept[second]))
            score = len(shared) / smaller if smaller else 0.0
            if len(shared) < MIN_SHARED or score < MIN_SCORE:
                continue
            lines = []
            for value in sorted(shared, key=lambda v: min(kept[first][v])):
                grade_id, mine = _line(code[first], kept[first][value])
                row = (grade_id, mine, _line(code[second], kept[second][value])[1])
                if row not in lines:
                    lines.append(row)
            pairs.append(Pair(first, second, score, len(shared), lines))
    pairs.sort(key=lambda pair: (-pair.score, -pair.shared, pair.first, pair.second))
    return pairs[:limit]
