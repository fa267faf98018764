"""Reading a parsed YAML document field by field, turning every fault into a CaseError that
names the file, line, column and field (`path:line:col: field: message`)."""
import difflib
import math
import re
from dataclasses import dataclass

import numpy as np

_LARGEST_FLOAT = int(np.finfo(np.float64).max)


@dataclass(frozen=True)
class CaseError:
    """One problem in one case file."""

    path: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self):
        return f"{self.path}:{self.line}:{self.column}: {self.field}: {self.message}"


class InvalidCase(Exception):
    """A case file has problems; `errors` lists every one of them."""

    def __init__(self, errors):
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = list(errors)


def field_name(where):
    """('network', 'layers', 1, 'weights') -> 'network.layers[1].weights'; a key that is not a
    plain word is quoted (['learning rate']), so that a field is always one readable line."""
    name = ""
    for part in where:
        if isinstance(part, str) and _PLAIN_KEY.match(part):
            name += f".{part}" if name else part
        else:
            name += f"[{_short(part)!r}]" if isinstance(part, str) else f"[{_short(part)}]"
    return name or "(document)"


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _short(value):
    """`value` itself, or for a very long string or number a shortened stand-in."""
    if isinstance(value, str) and len(value) > 60:
        return value[:60] + "…"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10 ** 20:
        return f"a number of {len(str(abs(value)))} digits"
    return value


def describe(value):
    if isinstance(value, str):
        return f"the string {_short(value)!r}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (int, float)):
        return str(_short(value)) if isinstance(value, int) else repr(value)
    return f"a {type(value).__name__}"


class Reader:
    """Collects the problems of one file, each placed at the deepest known position."""

    def __init__(self, path, document):
        self.path, self.errors = str(path), []
        self.positions, self.key_positions = document.positions, document.key_positions

    def error(self, where, message, at_key=False):
        """Record a problem at `where`; `at_key` places it on the line of the key itself."""
        where = tuple(where)
        if at_key and where in self.key_positions:
            line, column = self.key_positions[where]
            self.errors.append(CaseError(self.path, line, column, field_name(where), message))
            return
        place = where
        while place not in self.positions and place:
            place = place[:-1]
        line, column = self.positions.get(place, (1, 1))
        self.errors.append(CaseError(self.path, line, column, field_name(where), message))

    def mapping(self, where, value, keys, required=()):
        """`value`'s entries whose keys are in `keys`, after reporting each unknown key (so that
        the rest is still checked); None after reporting why, if it is not a mapping or lacks a
        required key."""
        if not isinstance(value, dict):
            self.error(where, f"expected a mapping with keys {', '.join(keys)}; "
                              f"got {describe(value)}")
            return None
        for key in value:
            if key not in keys:
                close = difflib.get_close_matches(str(key), keys, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(keys)}"
                self.error(tuple(where) + (key,), f"unknown key {_short(key)!r}{hint}",
                           at_key=True)
        missing = [key for key in required if key not in value]
        for key in missing:
            self.error(where, f"missing required key {key!r}", at_key=True)
        return None if missing else {key: item for key, item in value.items() if key in keys}

    def number(self, where, value, positive=False):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error(where, f"expected a number, got {describe(value)}")
            return None
        if isinstance(value, int) and abs(value) > _LARGEST_FLOAT:
            self.error(where, f"{_short(value)} is beyond the largest float (about 1.8e308)")
            return None
        if not math.isfinite(value):
            self.error(where, f"{value} is not finite; numbers in a case must be finite")
            return None
        if positive and value <= 0:
            self.error(where, f"expected a number > 0, got {value}")
            return None
        return float(value)

    def integer(self, where, value, minimum, maximum=None, limit=""):
        """A whole number ≥ minimum (and ≤ maximum, where `limit` says what that bounds)."""
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(where, f"expected a whole number, got {describe(value)}")
            return None
        if value < minimum:
            self.error(where, f"expected a whole number ≥ {minimum}, got {_short(value)}")
            return None
        if maximum is not None and value > maximum:
            shown = _short(value) if value >= 10 ** 20 else f"{value:,}"
            self.error(where, f"{shown} is over the limit of {maximum:,} {limit}".rstrip())
            return None
        return value

    def name(self, where, value, known, what):
        if not isinstance(value, str):
            self.error(where, f"expected the name of {what}, got {describe(value)}")
            return None
        if value not in known:
            close = difflib.get_close_matches(value, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"one of {', '.join(known)}"
            self.error(where, f"unknown {what} {value!r}; {hint}")
            return None
        return value

    def names(self, where, value, known, what):
        if not isinstance(value, list) or not value:
            self.error(where, f"expected a list of {what} names ({', '.join(known)}), "
                              f"got {describe(value)}")
            return None
        names = [self.name(tuple(where) + (i,), v, known, what) for i, v in enumerate(value)]
        for i, name in enumerate(names):
            if name is not None and name in names[:i]:
                self.error(tuple(where) + (i,), f"{name} is named twice")
                return None
        return None if None in names else tuple(names)

    def vector(self, where, value, what="numbers"):
        if not isinstance(value, list) or not value:
            self.error(where, f"expected a non-empty list of {what}, got {describe(value)}")
            return None
        numbers = [self.number(tuple(where) + (i,), v) for i, v in enumerate(value)]
        return None if None in numbers else np.array(numbers, dtype=np.float64)

    def matrix(self, where, value, rows, columns, hint=""):
        """A rectangular list of lists of finite numbers, as a float64 array."""
        if not isinstance(value, list) or not value or not all(isinstance(r, list) for r in value):
            self.error(where, f"expected a {rows} × {columns} matrix (a list of rows, each a "
                              f"list of numbers), got {describe(value)}{hint}")
            return None
        width = len(value[0])
        vectors = []
        for i, row in enumerate(value):
            if len(row) != width:
                self.error(tuple(where) + (i,), f"ragged matrix: row {i} has {len(row)} "
                                                f"numbers, row 0 has {width}")
                return None
            vectors.append(self.vector(tuple(where) + (i,), row))
        if any(v is None for v in vectors):
            return None
        return np.array(vectors)
