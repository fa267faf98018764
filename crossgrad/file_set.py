"""Replacing a set of files together: the folder holds the old set or the new one, never a mix.

Every file is first written in full to a hidden temporary beside it, `.NAME.PID.XXXXXXXX.tmp`,
and only then are all renamed into place, with SIGINT and SIGTERM held back for those renames.
An interrupt before that leaves the old files and removes the temporaries; a SIGKILL can leave
temporaries behind, which the next write into the folder removes once their process is gone.
"""
import contextlib
import os
import re
import signal
import tempfile
import threading
from pathlib import Path

_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.tmp$")


def replace_together(folder, contents):
    """Write `contents` ({file name: str, bytes, or a function that writes the file's bytes into
    the binary file it is given}) into `folder` as one set, in its order.
    Temporaries of these names that a killed process left in `folder` are removed first."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder, contents)
    temporaries = {}
    try:
        for name, content in contents.items():
            temporaries[name] = _write_temporary(folder / name, content)
        with _signals_held():  # an interrupt between two renames would leave a mix
            for name in contents:
                os.replace(temporaries.pop(name), folder / name)
    finally:
        for temporary in temporaries.values():
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def remove_stale_temporaries(folder, names):
    """Remove the temporaries of `names` in `folder` whose writing process no longer runs."""
    for path in Path(folder).iterdir():
        match = _TEMPORARY.match(path.name)
        if match and match["name"] in names and not _running(int(match["pid"])):
            with contextlib.suppress(OSError):
                path.unlink()


def _running(pid):
    if pid == os.getpid() or os.name != "posix":  # elsewhere os.kill(pid, 0) would end it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, as another user's process
        return True
    return True


def _write_temporary(path, content):
    """`content` (str, bytes, or a writer: see replace_together) in full in a new temporary
    beside `path`; returns its name."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                         suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(temporary, 0o666 & ~umask)  # as open() would make it, not mkstemp's 0600
        with os.fdopen(handle, "wb") as file:
            if callable(content):
                content(file)
            else:
                file.write(content.encode("utf-8") if isinstance(content, str) else content)
    except BaseException:
        os.unlink(temporary)
        raise
    return temporary


@contextlib.contextmanager
def _signals_held():
    """SIGINT and SIGTERM that arrive during the block are delivered after it. (Blocking them
    with a signal mask would not do: BLAS threads would take them instead.) Python sets
    handlers only in the main thread; elsewhere the block runs unguarded."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived = []
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    previous = {number: handler for number, handler in previous.items() if handler is not None}
    for number in previous:
        signal.signal(number, lambda number, frame: arrived.append(number))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in arrived:  # now, with the handler it would have met
            signal.raise_signal(number)
