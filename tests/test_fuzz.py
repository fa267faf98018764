"""crossgrad fuzz: draws that replay, a shrinker that keeps the signature, case files that
validate and reproduce, exit codes, and four planted bugs found and shrunk; training draws
that validate, and two planted training bugs found, shrunk with their training, and failed by
crossgrad report at their step."""
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from crossgrad import adapters, cli, runner
from crossgrad.cases import Case, load_case
from crossgrad.fuzzing import search
from crossgrad.fuzzing.draw import MAX_BATCH, MAX_DEPTH, MAX_WIDTH, draw_case
from crossgrad.fuzzing.shrink import shrink, size
from crossgrad.fuzzing.signature import evaluate, signature_of
from crossgrad.problem import Layer, Problem

ROOT = Path(__file__).resolve().parent.parent
LAST_LINE = re.compile(r"crossgrad fuzz: seed \d+, (\d+) draws \(.*\), (\d+) findings? in .*, "
                       r"[\d.]+ s$")
# bug -> (the dtypes it is fuzzed in, draws): the budget, in draws and (shrink.MAX_EVALUATIONS)
# candidates per finding, not in seconds, which a shared machine would make a coin toss; the
# seconds it took are in the README's "Fuzzing"
PLANTED = {"missing_mean_factor": (["float64"], 60),
           "tanh_beyond_2": (["float64"], 60),
           "leaky_relu_one_at_zero": (["float64"], 60),
           "float16_flush": (["float16"], 60)}


@pytest.fixture(autouse=True)
def registry(monkeypatch):
    """Each test starts from the built-ins alone and leaves nothing registered behind."""
    monkeypatch.setattr(adapters, "_MODULES", dict(adapters._MODULES))
    monkeypatch.setattr(adapters, "_loaded", {})
    monkeypatch.setattr(adapters, "_entry_points_read", True)
    # --backend exports CROSSGRAD_BACKENDS, and the command sets CROSSGRAD_JAX_CACHE, into
    # os.environ: setenv first, so that teardown restores what was there and later tests'
    # subprocesses inherit neither a planted bug nor a cache turned off
    monkeypatch.setenv(adapters.ENVIRONMENT, "")
    monkeypatch.delenv(adapters.ENVIRONMENT)
    monkeypatch.setenv("CROSSGRAD_JAX_CACHE", "off")
    monkeypatch.setattr(sys, "path", [str(ROOT)] + sys.path)
    monkeypatch.chdir(ROOT)


def _plant(bug, module="planted_bugs"):
    adapters.register(bug, f"examples.{module}:{bug}")
    return ["numpy", bug]


def _case_of(problem, training=None):
    return Case(name="by_hand", path="<by hand>", description="", problem=problem, expected=None,
                dtypes=("float64",), backends=("numpy",), tolerances={}, training=training)


def _arrays(problem):
    return [problem.inputs, problem.targets] + [a for layer in problem.layers
                                                for a in (layer.weights, layer.bias)
                                                if a is not None]


def test_a_draw_replays_from_its_seed_and_index_alone():
    dtypes = ["float64", "float32", "float16", "bfloat16"]
    first, flavour = draw_case(5, 17, dtypes, ["numpy"])
    again, flavour_again = draw_case(5, 17, dtypes, ["numpy"])
    assert flavour == flavour_again and first.dtypes == again.dtypes
    assert all(np.array_equal(a, b) for a, b in zip(_arrays(first.problem),
                                                    _arrays(again.problem)))
    other, _ = draw_case(6, 17, dtypes, ["numpy"])
    assert not all(np.array_equal(a, b) for a, b in zip(_arrays(first.problem),
                                                        _arrays(other.problem)))


def test_draws_span_the_format():
    """Over 300 draws: depth, widths and batch within bounds, width 1 and batch 1 frequent,
    every activation, loss, reduction and dtype drawn."""
    from crossgrad.reference import ACTIVATIONS, LOSSES
    dtypes = ["float64", "float32", "float16", "bfloat16"]
    draws = [draw_case(0, i, dtypes, ["numpy"]) for i in range(300)]
    problems = [case.problem for case, _ in draws]
    assert all(1 <= len(p.layers) <= MAX_DEPTH and 1 <= len(p.inputs) <= MAX_BATCH
               and all(1 <= layer.fan_out <= MAX_WIDTH for layer in p.layers) for p in problems)
    assert {a.activation for p in problems for a in p.layers} == set(ACTIVATIONS)
    assert {p.loss for p in problems} == set(LOSSES)
    assert {p.reduction for p in problems} == {"mean", "sum"}
    assert {case.dtypes[0] for case, _ in draws} == set(dtypes)
    assert sum(len(p.inputs) == 1 for p in problems) >= 30
    assert sum(any(layer.fan_out == 1 for layer in p.layers) for p in problems) >= 60


