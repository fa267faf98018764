"""The command line: `crossgrad report`, `diff`, `show`, `validate`, `schema`, `new` and `fuzz`."""
import argparse
import json
import os
import sys
import warnings

import numpy as np
from tqdm import tqdm

from crossgrad import adapters, diff, executors, new_backend, new_case, plugins, report, schema
from crossgrad.referees import REFEREES
from crossgrad.cases import InvalidCase, case_files, load_case, load_catalogue
from crossgrad.compare import STATUSES
from crossgrad.problem import DTYPES


def _quiet():
    """No progress bar in CI, or when stderr is not a terminal (piped, redirected, captured)."""
    in_ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false")
    return in_ci or not getattr(sys.stderr, "isatty", lambda: False)()


def _run_all(cases, backends, dtypes, referee_names=(), execution=None, collect=None):
    """Every case on every selected backend and dtype it asks for, in a fixed order; a backend
    that raises gives an error row (runner.run) and the run goes on. `execution` holds
    executors.execute's options (executor, workers, scheduler, gpu_backends, batch); whichever
    executor runs them, the rows come in the same order. With `collect`, each run's rows go to
    collect(position, rows) as they come (see executors.execute), and nothing is returned."""
    runs = [(plugins.case_for(case, backend), backend, dtype) for case in cases
            for backend in backends if plugins.runs_case(backend, case)
            for dtype in dtypes if dtype in case.dtypes]
    with tqdm(total=len(runs), desc="crossgrad report", unit="run", file=sys.stderr,
              disable=_quiet(), leave=False, dynamic_ncols=True) as progress:
        results = executors.execute(runs, referee_names, progress=progress.update,
                                    collect=collect, **(execution or {}))
    return None if results is None else [row for rows in results for row in rows]


def _execution(args):
    """executors.execute's options from the report command's arguments."""
    return dict(executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                gpu_backends=args.gpu_backends, batch=args.batch)


def _read_report(path):
    """A report's CSV for the diff, or None after saying on stderr why it cannot be read."""
    try:
        return diff.read(path)
    except (OSError, ValueError) as error:
        print(f"crossgrad: cannot read {path}: {error}", file=sys.stderr)
        return None


def _usage_problem(args):
    """Why the report command cannot start (a path that is not there, an --out that is a
    file), in one line, or None; checked before any work, so the previous report stays."""
    if args.executor != "dask" and (args.scheduler or args.gpu_backends):
        return "--scheduler and --gpu-backends need --executor dask"
    missing = [path for path in args.cases if not os.path.exists(path)]
    if missing:
        return f"--cases: no such file or folder: {', '.join(missing)}"
    existing = os.path.abspath(args.out)
    while not os.path.exists(existing):  # the folder, or the nearest one above it that exists
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        shown = args.out if existing == os.path.abspath(args.out) else existing
        return f"--out: {shown} is a file, not a folder"
    return None


def command_report(args):
    problem = _usage_problem(args)
    if problem:
        print(f"crossgrad report: {problem}", file=sys.stderr)
        return 2
    previous = None
    if args.compare is not None:  # read it before the run, not after minutes of it
        previous = _read_report(args.compare)
        if previous is None:
            return 2
    cases, errors = load_catalogue(args.cases)
    for error in errors:
        print(error, file=sys.stderr)
    with report.RowStore() as rows:
        rows.add(-1, report.invalid_rows(errors))  # before every run
        try:
            _run_all(cases, args.backends, args.dtypes, args.referees, _execution(args),
                     collect=rows.add)
        except executors.ExecutorError as error:
            print(f"crossgrad: {error}", file=sys.stderr)
            return 2
        with warnings.catch_warnings():  # the libraries' warnings are not the user's business
            warnings.simplefilter("ignore")
            paths = report.write(rows, args.out, cases, errors=errors)
    counts = {s: rows.counts.get(s, 0) for s in STATUSES}
    failures = rows.failures_in_order()
    errored = len(rows.errored_cases)
    print(f"crossgrad report: {len(cases)} cases, {rows.rows} rows: "
          + ", ".join(f"{n} {s}" for s, n in counts.items())
          + (f"; {len({e.path for e in errors})} invalid case files" if errors else "")
          + (f"; {errored} cases with errors" if errored else "")
          + f" -> {paths[0].parent}: {', '.join(p.name for p in paths)}")
    for _, _, _, _, title, has_backend in failures:
        if has_backend:
            print(f"FAIL {title}", file=sys.stderr)
    harness_errors = rows.harness_errors()
    for line in harness_errors:
        print(f"HARNESS ERROR (the reference against the proven truth) {line}", file=sys.stderr)
    worse = False
    if previous is not None:
        found = diff.changes(previous, diff.read(paths[0]))
        print("\n".join(diff.describe(found, args.compare, paths[0])))
        worse = any(change.worse for change in found)
    return 1 if failures or worse or harness_errors else 0


