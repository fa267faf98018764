"""Case files: YAML 1.2 scalars, generated networks, and errors naming path, line and field."""
import time
from pathlib import Path

import numpy as np
import pytest

from crossgrad.cases import InvalidCase, load_case, load_catalogue
from crossgrad import yaml_source
from crossgrad.yaml_source import MAX_NODES, YamlError, parse

# A valid case; each malformed file below is this text with one edit.
BASE = """\
description: A 2-2-1 network for the loader's tests.
network:
  layers:
    - weights: [[0.5, -0.6], [0.1, -0.2]]
      bias: [0.1, -0.1]
      activation: tanh
    - weights: [[0.1], [-0.3]]
      activation: sigmoid
inputs: [[0.5, 0.1]]
targets: [[0.6]]
loss: half_squared_error
learning_rate: 0.5
"""

GENERATED = """\
description: A generated 4-5-3 network.
network:
  sizes: [4, 5, 3]
  activations: [tanh, identity]
  seed: 12
data: {batch: 6, seed: 34}
loss: softmax_cross_entropy
"""


def edit(text, old, new):
    """`text` with its one occurrence of `old` replaced by `new`."""
    assert text.count(old) == 1, f"{old!r} should occur once"
    return text.replace(old, new)


def line_of(text, needle, occurrence=1):
    """The 1-based number of the line holding the `occurrence`-th line that contains `needle`."""
    hits = [number for number, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def column_of(text, needle):
    """The 1-based column where `needle` starts on its line."""
    line = text.splitlines()[line_of(text, needle) - 1]
    return line.index(needle) + 1


def write(tmp_path, text, name="case"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path):
    """The InvalidCase that loading `path` raises."""
    with pytest.raises(InvalidCase) as caught:
        load_case(path)
    return caught.value


def assert_reported(invalid, path, line, field, *words):
    """The error for `field` is `path:line:col: field: ...` with each of `words`; returns it."""
    __tracebackhide__ = True
    matches = [e for e in invalid.errors if e.field == field]
    assert matches, f"no error for {field!r} in:\n{invalid}"
    error = matches[0]
    assert (error.path, error.line) == (str(path), line), str(error)
    text = str(error)
    assert text.startswith(f"{path}:{line}:{error.column}: {field}: "), text
    for word in words:
        assert word in error.message, text
    assert text in str(invalid).splitlines()
    return error


def test_base_case_is_valid(tmp_path):
    """The text every malformed file starts from loads, with the numbers it says."""
    case = load_case(write(tmp_path, BASE, "base_case"))
    assert case.name == "base_case"
    assert case.problem.learning_rate == 0.5
    assert case.problem.reduction == "mean"  # the default
    assert [layer.activation for layer in case.problem.layers] == ["tanh", "sigmoid"]
    np.testing.assert_array_equal(case.problem.layers[0].weights, [[0.5, -0.6], [0.1, -0.2]])
    np.testing.assert_array_equal(case.problem.layers[0].bias, [0.1, -0.1])
    assert case.problem.layers[1].bias is None


# --- YAML 1.2 scalars ---------------------------------------------------------------------------

def test_parse_reads_exponent_numbers_as_floats():
    """1e-3 and 5E-2 are floats in YAML 1.2 (PyYAML's 1.1 rules would give strings)."""
    document = parse(b"a: 1e-3\nb: 5E-2\nc: -2.5e+1\nd: 3\ne: .5\nf: 017\n")
    assert document.value == {"a": 0.001, "b": 0.05, "c": -25.0, "d": 3, "e": 0.5, "f": 17}
    assert [type(document.value[k]) for k in "abcdef"] == [float] * 3 + [int, float, int]


def test_parse_reads_only_true_and_false_as_booleans():
    """yes, no, on, off, y, n stay strings; true and false are booleans; ~ and null are None."""
    document = parse(b"a: no\nb: yes\nc: on\nd: off\ne: y\nf: n\n"
                     b"g: true\nh: False\ni: ~\nj: null\n")
    assert document.value == {"a": "no", "b": "yes", "c": "on", "d": "off", "e": "y", "f": "n",
                              "g": True, "h": False, "i": None, "j": None}


def test_parse_records_positions_of_nested_values():
    """positions maps each path to the 1-based line and column where its value starts."""
    text = "top:\n  list: [10, 20]\n  other: x\n"
    document = parse(text.encode())
    assert document.positions[("top", "list", 1)] == (2, text.splitlines()[1].index("20") + 1)
    assert document.positions[("top", "other")] == (3, 10)


def test_parse_raises_yaml_error_with_place():
    """An unclosed [ runs on into line 3, where the ':' after c (column 2) cannot continue it."""
    with pytest.raises(YamlError) as caught:
        parse(b"a: 1\nb: [1, 2\nc: 3\n")
    assert (caught.value.line, caught.value.column) == (3, 2)
    assert "expected ',' or ']'" in caught.value.message


def test_learning_rate_in_exponent_notation_loads_as_float(tmp_path):
    """learning_rate: 1e-3 is the number 0.001, and 5E-2 in a matrix is 0.05."""
    text = edit(BASE, "learning_rate: 0.5", "learning_rate: 1e-3")
    text = edit(text, "[[0.1], [-0.3]]", "[[5E-2], [-3e-1]]")
    case = load_case(write(tmp_path, text))
    assert case.problem.learning_rate == 0.001
    assert isinstance(case.problem.learning_rate, float)
    np.testing.assert_array_equal(case.problem.layers[1].weights, [[0.05], [-0.3]])


def test_data_scale_in_exponent_notation_loads(tmp_path):
    """data.scale: 5E-2 is a number, and scales the drawn inputs by exactly 0.05."""
    unscaled = load_case(write(tmp_path, GENERATED, "unscaled"))
    text = edit(GENERATED, "data: {batch: 6, seed: 34}", "data: {batch: 6, seed: 34, scale: 5E-2}")
    scaled = load_case(write(tmp_path, text, "scaled"))
    np.testing.assert_array_equal(scaled.problem.inputs, 0.05 * unscaled.problem.inputs)


def test_no_is_not_false_for_a_bias_flag(tmp_path):
    """network.bias: no is the string 'no', refused where true or false belongs."""
    text = edit(GENERATED, "  seed: 12\n", "  seed: 12\n  bias: no\n")
    path = write(tmp_path, text)
    assert_reported(problems(path), path, line_of(text, "bias: no"), "network.bias",
                    "expected true or false", "'no'")


def test_yes_is_not_a_name_either(tmp_path):
    """activation: yes is an unknown activation named 'yes', not the boolean true."""
    text = edit(BASE, "activation: tanh", "activation: yes")
    path = write(tmp_path, text)
    assert_reported(problems(path), path, line_of(text, "activation: yes"),
                    "network.layers[0].activation", "unknown activation 'yes'")


# --- generated networks and data ----------------------------------------------------------------

def test_generated_network_has_the_right_shapes(tmp_path):
    """sizes [4, 5, 3], batch 6: 4×5 and 5×3 weights, biases, 6×4 inputs, 6×3 one-hot targets."""
    problem = load_case(write(tmp_path, GENERATED)).problem
    assert [layer.weights.shape for layer in problem.layers] == [(4, 5), (5, 3)]
    assert [layer.bias.shape for layer in problem.layers] == [(5,), (3,)]
    assert [layer.activation for layer in problem.layers] == ["tanh", "identity"]
    assert problem.inputs.shape == (6, 4)
    assert problem.targets.shape == (6, 3)
    np.testing.assert_array_equal(problem.targets.sum(axis=1), np.ones(6))
    assert set(np.unique(problem.targets)) == {0.0, 1.0}
    assert problem.learning_rate == 1.0  # the default


def test_generated_network_is_deterministic(tmp_path):
    """Two loads of the same file give identical arrays; another seed gives other weights."""
    first = load_case(write(tmp_path, GENERATED, "first")).problem
    second = load_case(write(tmp_path, GENERATED, "second")).problem
    for a, b in zip(first.layers, second.layers):
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.bias, b.bias)
    np.testing.assert_array_equal(first.inputs, second.inputs)
    np.testing.assert_array_equal(first.targets, second.targets)
    other = load_case(write(tmp_path, edit(GENERATED, "seed: 12", "seed: 13"), "other")).problem
    assert not np.array_equal(first.layers[0].weights, other.layers[0].weights)
    np.testing.assert_array_equal(first.inputs, other.inputs)  # data has its own seed