def test_a_kink_draw_puts_a_pre_activation_exactly_at_zero():
    from crossgrad.reference import forward
    found = 0
    for index in range(200):
        case, flavour = draw_case(3, index, ["float64"], ["numpy"])
        if flavour != "kink":
            continue
        _, pre_activations, _ = forward(case.problem.layers, case.problem.inputs)
        found += any(np.any(z == 0) for layer, z in zip(case.problem.layers, pre_activations)
                     if layer.activation in ("relu", "leaky_relu", "elu"))
    assert found >= 10


def test_shrinking_a_predicate_by_hand():
    """Three layers, batch 6, kept while the batch has 2 samples and the output layer a weight
    of at least 1.5: the bottom layers go (their outputs become the inputs), then the units
    that do not hold 3.14159, the bias, the sigmoid and tanh, then the numbers (3.14159 → 3,
    inputs and targets → 0), the loss and the learning rate."""
    rng = np.random.default_rng(0)
    last = np.full((3, 2), 0.25)
    last[1, 0] = 3.14159
    problem = Problem((Layer(rng.standard_normal((4, 5)), rng.standard_normal(5), "tanh"),
                       Layer(rng.standard_normal((5, 3)), None, "sigmoid"),
                       Layer(last, np.ones(2), "tanh")),
                      rng.standard_normal((6, 4)), rng.standard_normal((6, 2)),
                      "mean_squared_error", "mean", 0.5)
    smallest, _ = shrink(_case_of(problem), lambda c: len(c.problem.inputs) >= 2
                         and np.max(np.abs(c.problem.layers[-1].weights)) >= 1.5)
    smallest = smallest.problem
    assert len(smallest.layers) == 1
    layer = smallest.layers[0]
    assert layer.weights.tolist() == [[3.0]] and layer.bias is None
    assert layer.activation == "identity"
    assert smallest.inputs.tolist() == [[0.0], [0.0]]
    assert smallest.targets.tolist() == [[0.0], [0.0]]
    assert (smallest.loss, smallest.reduction, smallest.learning_rate) == \
        ("half_squared_error", "mean", 1.0)


def test_shrinking_keeps_the_signature_at_every_step():
    """Every candidate the shrinker takes still fails with the draw's signature, evaluated
    afresh, and the last one is what the search wrote."""
    backends = _plant("tanh_beyond_2")
    case = next(case for case, _ in (draw_case(0, i, ["float64"], backends) for i in range(60))
                if evaluate(case, backends)[0])
    signature = sorted(evaluate(case, backends)[0])[0]
    taken = []

    def keeps(candidate):
        kept = signature in evaluate(candidate, backends)[0]
        if kept:
            taken.append(candidate)
        return kept

    smallest, _ = shrink(case, keeps)
    assert taken and taken[-1] is smallest
    for candidate in taken:
        rows = runner.run(candidate, "tanh_beyond_2", "float64")
        runner.forget()
        assert signature_of(rows, candidate.problem) == signature
    assert size(smallest.problem) < size(case.problem)


def test_the_same_seed_writes_the_same_files(tmp_path):
    backends = _plant("leaky_relu_one_at_zero")
    first = search(1, backends, ["float64"], tmp_path / "a", cases=40)
    second = search(1, backends, ["float64"], tmp_path / "b", cases=40)
    assert first.findings, "seed 1 finds the planted bug within 40 draws"
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # float16
# draws past 65504, cast by the numpy backend; float16_flush trained by crossgrad's loop
@pytest.mark.filterwarnings("ignore:.* encountered in:RuntimeWarning")
@pytest.mark.parametrize("bug", sorted(PLANTED))
def test_a_planted_bug_is_found_and_shrunk(bug, tmp_path):
    """Found within the stated draws; every finding names the bug's backend, is a
    valid case file that fails on it with the same signature and passes on numpy in its
    dtype; the smallest has at most 2 layers, width 2 and batch 3 (3 exactly for the
    missing 1/B, which needs 3 samples)."""
    dtypes, draws = PLANTED[bug]
    backends = _plant(bug)
    outcome = search(0, backends, dtypes, tmp_path, cases=draws)
    assert outcome.findings
    sizes = []
    for signature, path in outcome.findings:
        assert signature.backend == bug
        case = load_case(path)  # raises InvalidCase if it does not validate
        assert f"--seed 0" in case.description and str(signature) in case.description
        rows = runner.run(case, bug, signature.dtype)
        assert signature_of(rows, case.problem) == signature
        assert case.training is None  # one step fails: its training was shrunk away
        if signature.dtype != "float64":
            assert not any(row.failed for row in runner.run(case, "numpy", signature.dtype))
        runner.forget()
        sizes.append(size(case.problem))
    layers, width, batch, _ = min(sizes)
    assert layers <= 2 and width <= 2 and batch <= 3
    if bug == "missing_mean_factor":
        assert all(found[2] == 3 for found in sizes)


