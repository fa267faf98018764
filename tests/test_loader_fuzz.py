"""Fuzzing the loader: whatever the bytes, read_case returns a valid Case or raises InvalidCase
whose every error is one line `path:line:col: field: message`; anything else is a failure.

Four sources, all derandomized (the same examples on every run): bytes and YAML-ish text, random
YAML documents built from random data, catalogue cases with their parsed values mutated, and
catalogue case files with their text mutated. The crashes fuzzing and probing found are kept
as explicit regressions at the bottom.
"""
import copy
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from crossgrad.cases import (CASE_KEYS, DATA_KEYS, LAYER_KEYS, NETWORK_KEYS, InvalidCase,
                             read_case)
from crossgrad.yaml_source import parse

ROOT = Path(__file__).resolve().parent.parent
PATH = Path("fuzz") / "case.yaml"
ERROR_LINE = re.compile(rf"^{re.escape(str(PATH))}:(\d+):(\d+): (\S[^\n]*?): ([^\n]+)$")
SEEDS = [ROOT / "cases" / name for name in (
    "seed_3_2_1.yaml", "losses/tanh_mse_bias_sum.yaml", "generated/generated_mixed_softmax.yaml",
    "divergences/softplus_threshold_20.yaml", "article/seed_3_2_1_float16.yaml")]
SEED_TEXTS = [path.read_bytes() for path in SEEDS]
SEED_VALUES = [parse(text).value for text in SEED_TEXTS]
# The same examples on every run, and no timing-based health check to fail a slow CI machine.
FUZZ = dict(deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.large_base_example])
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's, where PyYAML has it


def dump(value):
    return yaml.dump(value, Dumper=DUMPER, sort_keys=False, allow_unicode=True).encode("utf-8")


def outcome(raw):
    """'valid' or 'invalid' for `raw`, after checking that the answer is a clean one."""
    __tracebackhide__ = True
    try:
        case = read_case(PATH, raw)
    except InvalidCase as invalid:
        assert invalid.errors
        last_line = raw.count(b"\n") + 1
        for error in invalid.errors:
            text = str(error)
            assert ERROR_LINE.match(text), text
            assert 1 <= error.line <= last_line and error.column >= 1, text
            text.encode("utf-8")  # printable to a UTF-8 terminal or file
        return "invalid"
    assert_usable(case)
    return "valid"


def assert_usable(case):
    """A valid case is what the backends expect: finite float64 arrays whose shapes chain."""
    __tracebackhide__ = True
    problem = case.problem
    arrays = [problem.inputs, problem.targets]
    for layer in problem.layers:
        arrays += [layer.weights] + ([] if layer.bias is None else [layer.bias])
    assert all(a.dtype == np.float64 and np.all(np.isfinite(a)) for a in arrays)
    assert problem.inputs.shape[1] == problem.layers[0].fan_in
    for before, after in zip(problem.layers, problem.layers[1:]):
        assert before.fan_out == after.fan_in
    assert problem.targets.shape == (len(problem.inputs), problem.layers[-1].fan_out)
    assert math.isfinite(problem.learning_rate) and problem.learning_rate > 0
    assert len(set(case.dtypes)) == len(case.dtypes) and len(set(case.backends)) == len(
        case.backends)
    case.description.encode("utf-8")


def run_fuzz(strategy, examples, to_bytes):
    """Run outcome() on `examples` drawn from `strategy`; returns the Counter of outcomes."""
    counts = Counter()

    @settings(max_examples=examples, **FUZZ)
    @given(strategy)
    def check(drawn):
        counts[outcome(to_bytes(drawn))] += 1

    check()
    return counts


# --- bytes and YAML-ish text --------------------------------------------------------------------

YAML_PIECES = st.sampled_from([
    ":", ": ", "- ", "[", "]", "{", "}", ",", "#", "&a ", "*a", "!!", "!!int ", "!!python/name:x",
    "|", ">", "'", '"', "? ", "---\n", "...\n", "\n", "  ", "\t", "%YAML 1.2\n", "<<: ", "~",
    "0x1F", "0o7", "1e3", ".inf", ".nan", "-", "true", "no", "null", "\\u0000", "\x00", "\x85",
    "\ufeff", "é", "\u2028", "description", "network", "layers", "weights", "loss", "sizes",
    "inputs", "targets", "[[0.5, 1]]", "sigmoid", "9" * 30])