def command_diff(args):
    old, new = _read_report(args.old), _read_report(args.new)
    if old is None or new is None:
        return 2
    found = diff.changes(old, new)
    print("\n".join(diff.describe(found, args.old, args.new)))
    return 1 if any(change.worse for change in found) else 0


def _as_list(array):
    return None if array is None else np.asarray(array, dtype=np.float64).tolist()


def command_show(args):
    try:
        case = load_case(args.case)
    except InvalidCase as invalid:
        print(invalid, file=sys.stderr)
        return 1
    results = {}
    for backend in (b for b in args.backends if plugins.runs_case(b, case)):
        try:
            adapter = adapters.load(backend)
        except adapters.BackendUnavailable as unavailable:
            print(f"skipped {backend}: {unavailable}", file=sys.stderr)
            continue
        for dtype in (d for d in args.dtypes if d in case.dtypes):
            try:
                results[f"{backend} {dtype}"] = adapter.backprop(case.problem, dtype)
            except Exception as error:  # noqa: BLE001  one line, and the others go on
                print(f"skipped {backend} {dtype}: " + (
                    str(error) if isinstance(error, adapters.BackendError) else
                    f"{backend} raised {type(error).__name__}: {' '.join(str(error).split())}"),
                    file=sys.stderr)
    if args.json:
        print(json.dumps({
            "case": case.name, "description": case.description,
            "results": {label: {"loss": g.loss,
                                "error_terms": [_as_list(a) for a in g.error_terms],
                                "weight_deltas": [_as_list(a) for a in g.weight_deltas],
                                "bias_deltas": [_as_list(a) for a in g.bias_deltas]}
                        for label, g in results.items()}}, indent=1))
        return 0
    problem = case.problem
    print(f"{case.name}: {case.description}")
    print(f"loss {problem.loss} ({problem.reduction} over a batch of {len(problem.inputs)}), "
          f"learning rate {problem.learning_rate:g}")
    width = max(map(len, results), default=0)
    with np.printoptions(precision=8, linewidth=120):
        print("\nloss")
        for label, g in results.items():
            print(f"  {label:<{width}}  {g.loss!r}")
        for index in range(len(problem.layers) - 1, -1, -1):
            layer = problem.layers[index]
            print(f"\nlayer {index}: {layer.fan_in} -> {layer.fan_out}, {layer.activation}"
                  + (" (output)" if index == len(problem.layers) - 1 else ""))
            for quantity, field in (("error term", "error_terms"), ("weight delta", "weight_deltas"),
                                    ("bias delta", "bias_deltas")):
                if field == "bias_deltas" and layer.bias is None:
                    continue
                print(f"  {quantity}")
                for label, g in results.items():
                    text = np.array2string(np.asarray(getattr(g, field)[index]),
                                           prefix=" " * (width + 6))
                    print(f"    {label:<{width}}  {text}")
    return 0


def command_validate(args):
    files = case_files(args.paths)
    _, errors = load_catalogue(args.paths)
    for error in errors:
        print(error)
    bad = len({error.path for error in errors})
    print(f"{len(files)} case files: {len(files) - bad} valid, {bad} with problems",
          file=sys.stderr)
    return 1 if errors or not files else 0


