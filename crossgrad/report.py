"""The report: the rows (row_store.RowStore, or Comparisons), and the files `crossgrad report`
writes.

- agreement.csv: every row with every column, the machine-readable record;
- summary.md: cases × backend/dtype at a glance, under the date, versions, machine and counts;
- agreement.md: the details (declared divergences, failures, skips, each case by layer);
- agreement.html and heatmap.png: the page and the picture.

Everything but the date line of summary.md and of the page is a function of the rows, the
versions and the machine: two runs of the same catalogue write the same bytes. Each step is one
pass over the rows (or a sort): the rows are grouped once, never filtered case by case, and a
catalogue of more than triage.LARGE cases is shown as triage describes.
"""
import datetime
import operator
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from crossgrad import adapters, cells, file_set, heatmap, html_report, markdown_report, triage
from crossgrad.compare import COLUMNS, STATUSES, Comparison
from crossgrad.row_store import ORDER, RowStore
from crossgrad.training import drift

FILES = ("agreement.csv", "summary.md", "agreement.md", "agreement.html", "heatmap.png")


@dataclass(frozen=True)
class Header:
    """What stands over the summary: when, with what, on what, and how it went."""

    date: str  # the one line that differs between two runs of the same catalogue
    versions: dict  # "Python", "NumPy", "PyTorch", "JAX" (and optional ones) -> version
    machine: str
    counts: dict  # status -> rows
    cases: int
    rows: int
    notices: tuple = ()  # lines that must be read before anything else, above the tables

    def counts_line(self):
        """'10 cases, 413 rows: 405 pass · 0 fail · 0 expected divergence · 8 skipped'."""
        return (f"{self.cases} cases, {self.rows} rows: "
                + " · ".join(f"{self.counts[s]} {s.replace('_', ' ')}" for s in STATUSES))

    def versions_line(self):
        return " · ".join(f"{name} {version}" for name, version in self.versions.items())


def invalid_rows(errors):
    """One failing row per problem in an invalid case file."""
    return [Comparison(case=Path(e.path).stem, backend="", dtype="", device="", layer=None,
                       quantity="", compared_to="", status="fail", problem=f"invalid case: {e}")
            for e in errors]


def to_frame(comparisons):
    """The rows as a DataFrame with the report's column order."""
    values = operator.attrgetter(*COLUMNS)
    frame = pd.DataFrame([values(c) for c in comparisons], columns=list(COLUMNS))
    for column in ("layer", "first_divergent_layer", "step", "first_divergent_step"):
        frame[column] = frame[column].astype("Int64")
    return frame[list(ORDER)]