@st.composite
def yaml_like_text(draw):
    return "".join(draw(st.lists(YAML_PIECES | st.text(max_size=3), max_size=40)))


def test_fuzz_raw_bytes_and_yaml_like_text():
    """Random bytes (200) and text glued from YAML's punctuation and case words (400)."""
    counts = run_fuzz(st.binary(max_size=200), 200, lambda raw: raw)
    counts += run_fuzz(yaml_like_text(), 400, lambda text: text.encode("utf-8", "surrogatepass"))
    assert sum(counts.values()) == 600
    assert counts["invalid"] > 500


# --- random YAML documents ----------------------------------------------------------------------

KEYS = st.sampled_from(CASE_KEYS + LAYER_KEYS + NETWORK_KEYS + DATA_KEYS) | st.text(max_size=8)
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(-10 ** 400, 10 ** 400)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from(["sigmoid", "identity", "half_squared_error", "float32", "numpy"]))
DOCUMENTS = st.recursive(SCALARS, lambda children: st.lists(children, max_size=4)
                         | st.dictionaries(KEYS, children, max_size=5), max_leaves=25)


def test_fuzz_random_yaml_documents():
    """Random data of every YAML type, with case keys among the keys, dumped as YAML."""
    counts = run_fuzz(DOCUMENTS, 300, dump)
    assert sum(counts.values()) == 300


# --- catalogue cases, mutated -------------------------------------------------------------------

def paths_of(value, path=()):
    """Every path into `value` (keys and indices), the root included."""
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths_of(child, path + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths_of(child, path + (index,))
    return found


def mutate(value, path, how, replacement):
    """A copy of `value` with the node at `path` changed as `how` says."""
    if not path:
        return replacement if how == "replace" else value
    value = copy.deepcopy(value)
    parent = value
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "replace":
        parent[last] = replacement
    elif how == "wrap":
        parent[last] = [parent[last]]
    elif how == "unwrap" and isinstance(parent[last], list) and parent[last]:
        parent[last] = parent[last][0]
    elif how == "repeat" and isinstance(parent, list):
        parent.insert(last, parent[last])
    elif how == "add_key" and isinstance(parent, dict):
        parent[str(replacement)[:10]] = parent[last]
    return value


@st.composite
def mutated_cases(draw):
    value = draw(st.sampled_from(SEED_VALUES))
    for _ in range(draw(st.integers(1, 3))):
        paths = paths_of(value)
        path = paths[draw(st.integers(0, len(paths) - 1))]
        how = draw(st.sampled_from(["delete", "replace", "replace", "wrap", "unwrap", "repeat",
                                    "add_key"]))
        value = mutate(value, path, how, draw(SCALARS | DOCUMENTS))
    return value


def test_fuzz_mutated_catalogue_cases():
    """Catalogue cases with one to three values deleted, replaced, wrapped, unwrapped or
    repeated; some stay valid, most do not."""
    counts = run_fuzz(mutated_cases(), 400, dump)
    assert sum(counts.values()) == 400
    assert counts["valid"] >= 10 and counts["invalid"] >= 200, counts


@st.composite
def edited_case_texts(draw):
    raw = bytearray(draw(st.sampled_from(SEED_TEXTS)))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw)))
        how = draw(st.sampled_from(["delete", "insert", "insert", "duplicate_line"]))
        if how == "delete":
            del raw[at:at + draw(st.integers(1, 12))]
        elif how == "insert":
            raw[at:at] = draw(YAML_PIECES).encode("utf-8", "surrogatepass")
        else:
            start, end = raw.rfind(b"\n", 0, at) + 1, raw.find(b"\n", at)
            end = len(raw) if end < 0 else end + 1
            raw[end:end] = raw[start:end]
    return bytes(raw)


def test_fuzz_edited_catalogue_files():
    """Catalogue files with characters deleted, YAML punctuation inserted, lines repeated."""
    counts = run_fuzz(edited_case_texts(), 400, lambda raw: raw)
    assert sum(counts.values()) == 400
    assert counts["valid"] >= 10 and counts["invalid"] >= 200, counts