def test_generated_weights_have_variance_one_over_fan_in(tmp_path):
    """W ~ N(0, 1/fan_in): for 400 × 300 the sample std is 1/20 within 2%."""
    text = ("description: wide\nnetwork: {sizes: [400, 300], activations: tanh, seed: 1, "
            "bias: false}\ndata: {batch: 2, seed: 2}\nloss: half_squared_error\n")
    layer = load_case(write(tmp_path, text)).problem.layers[0]
    assert layer.bias is None
    assert abs(layer.weights.std() - 1 / 20) < 0.02 / 20
    assert abs(layer.weights.mean()) < 1e-3  # the standard error of the mean is 1.4e-4


def test_generated_targets_for_regression_lie_in_unit_interval(tmp_path):
    """A loss other than softmax gets targets drawn from [0, 1)."""
    text = edit(GENERATED, "loss: softmax_cross_entropy", "loss: mean_squared_error")
    targets = load_case(write(tmp_path, text)).problem.targets
    assert targets.shape == (6, 3)
    assert np.all((targets >= 0) & (targets < 1))
    assert len(np.unique(targets)) == targets.size


def test_generated_network_per_layer_bias_flags(tmp_path):
    """bias: [true, false] gives the first layer a bias and the second none."""
    text = edit(GENERATED, "  seed: 12\n", "  seed: 12\n  bias: [true, false]\n")
    layers = load_case(write(tmp_path, text)).problem.layers
    assert layers[0].bias.shape == (5,)
    assert layers[1].bias is None