def versions():
    """The versions of Python and of each framework that is installed, for the report's header."""
    found = {"Python": platform.python_version()}
    for backend, label in (("numpy", "NumPy"), ("torch", "PyTorch"), ("jax", "JAX")):
        found[label] = adapters.framework_version(backend) or "not installed"
    for backend, label in (("tensorflow", "TensorFlow"), ("tinygrad", "tinygrad"),
                           ("autograd", "autograd")):  # the optional ones, where installed
        if adapters.framework_version(backend):
            found[label] = adapters.framework_version(backend)
    return found


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _gpu_names():
    """The GPUs' names as nvidia-smi gives them, or nothing where it is absent."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listed = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({name.strip() for name in listed.splitlines() if name.strip()})


def machine(devices):
    """'AMD EPYC, 2 CPUs, Linux x86_64', with '; GPU …' where a row ran on another device."""
    text = (f"{_cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}")
    others = sorted({d for d in devices if d and d != "cpu"})
    if others:
        text += f"; GPU ({', '.join(others)}): {', '.join(_gpu_names()) or 'name unknown'}"
    return text


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def header(store, now=None):
    """The Header of the report of `store` (a RowStore); `now` (a datetime) defaults to the
    current time."""
    now = now or _now()
    return Header(date=now.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                  versions=versions(), machine=machine(store.devices),
                  counts={s: store.counts.get(s, 0) for s in STATUSES},
                  cases=len(store.per_case()), rows=store.rows,
                  notices=harness_notices(store.harness_errors()))


# A harness error's lines stand above everything; past this many, the rest are counted.
HARNESS_LINES_SHOWN = 20


def harness_notices(lines):
    """The notices for reference rows outside their tolerance against the ground truth: a
    headline, then one line each (the first HARNESS_LINES_SHOWN)."""
    if not lines:
        return ()
    headline = (f"Harness error: the float64 reference is outside its tolerance against the "
                f"proven ground truth in {len(lines)} rows. Rows compared with the reference "
                "in these cases may blame a backend that is right; the rows against "
                "ground_truth stand. This is crossgrad's fault: please report it.")
    shown = lines[:HARNESS_LINES_SHOWN]
    more = [f"… and {len(lines) - len(shown)} more in agreement.csv"] if len(lines) > len(shown) \
        else []
    return (headline, *shown, *more)


def _by_case(frame):
    return {case: rows.reset_index(drop=True) for case, rows in frame.groupby("case", sort=False)}


def write(rows, out, cases=(), now=None, errors=()):
    """Write the report's FILES for `rows` into the folder `out`, all together: an interrupted
    write leaves the previous files as they were (see file_set).

    `rows` is a RowStore, or Comparisons in report order; `cases` are the Case objects that
    ran, for their descriptions, networks and folders; `errors` the CaseErrors of invalid case
    files, for their folders; `now` is the time to print (default: the current time). Returns
    the paths written, in FILES' order.
    """
    store = rows if isinstance(rows, RowStore) else None
    if store is None:
        store = RowStore()
        store.add_all(rows)
    try:
        return _write(store, Path(out), cases, now, errors)
    finally:
        if not isinstance(rows, RowStore):
            store.close()


def _write(store, out, cases, now, errors):
    top = header(store, now)
    paths = {Path(error.path).stem: error.path for error in errors}
    paths.update({case.name: case.path for case in cases})
    plan = triage.plan(store.per_case(), triage.folder_names(paths))
    shown = store.rows_of(plan.shown)  # every row of the cases the views show, and no other
    summary = cells.fold(shown, ["case"], plan.order)
    cells_by_case = cells.case_cells(shown)
    rows_by_case = _by_case(shown)
    messages = {}
    for _, _, case, message, _, _ in store.failures_in_order():
        messages.setdefault(case, []).append(message)
    figure = heatmap.figure(summary, plan)
    by_name = {case.name: case for case in cases}
    trajectories = _trajectories(store, [c.name for c in cases if c.training is not None])
    contents = {
        "agreement.csv": store.write_csv,
        "summary.md": markdown_report.summary(top, summary, store.truth_frame(), plan,
                                              {name: table for name, (table, _)
                                               in trajectories.items()}),
        "agreement.md": markdown_report.details(store, top, cells_by_case, by_name, plan),
        "agreement.html": html_report.page(top, summary, plan, by_name, cells_by_case,
                                           rows_by_case, messages,
                                           heatmap.render(figure, "svg"),
                                           {name: (table, heatmap.render(chart, "svg"))
                                            for name, (table, chart) in trajectories.items()}),
        "heatmap.png": heatmap.render(figure, "png"),
    }
    charts = {drift_file(name): heatmap.render(chart, "png")
              for name, (_, chart) in trajectories.items()}
    file_set.replace_together(out, {**{name: contents[name] for name in FILES}, **charts})
    return [out / name for name in FILES + tuple(charts)]


def drift_file(case):
    """The drift chart's file name for a training case, next to heatmap.png."""
    return f"drift_{case}.png"


def _trajectories(store, names):
    """{training case: (its drift table, its drift chart)}, from its rows in the store."""
    if not names:
        return {}
    rows = store.rows_of(names)
    return {name: (drift.table(group), drift.figure(name, group))
            for name, group in rows.groupby("case", sort=False)
            if group["step"].notna().any()}
