"""Regular expressions written by staff (resolver and inference rules), matched by RE2.

RE2 (`google-re2`) matches in time linear in the text whatever the pattern: a rule such
as `^(a+)+$`, with which a backtracking engine (Python's `re`) takes minutes on a name
of thirty characters and hangs the worker serving `/resolvers/simulate`, costs
microseconds. RE2 has no backreferences or lookaround: a pattern using them is refused
when the rule is saved, and so is a nested unbounded quantifier (`(a+)+`, `(\\w*)*`):
harmless here, catastrophic wherever else the rule would be used. A stored pattern RE2
cannot compile (saved before these checks) never matches.
"""

from __future__ import annotations

import re
import re._constants as sre
import re._parser as sre_parse

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every refused pattern to stderr
_OPTIONS.max_mem = 8 << 20  # bounds the automaton of one pattern

_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)


class PatternError(ValueError):
    """A pattern RE2 cannot compile."""


def compile_pattern(text: str):
    """`text` compiled by RE2 (the `re`-like API: fullmatch, expand, groups, groupindex)."""
    try:
        return re2.compile(text, _OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(detail) from None


def pattern_problem(text: str) -> str | None:
    """Why a rule may not be saved with the pattern `text`, or None."""
    try:
        compile_pattern(text)
    except PatternError as exc:
        return f"Not a valid regular expression (RE2 syntax: no backreferences or lookaround): {exc}."
    if _nested_unbounded(text):
        return (
            "A repetition inside a repetition (such as (a+)+) is refused: it backtracks "
            "catastrophically in most engines. Write it with one quantifier."
        )
    return None


def _nested_unbounded(text: str) -> bool:
    try:
        tree = sre_parse.parse(text)
    except re.error:
        return False  # RE2 syntax Python's parser lacks (\pN…): RE2 alone will run it
    return _has_nested(tree)


def _has_nested(pattern) -> bool:
    r"""An unbounded repetition whose whole body is itself an unbounded repetition
    (`(a+)+`, `((\w*))*`): the classic catastrophic form. `(\w+\.)*`, where a
    separator follows the inner repetition, is not."""
    for op, av in pattern:
        if op in _REPEATS:
            _, high, sub = av
            if high == sre.MAXREPEAT and _is_unbounded_repeat(sub):
                return True
        if any(_has_nested(sub) for sub in _subpatterns(av)):
            return True
    return False


def _is_unbounded_repeat(pattern) -> bool:
    items = list(pattern)
    while len(items) == 1 and items[0][0] == sre.SUBPATTERN:
        items = list(items[0][1][-1])  # a group: (group, add_flags, del_flags, pattern)
    return len(items) == 1 and items[0][0] in _REPEATS and items[0][1][1] == sre.MAXREPEAT


def _subpatterns(av):
    if isinstance(av, sre_parse.SubPattern):
        yield av
    elif isinstance(av, list | tuple):
        for item in av:
            yield from _subpatterns(item)