def test_generated_network_follows_the_documented_recipe(tmp_path):
    """Weights, biases and inputs are drawn as cases/README.md says, redrawn here by hand."""
    # per layer W = N(0, 1)/√fan_in, then b = 0.1·N(0, 1), from default_rng(network.seed);
    # inputs = scale·N(0, 1) from default_rng(data.seed)
    text = edit(GENERATED, "data: {batch: 6, seed: 34}", "data: {batch: 6, seed: 34, scale: 2}")
    problem = load_case(write(tmp_path, text)).problem
    rng = np.random.default_rng(12)
    for layer, (fan_in, fan_out) in zip(problem.layers, [(4, 5), (5, 3)]):
        np.testing.assert_array_equal(layer.weights,
                                      rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in))
        np.testing.assert_array_equal(layer.bias, 0.1 * rng.standard_normal(fan_out))
    np.testing.assert_array_equal(problem.inputs,
                                  2 * np.random.default_rng(34).standard_normal((6, 4)))


def test_tolerance_overrides_are_read(tmp_path):
    """tolerances: {float32: {rtol, atol}} becomes the case's override for float32 only."""
    text = BASE + "tolerances:\n  float32: {rtol: 2e-4, atol: 3E-5}\n"
    case = load_case(write(tmp_path, text))
    assert set(case.tolerances) == {"float32"}
    assert (case.tolerances["float32"].rtol, case.tolerances["float32"].atol) == (2e-4, 3e-5)


# --- malformed files ----------------------------------------------------------------------------