# --- training draws: drawn, written, found and shrunk -------------------------------------------

# bug -> (draws, what its smallest finding must keep): the slip needs η ≠ 1 and the biases
# learning (sgd or momentum); the flipped momentum needs momentum and a second step
PLANTED_IN_TRAINING = {"bias_step_without_rate": 60, "momentum_sign_flipped": 60}


def test_training_draws_span_the_block_and_replay(monkeypatch):
    """Over 300 draws: about a quarter train, with every optimizer, 1 to 50 steps, the biases
    learning and not, recorded steps within the run; a draw's training replays from its seed
    and index, and its network is the one drawn without training (another stream)."""
    from crossgrad.fuzzing import trajectory
    from crossgrad.reference import OPTIMIZERS
    dtypes = ["float64", "float32"]
    cases = [draw_case(0, i, dtypes, ["numpy"])[0] for i in range(300)]
    trained = [case for case in cases if case.training is not None]
    assert 0.15 * 300 <= len(trained) <= trajectory.TRAINING_SHARE * 300 * 1.4
    assert {case.training.optimizer for case in trained} == set(OPTIMIZERS)
    assert {"biases" in case.training.update for case in trained} == {True, False}
    assert all(1 <= case.training.steps <= trajectory.MAX_STEPS
               and case.training.record == tuple(sorted(set(case.training.record)))
               and 0 <= case.training.record[0] and case.training.record[-1]
               == case.training.steps for case in trained)
    assert any(case.training.steps > 10 for case in trained)
    again = draw_case(0, cases.index(trained[0]), dtypes, ["numpy"])[0]
    assert again.training == trained[0].training
    monkeypatch.setattr(trajectory, "TRAINING_SHARE", 0.0)
    alone = draw_case(0, cases.index(trained[0]), dtypes, ["numpy"])[0]
    assert alone.training is None
    assert all(np.array_equal(a, b) for a, b in zip(_arrays(alone.problem),
                                                    _arrays(trained[0].problem)))


def test_a_drawn_training_case_validates_against_the_schema_and_loads(tmp_path):
    """Every training draw of 100, written as a finding would be: cases/schema.json accepts it,
    the loader reads it back with the same training, learning rate and arrays."""
    import json

    import jsonschema

    from crossgrad.fuzzing.finding import case_text, write
    from crossgrad.fuzzing.signature import Signature
    from crossgrad.yaml_source import parse
    validator = jsonschema.Draft7Validator(json.loads(
        (ROOT / "cases" / "schema.json").read_text(encoding="utf-8")))
    trained = [case for case in (draw_case(2, i, ["float64", "float32"], ["numpy"])[0]
                                 for i in range(100)) if case.training is not None]
    assert len(trained) >= 10
    for number, case in enumerate(trained):
        signature = Signature("numpy", case.dtypes[0], "weights", "mismatch", "output", True)
        text = case_text(case, signature, case.description)
        assert list(validator.iter_errors(parse(text.encode()).value)) == [], text
        loaded = load_case(write(tmp_path, f"drawn_{number}.yaml", text))
        assert loaded.training == case.training
        assert loaded.problem.learning_rate == case.problem.learning_rate
        assert all(np.array_equal(a, b) for a, b in zip(_arrays(loaded.problem),
                                                        _arrays(case.problem)))


