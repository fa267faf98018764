"""Where compiled programs are kept between runs: JAX's persistent compilation cache.

A jit compilation costs about 100 ms on a small network, a cached one a few milliseconds, so a
second run of the catalogue skips nearly all of XLA. The folder is CROSSGRAD_JAX_CACHE, or
$XDG_CACHE_HOME/crossgrad/jax (~/.cache/crossgrad/jax); CROSSGRAD_JAX_CACHE=off turns it off, and
a folder the user gave JAX itself (JAX_COMPILATION_CACHE_DIR) is left as it is.

Several processes share the folder safely: with a size limit set, JAX's cache takes a file lock
around every read and write (filelock), so no process reads an entry another is still writing.
Without filelock the cache stays off. Only the user may write the folder: JAX runs what it finds
there.
"""
import os
from pathlib import Path

ENVIRONMENT = "CROSSGRAD_JAX_CACHE"
MAX_BYTES = 1 << 30  # evicts the least recently used entries beyond 1 GiB


def cache_folder():
    """The cache folder crossgrad uses, or None when CROSSGRAD_JAX_CACHE is 'off'."""
    given = os.environ.get(ENVIRONMENT, "").strip()
    if given.lower() in ("off", "0", "false", "none"):
        return None
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "crossgrad" / "jax"


def use_persistent_cache(jax):
    """Point `jax` at the cache folder, caching every compilation however short; returns it."""
    if jax.config.jax_compilation_cache_dir:  # the user's own setting wins
        return Path(jax.config.jax_compilation_cache_dir)
    folder = cache_folder()
    try:
        import filelock  # noqa: F401  (JAX's cache locks its entries with it)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except (ImportError, OSError, AttributeError):  # AttributeError: folder is None
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    return folder
