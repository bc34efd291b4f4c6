"""Where numba keeps lstmzip's compiled kernels, decided once, before any kernel module loads.

The kernels are ``@njit(cache=True)``. numba caches beside the source (``__pycache__``) or, if
that is not writable, under the user's cache directory (``$XDG_CACHE_HOME`` or ``~/.cache``);
where neither is (a read-only install run by a service account whose home is not writable, a
read-only container), every command failed with ``RuntimeError: cannot cache function ...: no
locator available``. ``configure()`` runs when ``lstmzip`` is imported: if ``NUMBA_CACHE_DIR``
is not set and neither default location is usable, it points numba at a private directory
under the temporary directory (``lstmzip-numba-UID``, mode 0700, owned by this user); if even
that fails, caching is switched off (each process then compiles the kernels, ~15 s).
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from typing import Optional

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
KERNEL_DIRS = (_PACKAGE, os.path.join(_PACKAGE, "cm"))   # where the @njit(cache=True) modules live


def _usable(directory: str) -> bool:
    """numba's own test (caching._CacheLocator.ensure_cache_path): create it, write a file in it."""
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
        return True
    except OSError:
        return False


def _user_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser(os.path.join("~", ".cache"))
    return os.path.join(base, "numba")


def _private_dir() -> Optional[str]:
    """A directory under the temp dir that only this user can write (or None)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = os.path.join(tempfile.gettempdir(), f"lstmzip-numba-{uid}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != uid) \
                or st.st_mode & 0o022:
            return None                      # someone else's, a link, or writable by others
    except OSError:
        return None
    return path if _usable(path) else None


def default_locations_usable() -> bool:
    """Whether numba can cache every kernel module without help."""
    return all(_usable(os.path.join(d, "__pycache__")) for d in KERNEL_DIRS) or _usable(_user_cache_dir())


def configure() -> Optional[str]:
    """Make numba's cache work here; returns the directory chosen, or None where nothing was
    changed (NUMBA_CACHE_DIR already set, or the default locations work)."""
    if os.environ.get("NUMBA_CACHE_DIR") or default_locations_usable():
        return None
    path = _private_dir()
    if path is None:
        _disable_caching()
        return None
    os.environ["NUMBA_CACHE_DIR"] = path
    config = sys.modules.get("numba.core.config")           # numba imported before lstmzip:
    if config is not None:                                  # it read the variable already
        config.CACHE_DIR = path
    return path


def _disable_caching() -> None:
    """Compile without a cache: njit(cache=True) becomes njit(cache=False) for lstmzip's kernels."""
    import numba

    if getattr(numba.njit, "_lstmzip_nocache", False):
        return
    original = numba.njit

    def njit(*args, **kwargs):
        kwargs["cache"] = False
        return original(*args, **kwargs)

    njit._lstmzip_nocache = True
    numba.njit = njit
