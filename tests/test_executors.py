"""Every executor gives the rows of running the cases one after another here: a pool of spawned
processes, a real Dask LocalCluster of two worker processes, and GPU runs sent by worker
resources to the worker that offers them."""
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crossgrad import executors, runner
from crossgrad.cases import load_case
from crossgrad.cli import main
from crossgrad.compare import COLUMNS

ROOT = Path(__file__).resolve().parent.parent
# small cases; the three saturation cases and the two seed-network cases share topologies
CASE_FILES = ["seed_3_2_1.yaml", "numerics/learning_rate_10.yaml", "kinks/relu_at_zero.yaml",
              "generated/generated_tanh_4_16_8_3.yaml", "numerics/tanh_saturated_20.yaml",
              "numerics/tanh_saturated_40.yaml"]
REPORT = ["--referees", "none", "--backends", "numpy,torch,jax"]


@pytest.fixture(scope="module")
def runs():
    cases = [load_case(ROOT / "cases" / name) for name in CASE_FILES]
    return [(case, backend, dtype) for case in cases for backend in ("numpy", "torch", "jax")
            for dtype in case.dtypes]


def table(results, without=()):
    """Row lists as comparable tuples of every column (NaN made equal to NaN)."""
    names = [name for name in COLUMNS if name not in without]
    return [[tuple("nan" if isinstance(v, float) and math.isnan(v) else v
                   for v in (getattr(row, name) for name in names)) for row in rows]
            for rows in results]


def test_units_keep_a_topology_together_and_split_off_gpu_backends(runs):
    units = executors.units(runs)
    assert sorted(p for unit in units for p in unit.positions) == list(range(len(runs)))
    saturated = [u for u in units if any(c.name == "tanh_saturated_20" for c, _, _ in u.runs)]
    assert len(saturated) == 1  # both saturation cases, every backend and dtype, in one unit
    assert {c.name for c, _, _ in saturated[0].runs} == {"tanh_saturated_20", "tanh_saturated_40"}
    assert all(not unit.resources for unit in units)
    split = executors.units(runs, gpu_backends=("torch",))
    assert {b for u in split if u.resources == {"GPU": 1} for _, b, _ in u.runs} == {"torch"}
    assert {b for u in split if not u.resources for _, b, _ in u.runs} == {"numpy", "jax"}
    assert len(executors.units(runs, unit_cases=1)) == len(units) + 2  # one case per unit


def test_a_worker_drops_its_compiled_programs_only_when_the_topology_changes(runs, monkeypatch):
    # units of one case each: the two saturation cases and the two seed-network cases give
    # two topologies of two units; every topology's units run one after another, so the
    # programs are dropped once per topology, not once per unit (each drop costs a trace and
    # a cache read per program: most of a small case's time at 10,000 cases)
    dropped = []
    monkeypatch.setattr(executors, "_drop_compiled_programs", lambda: dropped.append(1))
    monkeypatch.setitem(executors._held, "topology", None)
    monkeypatch.setattr(runner, "run_many", lambda unit_runs, *_: [[] for _ in unit_runs])
    todo = executors._largest_first(executors.units(runs, unit_cases=1))
    topologies = [executors.adapters.topology(u.runs[0][0].problem) for u in todo]
    changes = sum(a != b for a, b in zip(topologies, topologies[1:])) + 1
    assert len(todo) == len(CASE_FILES) and changes == len(set(topologies)) == 4
    for unit in todo:
        executors.run_unit(unit)
    assert len(dropped) == changes
    costs = [u.cost for u in todo]
    assert costs[0] == max(costs)  # the costliest topology's units first


def test_auto_uses_processes_only_for_large_runs_on_several_cpus():
    assert executors.resolve("auto", executors.AUTO_PROCESSES_FROM - 1, workers=2) == "serial"
    assert executors.resolve("auto", executors.AUTO_PROCESSES_FROM, workers=2) == "processes"
    assert executors.resolve("auto", 10**6, workers=1) == "serial"
    assert executors.resolve("dask", 1) == "dask"
    with pytest.raises(ValueError, match="unknown executor"):
        executors.resolve("threads", 1)