def command_schema(args):
    print(schema.schema_text(), end="")
    return 0


def command_new(args):
    try:
        path = new_case.write_new(args.name, args.existing)
    except (new_case.NewCaseError, OSError) as error:
        print(f"crossgrad new: {error}", file=sys.stderr)
        return 1
    except InvalidCase as invalid:
        print(invalid, file=sys.stderr)
        return 1
    print(f"wrote {path}; check it with: crossgrad validate {path}")
    return 0


def command_new_backend(args):
    try:
        path, module = new_backend.write_new(args.name)
    except (new_backend.NewBackendError, OSError) as error:
        print(f"crossgrad new-backend: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path}; check it on the seed case, in this folder, with: "
          f"pytest --crossgrad-backend {module}={module} -k seed_3_2_1")
    return 0


def command_fuzz(args):
    from crossgrad.fuzzing.command import run  # the search's modules, only when asked for
    return run(args, quiet=_quiet())


def _referees(text):
    if text.strip() in ("all", "none"):
        return list(REFEREES) if text.strip() == "all" else []
    return _names(tuple(REFEREES))(text)


def _names(known):
    def parse(text):
        names = [name.strip() for name in text.split(",") if name.strip()]
        for name in names:
            if name not in known:
                raise argparse.ArgumentTypeError(f"unknown {name!r}; choose from {', '.join(known)}")
        return names
    return parse


