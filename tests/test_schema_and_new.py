"""`crossgrad schema` (kept as cases/schema.json) and `crossgrad new`."""
import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from crossgrad import schema as schema_module
from crossgrad.adapters import BACKENDS
from crossgrad.cases import CASE_KEYS, LAYER_KEYS, case_files, load_case
from crossgrad.cli import main
from crossgrad.new_case import PLACEHOLDER
from crossgrad.problem import DTYPES
from crossgrad.reference import ACTIVATIONS, LOSSES, REDUCTIONS
from crossgrad.yaml_source import parse

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "cases" / "schema.json"
CORPUS = ROOT / "tests" / "malformed"
SCHEMA_LINE = "# yaml-language-server: $schema="
# Corpus files whose mistake the schema can see: keys, required keys, names, types, the two
# kinds of network, inputs or data. (Shapes, non-finite numbers, a loss that does not fit its
# last layer and sizes are for `crossgrad validate` alone.)
SCHEMA_SEES = [
    "document_is_list", "document_is_scalar", "unknown_key_activaton", "unknown_key_learnig_rate",
    "unknown_key_input", "missing_loss", "missing_weights", "missing_generated_seed",
    "type_string_weight", "type_nested_list_weight", "type_bias_not_a_list",
    "type_boolean_learning_rate", "type_no_as_bias_flag", "type_negative_learning_rate",
    "name_unknown_activation", "name_unknown_loss", "name_unknown_reduction", "name_unknown_dtype",
    "name_dtype_twice", "layers_and_sizes", "inputs_and_data", "divergence_without_reason",
    "training_unknown_optimizer", "training_key_of_another_optimizer",
    "training_loss_negative_step"]


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft7Validator(json.loads(COMMITTED.read_text(encoding="utf-8")))


def test_committed_schema_is_what_crossgrad_schema_prints(capsys):
    """cases/schema.json is the command's output byte for byte: regenerate it with
    `crossgrad schema > cases/schema.json`."""
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == COMMITTED.read_text(encoding="utf-8")