def test_a_trajectory_failure_has_a_signature_of_its_own():
    """At the first failing step, the weights or biases nearest the output before the loss;
    the loss alone where no parameter fails; a single step's failure wins over its
    trajectory's."""
    from crossgrad.compare import Comparison
    from crossgrad.fuzzing.signature import Signature
    problem = Problem((Layer(np.ones((1, 1)), np.ones(1), "tanh"),
                       Layer(np.ones((1, 1)), np.ones(1), "identity")),
                      np.ones((1, 1)), np.ones((1, 1)), "half_squared_error", "mean", 0.5)

    def row(quantity, layer, status, step=None, label="mismatch"):
        return Comparison(case="c", backend="b", dtype="float32", device="cpu", layer=layer,
                          quantity=quantity, compared_to="reference", status=status, step=step,
                          label=label if status == "fail" else "")

    trajectory = [row("loss", None, "pass", 1), row("weights", 1, "pass", 1),
                  row("loss", None, "fail", 2), row("weights", 0, "fail", 2),
                  row("weights", 1, "pass", 2), row("biases", 0, "fail", 2),
                  row("biases", 1, "fail", 2, "precision"), row("weights", 1, "fail", 5)]
    one_step = [row("error_term", 1, "pass"), row("error_term", 0, "pass")]
    assert signature_of(one_step + trajectory, problem) == Signature(
        "b", "float32", "biases", "precision", "output", trajectory=True)
    assert str(signature_of(trajectory, problem)) == \
        "b · float32 · trajectory · biases · precision · output layer"
    assert signature_of([row("loss", None, "fail", 3)], problem) == Signature(
        "b", "float32", "loss", "mismatch", "", trajectory=True)
    failing_step = [row("error_term", 1, "pass"), row("error_term", 0, "fail")]
    assert signature_of(failing_step + trajectory, problem) == Signature(
        "b", "float32", "error_term", "mismatch", "hidden")


def test_a_trajectory_is_shrunk_to_fewer_steps_and_the_plainer_optimizer():
    """Kept while a momentum run records a step of at least 3 with the biases learning: 40
    steps become 3, recorded at 3 alone; adam becomes momentum (sgd is refused), the weights
    stop learning, and the constants go back to their defaults."""
    from crossgrad.reference import Training
    problem = Problem((Layer(np.array([[0.5]]), np.array([0.25]), "tanh"),),
                      np.array([[1.0]]), np.array([[0.0]]), "half_squared_error", "mean", 0.1)
    training = Training(40, "adam", betas=(0.5, 0.9), eps=1e-4, update=("weights", "biases"),
                        record=(0, 1, 2, 5, 10, 20, 40))

    def keeps(case):
        return case.training is not None and case.training.optimizer != "sgd" \
            and max(case.training.record) >= 3 and "biases" in case.training.update

    smallest, _ = shrink(_case_of(problem, training), keeps)
    assert smallest.training == Training(3, "momentum", update=("biases",), record=(3,))


def _found_and_written(bug, tmp_path, draws):
    """The findings of seed 0 in `draws` float64 draws of numpy and `bug`, each checked: a
    trajectory signature of the bug, a case file that loads, trains and fails the same way on
    the bug and passes on numpy. Returns the loaded cases."""
    outcome = search(0, _plant(bug, "planted_training_bugs"), ["float64"], tmp_path,
                     cases=draws)
    assert outcome.findings
    found = []
    for signature, path in outcome.findings:
        assert signature.backend == bug and signature.trajectory
        assert "_trajectory_" in path.name
        case = load_case(path)
        assert case.training is not None and str(signature) in case.description
        rows = runner.run(case, bug, "float64")
        assert all(row.step is not None for row in rows if row.failed)
        assert signature_of(rows, case.problem) == signature
        assert not any(row.failed for row in runner.run(case, "numpy", "float32"))
        runner.forget()
        found.append(case)
    return found


def test_a_bias_step_without_the_learning_rate_is_found_in_training(tmp_path):
    """Found within 60 draws; each finding is one sgd step of 1 or 2 layers of width 1, batch 1,
    the biases alone learning, with η ≠ 1 (the slip is invisible at η = 1 and for adam)."""
    for case in _found_and_written("bias_step_without_rate", tmp_path,
                                   PLANTED_IN_TRAINING["bias_step_without_rate"]):
        layers, width, batch, _ = size(case.problem)
        assert layers <= 2 and width == 1 and batch == 1
        assert case.training.optimizer == "sgd" and case.training.steps == 1
        assert case.training.update == ("biases",) and case.problem.learning_rate != 1


def test_a_flipped_momentum_is_found_and_shrunk_to_its_second_step(tmp_path):
    """Found within 60 draws, shrunk to one weight trained 2 momentum steps and recorded at the
    second alone: the first update is right (v₀ = 0), so fewer steps lose it, and so does sgd."""
    for case in _found_and_written("momentum_sign_flipped", tmp_path,
                                   PLANTED_IN_TRAINING["momentum_sign_flipped"]):
        assert size(case.problem)[:3] == (1, 1, 1)
        assert case.training.optimizer == "momentum"
        assert (case.training.steps, case.training.record) == (2, (2,))