def test_unknown_key_suggests_the_close_one(tmp_path):
    """A misspelt top-level key is reported on its line, with a did-you-mean."""
    text = edit(BASE, "learning_rate: 0.5", "learnig_rate: 0.5")
    path = write(tmp_path, text)
    assert_reported(problems(path), path, line_of(text, "learnig_rate"), "learnig_rate",
                    "unknown key 'learnig_rate'", "did you mean 'learning_rate'?")


def test_unknown_key_inside_a_layer(tmp_path):
    """A misspelt layer key is reported at its own line with the layer's path."""
    text = edit(BASE, "      bias: [0.1, -0.1]", "      biass: [0.1, -0.1]")
    path = write(tmp_path, text)
    assert_reported(problems(path), path, line_of(text, "biass"), "network.layers[0].biass",
                    "did you mean 'bias'?")


def test_unknown_key_with_block_value_is_reported_on_the_key_line(tmp_path):
    """`netwrk:` followed by an indented mapping is reported on the line of `netwrk:`."""
    text = edit(BASE, "network:", "netwrk:")
    path = write(tmp_path, text)
    assert_reported(problems(path), path, line_of(text, "netwrk:"), "netwrk",
                    "did you mean 'network'?")


def test_missing_required_key_in_a_layer(tmp_path):
    """A layer without activation is reported at the line where that layer starts."""
    text = edit(BASE, "    - weights: [[0.1], [-0.3]]\n      activation: sigmoid\n",
                "    - weights: [[0.1], [-0.3]]\n")
    path = write(tmp_path, text)
    assert_reported(problems(path), path, line_of(text, "[[0.1], [-0.3]]"), "network.layers[1]",
                    "missing required key 'activation'")


def test_missing_required_top_level_key(tmp_path):
    """A file without loss is reported where its top mapping starts, after a leading comment."""
    text = "# a case without a loss\n" + edit(BASE, "loss: half_squared_error\n", "")
    path = write(tmp_path, text)
    assert_reported(problems(path), path, line_of(text, "description:"), "(document)",
                    "missing required key 'loss'")


def test_string_where_a_number_belongs(tmp_path):
    """learning_rate: fast is reported on its line as a string, not a number."""
    text = edit(BASE, "learning_rate: 0.5", "learning_rate: fast")
    path = write(tmp_path, text)
    error = assert_reported(problems(path), path, line_of(text, "learning_rate"),
                            "learning_rate", "expected a number", "'fast'")
    assert error.column == column_of(text, "fast")


def test_string_inside_a_block_matrix_points_at_the_element(tmp_path):
    """A word in row 1 of a block-style matrix is reported at that row's line and column."""
    text = edit(BASE, "    - weights: [[0.5, -0.6], [0.1, -0.2]]\n",
                "    - weights:\n        - [0.5, -0.6]\n        - [0.1, abc]\n")
    path = write(tmp_path, text)
    error = assert_reported(problems(path), path, line_of(text, "abc"),
                            "network.layers[0].weights[1][1]", "expected a number", "'abc'")
    assert error.column == column_of(text, "abc")


def test_ragged_matrix(tmp_path):
    """A weight matrix whose row 1 is shorter than row 0 is reported at row 1."""
    text = edit(BASE, "    - weights: [[0.5, -0.6], [0.1, -0.2]]\n",
                "    - weights:\n        - [0.5, -0.6]\n        - [0.1]\n")
    path = write(tmp_path, text)
    assert_reported(problems(path), path, line_of(text, "- [0.1]"),
                    "network.layers[0].weights[1]", "ragged matrix", "row 1 has 1")


def test_fan_in_does_not_match_previous_fan_out(tmp_path):
    """Layer 1 taking 3 inputs after layer 0 gives 2 is reported at layer 1's weights."""
    text = edit(BASE, "[[0.1], [-0.3]]", "[[0.1], [-0.3], [0.2]]")
    path = write(tmp_path, text)
    assert_reported(problems(path), path, line_of(text, "[[0.1], [-0.3], [0.2]]"),
                    "network.layers[1].weights", "takes 3 inputs", "gives 2 outputs")