def test_schema_is_valid_draft_7_and_takes_its_names_from_the_loader():
    schema = json.loads(COMMITTED.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    assert list(schema["properties"]) == list(CASE_KEYS)
    assert schema["required"] == ["description", "network", "loss"]
    assert schema["properties"]["loss"]["enum"] == list(LOSSES)
    assert schema["properties"]["reduction"]["enum"] == list(REDUCTIONS)
    assert schema["properties"]["dtypes"]["items"]["enum"] == list(DTYPES)
    assert schema["properties"]["backends"]["items"]["enum"] == list(BACKENDS)
    explicit, generated = schema["properties"]["network"]["oneOf"]
    layer = explicit["properties"]["layers"]["items"]
    assert list(layer["properties"]) == list(LAYER_KEYS)
    assert layer["properties"]["activation"]["enum"] == list(ACTIVATIONS)
    assert generated["required"] == ["sizes", "activations", "seed"]


def test_a_key_the_schema_does_not_describe_stops_it(monkeypatch):
    """A key added to the loader and not to the schema: case_schema() refuses to be built."""
    monkeypatch.setattr(schema_module, "CASE_KEYS", CASE_KEYS + ("momentum",))
    with pytest.raises(AssertionError, match="momentum"):
        schema_module.case_schema()


def test_schema_accepts_every_catalogue_case(validator):
    for path in case_files([ROOT / "cases"]):
        errors = [error.message for error in validator.iter_errors(parse(path.read_bytes()).value)]
        assert errors == [], path


@pytest.mark.parametrize("stem", SCHEMA_SEES)
def test_schema_refuses_what_it_can_see(validator, stem):
    document = parse((CORPUS / f"{stem}.yaml").read_bytes()).value
    assert not validator.is_valid(document)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A folder to run `crossgrad new` in, with cases/schema.json and the seed case."""
    (tmp_path / "cases").mkdir()
    shutil.copy(COMMITTED, tmp_path / "cases" / "schema.json")
    shutil.copy(ROOT / "cases" / "seed_3_2_1.yaml", tmp_path / "cases")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def schema_target(path):
    """The file the first line of `path` points the editor at."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(SCHEMA_LINE), first
    return (path.parent / first[len(SCHEMA_LINE):]).resolve()


def test_new_writes_a_commented_template_that_validates(project, validator, capsys):
    assert main(["new", "my_case"]) == 0
    path = project / "cases" / "my_case.yaml"
    assert capsys.readouterr().out == ("wrote cases/my_case.yaml; check it with: crossgrad "
                                       "validate cases/my_case.yaml\n")
    assert schema_target(path) == (project / "cases" / "schema.json").resolve()
    case = load_case(path)
    assert case.description == PLACEHOLDER
    assert validator.is_valid(parse(path.read_bytes()).value)
    assert sum(line.lstrip().startswith("#") for line in path.read_text().splitlines()) >= 10
    assert main(["validate", "cases"]) == 0


def test_new_never_overwrites(project, capsys):
    path = project / "cases" / "mine.yaml"
    path.write_text("my own work\n", encoding="utf-8")
    assert main(["new", "mine"]) == 1
    assert capsys.readouterr().err == ("crossgrad new: cases/mine.yaml already exists; "
                                       "crossgrad new does not overwrite\n")
    assert path.read_text(encoding="utf-8") == "my own work\n"


def test_new_refuses_a_name_the_catalogue_has(project, capsys):
    """cases/more/seed_3_2_1.yaml would be a second case named seed_3_2_1."""
    assert main(["new", "cases/more/seed_3_2_1.yaml"]) == 1
    assert "the case name 'seed_3_2_1' is already taken by cases/seed_3_2_1.yaml" in (
        capsys.readouterr().err)
    assert not (project / "cases" / "more").exists()


def test_new_at_a_path_points_the_schema_line_back_to_cases(project):
    assert main(["new", "elsewhere/deeper/trial.yaml"]) == 0
    path = project / "elsewhere" / "deeper" / "trial.yaml"
    assert path.read_text(encoding="utf-8").startswith(SCHEMA_LINE + "../../cases/schema.json\n")
    assert schema_target(path) == (project / "cases" / "schema.json").resolve()
    load_case(path)


def test_new_from_copies_comments_and_numbers_with_a_new_description(project):
    """--from the seed case: every line but the description's is kept, the schema line is on
    top, and the copy is the same problem."""
    source = project / "cases" / "seed_3_2_1.yaml"
    assert main(["new", "seed_copy", "--from", str(source)]) == 0
    copy = project / "cases" / "seed_copy.yaml"
    original, copied = load_case(source), load_case(copy)
    assert copied.description == f"{PLACEHOLDER} (copied from {source})"
    assert schema_target(copy) == (project / "cases" / "schema.json").resolve()
    source_lines = source.read_text(encoding="utf-8").splitlines()
    copied_lines = copy.read_text(encoding="utf-8").splitlines()
    description_lines = 3  # the seed's description is a folded block of three lines
    assert source_lines[0].startswith("description: >-")
    assert copied_lines[2:] == source_lines[description_lines:]
    assert [line for line in source_lines if "#" in line] == [
        line for line in copied_lines[1:] if "#" in line]
    for a, b in zip(original.problem.layers, copied.problem.layers):
        assert (a.weights == b.weights).all() and a.activation == b.activation
    assert (original.problem.inputs == copied.problem.inputs).all()
    assert copied.expected.source == original.expected.source


def test_new_from_an_invalid_case_writes_nothing(project, capsys):
    broken = project / "broken.yaml"
    broken.write_text("description: x\nnetwork: {}\nloss: hinge\n", encoding="utf-8")
    assert main(["new", "fixed", "--from", str(broken)]) == 1
    err = capsys.readouterr().err
    assert f"{broken}:3:7: loss: unknown loss 'hinge'" in err
    assert not (project / "cases" / "fixed.yaml").exists()