def test_process_pool_gives_the_serial_rows_in_the_serial_order(runs):
    one_by_one = [runner.run(case, backend, dtype) for case, backend, dtype in runs]
    serial = executors.execute(runs, executor="serial")
    pooled = executors.execute(runs, executor="processes", workers=2)
    assert table(serial) == table(one_by_one)
    assert table(pooled) == table(one_by_one)
    assert sum(map(len, pooled)) > 50  # rows, not only skips (82 with numpy alone)


def report_files(tmp_path, name, *options):
    out = tmp_path / name
    cases = [str(ROOT / "cases" / case) for case in CASE_FILES]
    assert main(["report", "--cases", *cases, "--out", str(out), *REPORT, *options]) == 0
    return {path.name: path.read_bytes() for path in out.iterdir()}


def without_date(markdown):
    lines = markdown.decode().splitlines()
    assert sum(line.startswith("- **Date:**") for line in lines) == 1
    return [line for line in lines if not line.startswith("- **Date:**")]


def test_dask_local_cluster_report_equals_the_local_report(tmp_path):
    pytest.importorskip("distributed")
    local = report_files(tmp_path, "local", "--executor", "serial")
    on_dask = report_files(tmp_path, "dask", "--executor", "dask", "--workers", "2")
    # no timing columns: every byte of the rows is the same
    assert on_dask["agreement.csv"] == local["agreement.csv"]
    assert on_dask["agreement.md"] == local["agreement.md"]
    assert without_date(on_dask["summary.md"]) == without_date(local["summary.md"])
    assert on_dask["agreement.csv"].count(b"\n") > 50


def test_gpu_runs_go_to_the_worker_with_the_gpu_resource(runs):
    distributed = pytest.importorskip("distributed")
    # the 'GPU' worker computes on device cpu:0, so its rows show where they ran
    workers = {"plain": {"cls": distributed.Nanny, "options": {"nthreads": 1}},
               "gpu": {"cls": distributed.Nanny, "options": {
                   "nthreads": 1, "resources": {"GPU": 1},
                   "env": {"CROSSGRAD_TORCH_DEVICE": "cpu:0"}}}}
    scheduler = {"cls": distributed.Scheduler, "options": {"dashboard_address": ":0"}}
    with distributed.SpecCluster(scheduler=scheduler, workers=workers) as cluster:
        routed = executors.execute(runs, executor="dask", scheduler=cluster.scheduler_address,
                                   gpu_backends=("torch",))
    devices = {(row.backend, row.device) for rows in routed for row in rows}
    assert devices == {("numpy", "cpu"), ("torch", "cpu:0"), ("jax", "cpu")}
    serial = executors.execute(runs, executor="serial")
    assert table(routed, without=("device",)) == table(serial, without=("device",))


def test_gpu_runs_without_a_gpu_worker_are_refused(runs):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster:
        with pytest.raises(executors.ExecutorError, match="no Dask worker offers GPU"):
            executors.execute(runs[:2], executor="dask", scheduler=cluster.scheduler_address,
                              gpu_backends=("numpy",))


def test_scheduler_needs_the_dask_executor(tmp_path, capsys):
    code = main(["report", "--cases", str(ROOT / "cases" / "seed_3_2_1.yaml"), "--out",
                 str(tmp_path), "--scheduler", "tcp://127.0.0.1:8786"])
    assert code == 2
    assert "--executor dask" in capsys.readouterr().err


def workers_of(pid):
    """The spawned worker processes whose parent is `pid` (Linux's /proc)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines()
                          if ":\t" in line)
            command = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid) and b"spawn_main" in command:
            found.append(int(status.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_ctrl_c_stops_the_pool_with_one_line_and_leaves_no_worker(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "crossgrad", "report", "--cases", str(ROOT / "cases"), "--out",
         str(tmp_path / "out"), "--executor", "processes", "--workers", "2", *REPORT],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    deadline = time.monotonic() + 120
    while not workers_of(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers_of(process.pid), "no worker started"
    os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C does: the whole process group
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert err.strip().splitlines() == [
        f"crossgrad report: interrupted; {tmp_path / 'out'} holds the last complete report"]
    assert group_ends(process.pid, within=10), "a process of the run outlived it"


def group_ends(group, within):
    """Whether no process is left in process group `group` within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False