def parser():
    top = argparse.ArgumentParser(prog="crossgrad", description="Check backpropagation: the "
                                  "NumPy reference against PyTorch autograd and JAX.")
    commands = top.add_subparsers(dest="command", required=True)

    def selection(sub):
        sub.add_argument("--backends", type=_list, metavar="LIST",
                         help="comma-separated, from: " + ", ".join(adapters.names())
                              + ", and those added with --backend (default: all of them)")
        sub.add_argument("--backend", action="append", default=[], metavar="NAME=module:attribute",
                         help="add a backend of your own (or NAME=module), imported from the "
                              "current folder or PYTHONPATH; NAME is the report's backend column; "
                              "repeatable")
        sub.add_argument("--dtypes", type=_names(DTYPES), default=list(DTYPES),
                         help="comma-separated, from: " + ", ".join(DTYPES))

    sub = commands.add_parser("report", help="run the catalogue and write agreement.csv, "
                              "summary.md, agreement.md, agreement.html and heatmap.png")
    sub.add_argument("--cases", nargs="+", default=["cases"], metavar="DIR",
                     help="case files or folders (default: cases)")
    sub.add_argument("--out", default="reports", metavar="DIR", help="default: reports")
    sub.add_argument("--compare", metavar="PREVIOUS.csv", help="then list what changed since "
                     "that report, and exit 1 if anything got worse")
    sub.add_argument("--referees", type=_referees, default=list(REFEREES), metavar="LIST",
                     help="independent referees to add, comma-separated from fd (finite "
                          "differences), truth (proven ground truth), fwd (forward mode), or "
                          "all or none (default: all; each is size-bounded)")
    sub.add_argument("--executor", choices=executors.EXECUTORS, default="auto",
                     help="where the cases run: here (serial), in a pool of local processes, or "
                          "on a Dask cluster; the report is the same (default: auto, processes "
                          f"from {executors.AUTO_PROCESSES_FROM} runs on several CPUs)")
    sub.add_argument("--workers", type=int, metavar="N",
                     help="processes for --executor processes, or for the local Dask cluster "
                          "(default: one per CPU)")
    sub.add_argument("--scheduler", metavar="ADDRESS",
                     help="with --executor dask: the cluster's scheduler, e.g. "
                          "tcp://10.0.0.5:8786 (default: start a local cluster)")
    sub.add_argument("--gpu-backends", type=_names(adapters.BACKENDS), default=[], metavar="LIST",
                     help="with --executor dask: backends whose runs go to workers started with "
                          "--resources GPU=1")
    sub.add_argument("--batch", action="store_true",
                     help="run the cases of one topology through jax.vmap and torch.func.vmap, "
                          "one call for many; equal to case by case to rounding only")
    selection(sub)
    sub.set_defaults(handler=command_report)

    sub = commands.add_parser("diff", help="list what changed between two agreement.csv files; "
                              "exit 1 if anything got worse")
    sub.add_argument("old", metavar="OLD.csv")
    sub.add_argument("new", metavar="NEW.csv")
    sub.set_defaults(handler=command_diff)

    sub = commands.add_parser("show", help="print every backend's error terms and deltas")
    sub.add_argument("case", metavar="CASE.yaml")
    sub.add_argument("--json", action="store_true", help="print JSON instead")
    selection(sub)
    sub.set_defaults(handler=command_show)

    sub = commands.add_parser("validate", help="check case files; one line per problem")
    sub.add_argument("paths", nargs="*", default=["cases"], metavar="PATH")
    sub.set_defaults(handler=command_validate)

    sub = commands.add_parser("schema", help="print the JSON Schema of case files (kept as "
                              "cases/schema.json, for editors)")
    sub.set_defaults(handler=command_schema)

    sub = commands.add_parser("new", help="write a new case file that validates: a commented "
                              "template, or a copy of an existing case")
    sub.add_argument("name", metavar="NAME",
                     help="the new case's name: writes cases/NAME.yaml (cases/kinks/NAME "
                          "writes cases/kinks/NAME.yaml); a path ending in .yaml is written "
                          "where it says, even outside cases/; any other name that leaves "
                          "cases/ is refused")
    sub.add_argument("--from", dest="existing", metavar="EXISTING.yaml",
                     help="copy this case, comments and all, with a new description to write")
    sub.set_defaults(handler=command_new)

    sub = commands.add_parser("new-backend", help="write a commented template of a backend of "
                              "your own, which passes on the seed case as it stands")
    sub.add_argument("name", metavar="NAME", help="writes NAME.py (a module name), or give a "
                     "path ending in .py")
    sub.set_defaults(handler=command_new_backend)

    sub = commands.add_parser("fuzz", help="draw networks, run the backends on them, and write "
                              "each disagreement, shrunk, as a case file; exit 1 if any")
    budget = sub.add_mutually_exclusive_group()
    budget.add_argument("--cases", type=int, metavar="N", help="draw N networks (default 100)")
    budget.add_argument("--budget", type=float, metavar="SECONDS",
                        help="draw for this long instead (shrinking included)")
    sub.add_argument("--seed", type=int, default=0, help="draw i of seed S replays from (S, i) "
                     "alone (default 0)")
    sub.add_argument("--out", default="cases/found", metavar="DIR", help="default: cases/found")
    sub.add_argument("--executor", choices=executors.EXECUTORS, default="auto",
                     help="where the draws run, as for report (default: auto)")
    sub.add_argument("--workers", type=int, metavar="N", help="processes for --executor "
                     "processes (default: one per CPU)")
    selection(sub)
    sub.set_defaults(handler=command_fuzz)
    return top


def _list(text):
    return [name.strip() for name in text.split(",") if name.strip()]


def _choose_backends(args):
    """Register --backend's plug-ins and set args.backends to the backends to run; print one
    line for each plug-in that cannot run (the others go on) and return those lines. A usage
    error (a spec not NAME=module:attribute, an unknown name) exits 2 after one line, as
    argparse's do."""
    if not hasattr(args, "backends"):
        return []
    try:
        plugins.add(args.backend)
        args.backends, problems = plugins.choose(args.backends)
    except adapters.BackendError as error:
        print(f"crossgrad {args.command}: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    for problem in problems:
        print(f"crossgrad {args.command}: {problem}", file=sys.stderr)
    return problems


def main(argv=None):
    """Run one command; returns its exit status (130 when interrupted, as a shell would say)."""
    args = parser().parse_args(argv)
    try:
        backend_problems = _choose_backends(args)
        status = args.handler(args)
        return max(status, 1) if backend_problems else status
    except KeyboardInterrupt:
        kept = f"; {args.out} holds the last complete report" if args.command == "report" else ""
        print(f"crossgrad {args.command}: interrupted{kept}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