# --- regressions: inputs that once raised something other than InvalidCase ----------------------

BASE = (ROOT / "cases" / "seed_3_2_1.yaml").read_text(encoding="utf-8")
GENERATED = ("description: d\nnetwork: {sizes: [3, 2], activations: sigmoid, seed: 1}\n"
             "data: {batch: 5, seed: 1}\nloss: half_squared_error\n")


@pytest.mark.parametrize("raw, place, field, message", [
    # PyYAML's Reader refused the NUL outside the try, as a bare ReaderError
    (b"a: \x00\n", (1, 4), "(yaml)", "the character U+0000 is not allowed"),
    # the composer recursed into 5000 nested lists until RecursionError
    (b"a: " + b"[" * 5000 + b"]" * 5000, (1, 67), "(yaml)", "nests deeper than 64 levels"),
    # int() refuses more than 4300 decimal digits with ValueError
    (b"a: " + b"9" * 5000, (1, 4), "(yaml)", "as int: Exceeds the limit (4300 digits)"),
    # SafeConstructor: AttributeError on a bad timestamp, ValueError, KeyError on bad tags
    (b"a: !!timestamp foo\n", (1, 4), "(yaml)", "the tag !!timestamp is refused"),
    (b"a: !!int foo\n", (1, 4), "(yaml)", "cannot read 'foo' as int"),
    (b"a: !!float foo\n", (1, 4), "(yaml)", "cannot read 'foo' as float"),
    (b"a: !!bool yes\n", (1, 4), "(yaml)", "only true and false are booleans"),
    # a key holding a newline broke the one-line format
    (b'"a\\nb": 1\n', (1, 1), "['a\\nb']", "unknown key 'a\\nb'"),
    # f"{n:,}" of a product of two 3000-digit widths raised ValueError
    (GENERATED.replace("[3, 2]", "[" + "9" * 3000 + ", 2]").encode(), (2, 19), "network.sizes[0]",
     "a number of 3000 digits is over the limit of 10,000,000 parameters"),
    # math.isfinite raised OverflowError on a 400-digit integer
    (BASE.replace("learning_rate: 0.5", "learning_rate: " + "9" * 400).encode(), None,
     "learning_rate", "a number of 400 digits is beyond the largest float"),
    # scale · N(0, 1) overflowed to inf and the case loaded with infinite inputs
    (GENERATED.replace("{batch: 5, seed: 1}", "{batch: 50, seed: 1, scale: 1e308}").encode(),
     (3, 35),
     "data.scale", "scale 1e+308 times N(0, 1) overflows to infinity"),
    # a lone surrogate escape loaded, and could not be written to any report
    (b'description: "\\ud800"\n', (1, 14), "(yaml)", "an unpaired surrogate"),
    # a dtype twice ran twice, with two rows and two tests of the same id
    (GENERATED.replace("loss:", "dtypes: [float32, float32]\nloss:").encode(), (4, 19),
     "dtypes[1]", "float32 is named twice"),
    # found by fuzzing: PyYAML counts U+2028 and a lone \r as line breaks, editors do not, so
    # '\u2028:' gave line 2 of a one-line file
    ("[\u2028".encode(), (1, 2), "(yaml)", "U+2028 is a line break to YAML 1.1 readers"),
    (b"a: 1\rb: 2\n", (1, 5), "(yaml)", "a carriage return (\\r) without a newline"),
], ids=["nul", "deep", "long_int", "timestamp", "int_tag", "float_tag", "bool_tag", "key_newline",
        "huge_sizes", "huge_learning_rate", "scale_overflow", "surrogate", "dtype_twice",
        "line_separator", "lone_carriage_return"])
def test_regression(raw, place, field, message):
    with pytest.raises(InvalidCase) as caught:
        read_case(PATH, raw)
    matches = [e for e in caught.value.errors if e.field == field]
    assert matches, str(caught.value)
    assert message in matches[0].message
    if place is not None:
        assert (matches[0].line, matches[0].column) == place
    assert outcome(raw) == "invalid"