def test_bias_of_wrong_length(tmp_path):
    """A bias of 3 numbers on a layer with 2 outputs is reported at the bias."""
    text = edit(BASE, "bias: [0.1, -0.1]", "bias: [0.1, -0.1, 0.3]")
    path = write(tmp_path, text)
    assert_reported(problems(path), path, line_of(text, "bias:"), "network.layers[0].bias",
                    "bias has 3 numbers", "2 outputs")


def test_unknown_activation(tmp_path):
    """activation: sigmoud is unknown, with sigmoid suggested."""
    text = edit(BASE, "activation: sigmoid", "activation: sigmoud")
    path = write(tmp_path, text)
    assert_reported(problems(path), path, line_of(text, "sigmoud"), "network.layers[1].activation",
                    "unknown activation 'sigmoud'", "did you mean 'sigmoid'?")


def test_unknown_loss(tmp_path):
    """loss: half_squared_eror is unknown, with half_squared_error suggested."""
    text = edit(BASE, "loss: half_squared_error", "loss: half_squared_eror")
    path = write(tmp_path, text)
    assert_reported(problems(path), path, line_of(text, "loss:"), "loss",
                    "unknown loss 'half_squared_eror'", "did you mean 'half_squared_error'?")


def test_softmax_cross_entropy_needs_identity_last_layer(tmp_path):
    """softmax_cross_entropy after a sigmoid layer is reported at the last layer's activation."""
    text = edit(BASE, "loss: half_squared_error", "loss: softmax_cross_entropy")
    path = write(tmp_path, text)
    assert_reported(problems(path), path, line_of(text, "activation: sigmoid"),
                    "network.layers[1].activation", "must be identity", "not sigmoid")


def test_expected_of_wrong_shape(tmp_path):
    """A 1 × 2 golden weight delta for a 2 × 1 layer is reported at that entry."""
    text = BASE + ("expected:\n  source: made up for the test\n  weight_deltas:\n"
                   "    - [[0.1, 0.2], [0.3, 0.4]]\n    - [[0.1, 0.2]]\n")
    path = write(tmp_path, text)
    assert_reported(problems(path), path, line_of(text, "- [[0.1, 0.2]]"),
                    "expected.weight_deltas[1]", "1 × 2, expected 2 × 1")


def test_python_object_tag_is_refused_and_not_run(tmp_path):
    """A !!python/object/apply tag is a YAML error on its line, and nothing is constructed."""
    marker = tmp_path / "constructed"
    text = edit(BASE, "description: A 2-2-1 network for the loader's tests.",
                f"description: !!python/object/apply:builtins.open ['{marker}', 'w']")
    path = write(tmp_path, text)
    assert_reported(problems(path), path, line_of(text, "!!python"), "(yaml)",
                    "python/object/apply:builtins.open")
    assert not marker.exists()


def test_alias_bomb_is_refused_quickly(tmp_path):
    """Nine levels of ten aliases are refused in under a second, at the first node too big."""
    names = "abcdefghi"
    lines = [f"{names[0]}: &{names[0]} [{', '.join(['x'] * 10)}]"]
    lines += [f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]" for p, n in zip(names, names[1:])]
    text = "\n".join(lines) + "\n"
    # the node for letter k expands to 1 + 10 + ... + 10^(k+1) nodes; find the first over the limit
    sizes = [sum(10 ** i for i in range(k + 2)) for k in range(len(names))]
    too_big = names[next(k for k, size in enumerate(sizes) if size > MAX_NODES)]
    path = write(tmp_path, text)
    start = time.perf_counter()
    invalid = problems(path)
    assert time.perf_counter() - start < 1.0
    assert_reported(invalid, path, line_of(text, f"{too_big}: &{too_big}"), "(yaml)",
                    "expands to more than")