def _fuzz(capsys, *arguments):
    try:
        status = cli.main(["fuzz", *arguments])
    except SystemExit as exit_:  # argparse, and a --backend or --backends it cannot use
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_crossgrad_fuzz_writes_a_training_finding_that_report_fails_at_its_step(tmp_path,
                                                                                capsys):
    """`crossgrad fuzz` on the flipped momentum: exit 1, and `crossgrad report` on what it wrote
    fails each file on the plug-in at step 2, the step the file records."""
    spec = "buggy=examples.planted_training_bugs:momentum_sign_flipped"
    out_dir = tmp_path / "found"
    status, out, _ = _fuzz(capsys, "--cases", "60", "--seed", "0", "--backends", "numpy,buggy",
                           "--backend", spec, "--dtypes", "float64", "--out", str(out_dir),
                           "--executor", "serial")
    files = sorted(out_dir.iterdir())
    assert status == 1 and files
    assert all("found buggy · float64 · trajectory · " in line
               for line in out.strip().splitlines()[:-1])
    status = cli.main(["report", "--cases", str(out_dir), "--backends", "buggy", "--backend",
                       spec, "--referees", "none", "--executor", "serial",
                       "--out", str(tmp_path / "report")])
    err = capsys.readouterr().err
    assert status == 1
    assert all(f"FAIL {path.stem} · buggy · float64 · step 2 · " in err for path in files), err


def test_exit_0_when_nothing_is_found(tmp_path, capsys):
    status, out, _ = _fuzz(capsys, "--cases", "5", "--backends", "numpy", "--dtypes", "float64",
                           "--out", str(tmp_path / "found"), "--executor", "serial")
    assert status == 0
    match = LAST_LINE.match(out.strip().splitlines()[-1])
    assert match and match.groups() == ("5", "0")
    assert not (tmp_path / "found").exists()


def test_exit_1_when_found_and_the_file_reproduces_in_report(tmp_path, capsys):
    out_dir = tmp_path / "found"
    status, out, _ = _fuzz(capsys, "--cases", "30", "--seed", "1", "--backends", "numpy,buggy",
                           "--backend", "buggy=examples.planted_bugs:tanh_beyond_2",
                           "--dtypes", "float64", "--out", str(out_dir), "--executor", "serial")
    assert status == 1
    lines = out.strip().splitlines()
    files = sorted(out_dir.iterdir())
    assert LAST_LINE.match(lines[-1]).groups() == ("30", str(len(files)))
    assert files and all(f"found buggy · float64" in line for line in lines[:-1])
    assert cli.main(["validate", str(out_dir)]) == 0
    capsys.readouterr()
    status = cli.main(["report", "--cases", str(out_dir), "--backends", "buggy",
                       "--backend", "buggy=examples.planted_bugs:tanh_beyond_2",
                       "--referees", "none", "--executor", "serial",
                       "--out", str(tmp_path / "report")])
    err = capsys.readouterr().err
    assert status == 1
    assert all(f"FAIL {path.stem} · buggy · float64" in err for path in files)


@pytest.mark.parametrize("arguments, message", [
    (["--cases", "0"], "--cases: expected a number of draws ≥ 1, got 0"),
    (["--budget", "-1"], "--budget: expected seconds > 0, got -1"),
    (["--seed", "-3"], "--seed: expected an integer ≥ 0, got -3"),
    (["--backends", "nonesuch"], "--backends: unknown 'nonesuch'"),
    (["--backend", "broken"], "expected NAME=module:attribute"),
    (["--backends", "numpy", "--dtypes", "bfloat16"], "none of numpy computes in bfloat16"),
])
def test_exit_2_for_bad_options(arguments, message, tmp_path, capsys):
    status, out, err = _fuzz(capsys, *arguments, "--out", str(tmp_path / "found"))
    assert status == 2
    assert message in err and not out


def test_exit_2_for_an_out_that_is_a_file_and_for_both_limits(tmp_path, capsys):
    file = tmp_path / "file"
    file.write_text("")
    status, _, err = _fuzz(capsys, "--cases", "1", "--out", str(file))
    assert status == 2 and "is a file, not a folder" in err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["fuzz", "--cases", "1", "--budget", "1"])
    assert exit_.value.code == 2
