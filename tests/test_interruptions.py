"""An interrupted `crossgrad report` leaves the previous report byte for byte, and no temporaries.

The real test kills a real run: `crossgrad report` on a catalogue that keeps it busy for
seconds, started on top of a previous good report, is sent SIGINT (and, separately, SIGKILL)
once it has printed its invalid case's line, which it does after loading the catalogue and
before running it. The rest test file_set's parts in process: an interrupt while the
temporaries are written, SIGINT held during the renames, and stale temporaries removed.
"""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crossgrad import file_set
from crossgrad.cli import main
from crossgrad.report import FILES

ROOT = Path(__file__).resolve().parent.parent
SEED = (ROOT / "cases" / "seed_3_2_1.yaml").read_text(encoding="utf-8")
WIDE = """\
description: A wide generated network, to keep a report busy for a second or so.
network: {{sizes: [512, 512, 512, 512, 8], activations: tanh, seed: {seed}}}
data: {{batch: 512, seed: {seed}}}
loss: mean_squared_error
"""
REPORT = ["--backends", "numpy", "--referees", "none"]


def snapshot(folder):
    """Every file in `folder`, hidden ones included: name -> bytes."""
    return {path.name: path.read_bytes() for path in sorted(Path(folder).iterdir())}


@pytest.fixture(scope="module")
def previous_report(tmp_path_factory):
    """A good report of the seed case, written once: (folder, snapshot)."""
    base = tmp_path_factory.mktemp("previous")
    (base / "cases").mkdir()
    (base / "cases" / "seed_3_2_1.yaml").write_text(SEED, encoding="utf-8")
    assert main(["report", "--cases", str(base / "cases"), "--out", str(base / "out"),
                 *REPORT]) == 0
    files = snapshot(base / "out")
    assert sorted(files) == sorted(FILES)
    return base / "out", files


@pytest.fixture
def out(tmp_path, previous_report):
    """A copy of the previous report to run on top of."""
    shutil.copytree(previous_report[0], tmp_path / "out")
    return tmp_path / "out"


@pytest.fixture(scope="module")
def slow_catalogue(tmp_path_factory):
    """Twelve 512-wide cases (about a second each here) and one invalid file."""
    folder = tmp_path_factory.mktemp("slow")
    for seed in range(12):
        (folder / f"wide_{seed:02}.yaml").write_text(WIDE.format(seed=seed), encoding="utf-8")
    (folder / "broken.yaml").write_text("description: broken\nlos: mse\n", encoding="utf-8")
    return folder


def start_and_signal(catalogue, out, signum):
    """Start `crossgrad report`, wait until it has loaded the catalogue (its invalid file's line
    is on stderr), let it run a moment, send `signum`; returns (exit code, stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "crossgrad", "report", "--cases", str(catalogue), "--out",
         str(out), *REPORT], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "CI": "1"})
    try:
        lines = []
        deadline = time.monotonic() + 60
        while not any("broken.yaml" in line for line in lines):
            line = process.stderr.readline()
            assert line and time.monotonic() < deadline, "".join(lines)
            lines.append(line)
        time.sleep(0.3)  # into the run of the wide cases
        assert process.poll() is None, "the run ended before the signal"
        process.send_signal(signum)
        rest = process.communicate(timeout=60)[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, "".join(lines) + rest


def test_sigint_mid_run_keeps_the_previous_report(slow_catalogue, out, previous_report):
    """SIGINT: exit 130 with one line and no traceback; the old files byte-identical, and no
    temporaries left."""
    code, stderr = start_and_signal(slow_catalogue, out, signal.SIGINT)
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1] == (f"crossgrad report: interrupted; {out} holds the last "
                                       "complete report")
    assert snapshot(out) == previous_report[1]


def test_sigkill_mid_run_keeps_the_previous_report(slow_catalogue, out, previous_report):
    """SIGKILL cannot be caught: the old files are still byte-identical, and no temporaries."""
    code, _ = start_and_signal(slow_catalogue, out, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert snapshot(out) == previous_report[1]


def test_interrupt_while_writing_temporaries_keeps_the_old_files(tmp_path, out, previous_report,
                                                                  monkeypatch, capsys):
    """KeyboardInterrupt at the third temporary: exit 130, the two written are removed, the
    previous files stay."""
    write_temporary = file_set._write_temporary
    written = []

    def interrupted_at_third(path, content):
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(write_temporary(path, content))
        return written[-1]

    monkeypatch.setattr(file_set, "_write_temporary", interrupted_at_third)
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "seed_3_2_1.yaml").write_text(SEED, encoding="utf-8")
    code = main(["report", "--cases", str(tmp_path / "cases"), "--out", str(out), *REPORT])
    assert code == 130
    assert capsys.readouterr().err.endswith(f"crossgrad report: interrupted; {out} holds the "
                                            "last complete report\n")
    assert len(written) == 2 and not any(Path(t).exists() for t in written)
    assert snapshot(out) == previous_report[1]


def test_sigint_during_the_renames_waits_until_the_set_is_complete(tmp_path, monkeypatch):
    """A SIGINT that arrives at the first rename is held: every file is renamed, and only then
    does KeyboardInterrupt arrive."""
    if not hasattr(signal, "pthread_sigmask"):
        pytest.skip("this platform cannot hold signals")
    replace = os.replace

    def signalled_replace(source, target):
        os.kill(os.getpid(), signal.SIGINT)
        replace(source, target)

    monkeypatch.setattr(file_set.os, "replace", signalled_replace)
    contents = {name: f"new {name}" for name in ("a.txt", "b.txt", "c.txt")}
    for name in contents:
        (tmp_path / name).write_text(f"old {name}", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        file_set.replace_together(tmp_path, contents)
    assert snapshot(tmp_path) == {name: text.encode() for name, text in contents.items()}


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    """A temporary of a process that is gone goes; a running process's, and other files, stay."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    dead, alive = process.pid, os.getpid()
    names = {"stale": f".agreement.csv.{dead}.k2j4h1ab.tmp",
             "running": f".agreement.csv.{alive}.x9y8z7ab.tmp",
             "foreign": f".notes.txt.{dead}.abcdefgh.tmp", "hidden": ".keep"}
    for name in names.values():
        (tmp_path / name).write_text("x", encoding="utf-8")
    file_set.replace_together(tmp_path, {"agreement.csv": "new\n"})
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        ["agreement.csv", names["running"], names["foreign"], names["hidden"]])