def test_yaml_syntax_error(tmp_path):
    """A second colon in a plain value is a syntax error at that colon's line and column."""
    text = edit(BASE, "loss: half_squared_error", "loss: half: squared_error")
    path = write(tmp_path, text)
    error = assert_reported(problems(path), path, line_of(text, "half: squared"), "(yaml)",
                            "mapping values are not allowed")
    assert error.column == column_of(text, ": squared")


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_empty_file(tmp_path, text):
    """An empty (or comment-only) file is one error at line 1 that says so."""
    path = write(tmp_path, text)
    invalid = problems(path)
    assert len(invalid.errors) == 1
    assert_reported(invalid, path, 1, "(document)", "the file is empty")


def test_non_utf8_bytes(tmp_path):
    """A Latin-1 byte is reported at its own line and column, with its value."""
    raw = BASE.replace("A 2-2-1 network", "A caf\xe9 network").encode("latin-1")
    path = tmp_path / "latin.yaml"
    path.write_bytes(raw)
    error = assert_reported(problems(path), path, 1, "(yaml)", "not UTF-8", "0xe9")
    assert error.column == raw.index(b"\xe9") + 1


def test_non_utf8_byte_on_a_later_line(tmp_path):
    """The line and column of a bad byte count the lines before it."""
    text = edit(BASE, "loss: half_squared_error", "loss: half_squared_error # \x80")
    raw = text.encode("utf-8").replace(b"\xc2\x80", b"\x80")
    path = tmp_path / "bad_byte.yaml"
    path.write_bytes(raw)
    error = assert_reported(problems(path), path, line_of(text, "loss:"), "(yaml)",
                            "not UTF-8", "0x80")
    assert error.column == column_of(text, "\x80")


@pytest.mark.parametrize("value", [".nan", ".inf", "-.Inf"])
def test_non_finite_number_is_refused(tmp_path, value):
    """A NaN or infinite weight is reported at its element: numbers in a case must be finite."""
    text = edit(BASE, "[[0.1], [-0.3]]", f"[[0.1], [{value}]]")
    path = write(tmp_path, text)
    error = assert_reported(problems(path), path, line_of(text, value),
                            "network.layers[1].weights[1][0]", "not finite")
    assert error.column == column_of(text, value)


def test_rtol_without_atol_is_refused(tmp_path):
    """A tolerance override gives rtol and atol together."""
    text = BASE + "tolerances:\n  float32: {rtol: 2e-4}\n"
    path = write(tmp_path, text)
    assert_reported(problems(path), path, line_of(text, "rtol"), "tolerances.float32",
                    "missing required key 'atol'")


def test_negative_tolerance_is_refused(tmp_path):
    """rtol: -1e-6 in an override is reported at that number."""
    text = BASE + "tolerances:\n  float64:\n    rtol: -1e-6\n    atol: 0\n"
    path = write(tmp_path, text)
    assert_reported(problems(path), path, line_of(text, "rtol"), "tolerances.float64.rtol",
                    "expected a number ≥ 0")


def test_oversized_generated_network_is_refused_before_allocating(tmp_path):
    """sizes [100000, 1000] is 100 million parameters: refused at once, at the sizes line."""
    text = edit(GENERATED, "sizes: [4, 5, 3]", "sizes: [100000, 1000]")
    text = edit(text, "activations: [tanh, identity]", "activations: identity")
    path = write(tmp_path, text)
    start = time.perf_counter()
    invalid = problems(path)
    assert time.perf_counter() - start < 1.0
    assert_reported(invalid, path, line_of(text, "sizes:"), "network.sizes", "100,001,000",
                    "the limit is 10,000,000")


def test_every_problem_in_a_file_is_reported(tmp_path):
    """Two independent mistakes give two errors, each at its own line."""
    text = edit(edit(BASE, "activation: tanh", "activation: tanhh"),
                "learning_rate: 0.5", "learning_rate: -1")
    path = write(tmp_path, text)
    invalid = problems(path)
    assert_reported(invalid, path, line_of(text, "tanhh"), "network.layers[0].activation",
                    "did you mean 'tanh'?")
    assert_reported(invalid, path, line_of(text, "learning_rate"), "learning_rate",
                    "expected a number > 0")


def test_duplicate_case_names_across_folders(tmp_path):
    """The same stem in two folders: the first loads, the second is an error naming the first."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write(tmp_path / "a", BASE, "twin")
    second = write(tmp_path / "b", BASE, "twin")
    cases, errors = load_catalogue([tmp_path / "b", tmp_path / "a"])
    assert [case.path for case in cases] == [str(first)]
    assert len(errors) == 1
    assert str(errors[0]).startswith(f"{second}:1:1: (file): ")
    assert "'twin'" in errors[0].message and str(first) in errors[0].message


def test_catalogue_collects_errors_and_still_loads_the_good_cases(tmp_path):
    """An invalid file among valid ones gives its errors; the valid cases are all returned."""
    write(tmp_path, BASE, "good")
    write(tmp_path, GENERATED, "also_good")
    bad = write(tmp_path, edit(BASE, "loss: half_squared_error", "loss: hinge"), "bad")
    cases, errors = load_catalogue([tmp_path])
    assert [case.name for case in cases] == ["also_good", "good"]
    assert [(e.path, e.field) for e in errors] == [(str(bad), "loss")]


def test_a_key_given_twice_is_refused_at_its_second_line(tmp_path):
    """`learning_rate` twice would silently keep the last value; it is an error on the second."""
    text = edit(BASE, "learning_rate: 0.5", "learning_rate: 0.5\nlearning_rate: 5")
    path = write(tmp_path, text)
    second = text.splitlines().index("learning_rate: 5") + 1
    assert_reported(problems(path), path, second, "(yaml)", "given twice (first on line "
                    f"{second - 1})")


REPOSITORY = Path(__file__).resolve().parent.parent
CORPUS = sorted(path for path in [*(REPOSITORY / "cases").rglob("*.yaml"),
                                  *(REPOSITORY / "tests" / "malformed").rglob("*")]
                if path.is_file())


def _read_with(loader_class, text):
    try:
        return "read", yaml_source._read(loader_class, text)
    except YamlError as error:
        return "refused", (error.message, error.line, error.column)


@pytest.mark.skipif(yaml_source._CParser is None, reason="PyYAML was built without libyaml")
@pytest.mark.parametrize("path", CORPUS, ids=lambda path: str(path.relative_to(REPOSITORY)))
def test_libyaml_events_read_what_the_pure_loader_reads(path):
    # parse() takes libyaml's scanner for plain ASCII text; on every catalogue case and every
    # malformed file it must give the same values at the same places, and never accept a text
    # that the pure loader refuses (a refusal is then reported by the pure loader)
    text = path.read_bytes().decode("utf-8", "replace")
    if not yaml_source._PLAIN_ASCII.match(text):
        pytest.skip("not plain ASCII: parse() reads it with the pure loader only")
    pure, fast = (_read_with(loader, text) for loader in (yaml_source.CoreSchemaLoader,
                                                         yaml_source._LibyamlEventsLoader))
    if pure[0] == "refused":
        assert fast[0] == "refused" or pytest.fail(f"libyaml reads what is refused: {pure[1]}")
    else:
        assert fast == pure


def test_parse_reports_the_pure_loaders_message_for_plain_ascii():
    # a syntax error in plain ASCII: the message is the pure loader's, with its place
    with pytest.raises(YamlError) as raised:
        parse(b"network:\n  sizes: [1, 2\nloss: x\n")
    with pytest.raises(YamlError) as pure:
        yaml_source._read(yaml_source.CoreSchemaLoader, "network:\n  sizes: [1, 2\nloss: x\n")
    assert (raised.value.message, raised.value.line, raised.value.column) == (
        pure.value.message, pure.value.line, pure.value.column)
