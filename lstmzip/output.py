"""Output files that appear only when complete: a temporary file beside the target, renamed
into place by ``commit()``. Shared by the command line (``cli.py``) and ``cluster.run_files``.

The temporary file is ``.NAME.PID-HOST.XXXXXXXX.tmp`` beside NAME (PID: the writing process,
HOST: 4 hex digits of its host name). Ctrl-C, SIGTERM and SIGHUP remove it; nothing can at
SIGKILL (or a power cut), so the next output to NAME removes the temporary files of that naming
left by a process of this host that no longer exists (``remove_stale``).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import stat
import tempfile

from .errors import LstmzipError

# What --help and the README say about the temporary files.
TEMP_NOTE = ("Each output is first written to a hidden temporary file beside it, .NAME.PID-HOST.XXXXXXXX.tmp, "
             "renamed to NAME on success and removed on failure, Ctrl-C, SIGTERM or SIGHUP; one left by a "
             "killed process (SIGKILL, power loss) is removed by the next run that writes NAME.")
_TEMP = re.compile(r"\.(?P<base>.+)\.(?P<pid>[0-9]+)-(?P<host>[0-9a-f]{4})\.[a-z0-9_]{8}\.tmp\Z", re.S)


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode(errors="surrogateescape")).hexdigest()[:4]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True                      # exists (another user's), or cannot tell: keep its file
    return True


_SCANNED: dict = {}            # directory -> {base: [temporary files of other pids of this host]}


def remove_stale(directory: str, base: str) -> None:
    """Remove this naming's temporary files for `base` in `directory` whose writer, a process
    of this host, has died (a SIGKILL leaves them). Only regular files of this user are touched;
    a file whose pid is alive (or reused) stays. Each directory is listed once per process
    (`-r` over a large directory stays linear)."""
    if directory not in _SCANNED:
        host, me, found = _host_tag(), os.getpid(), {}
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    m = _TEMP.match(entry.name)
                    if m and m["host"] == host and int(m["pid"]) != me:
                        found.setdefault(m["base"], []).append((entry.path, int(m["pid"])))
        except OSError:
            pass
        _SCANNED[directory] = found
    for path, pid in _SCANNED[directory].pop(base, ()):
        if _alive(pid):
            continue
        try:
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                os.unlink(path)
        except OSError:
            pass


def _name_max(directory: str) -> int:
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


class AtomicOutput:
    """Write to a temporary file beside the target; rename into place only on success (or,
    with `force`, over it); ``abort()`` removes it. Never clobbers a file that appeared
    meanwhile unless forced."""

    TMP_RANDOM = 8            # tempfile's random part: ".NAME.PID-HOST." + 8 characters + ".tmp"
    error = LstmzipError      # what a refusal raises (the CLI uses its own Failure)
    HINT = "use -f (force=True) to overwrite"

    def __init__(self, path: str, force: bool, mode=None):
        self.path, self.force = path, force
        if os.path.exists(path) and not force:
            raise self.error(f"{path}: already exists; {self.HINT}")
        directory = os.path.dirname(os.path.abspath(path))
        # The temporary name adds up to 26 characters: shorten the copied name so it fits
        # NAME_MAX (a legal output name of 230..255 bytes must still work).
        base = os.path.basename(path)
        tag = f"{os.getpid()}-{_host_tag()}"
        room = _name_max(directory) - len(".." + "." + ".tmp") - len(tag) - self.TMP_RANDOM
        while base and len(os.fsencode(base)) > room:
            base = base[:-1]
        self.tmp = None
        remove_stale(directory, base)
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{base}.{tag}.", suffix=".tmp", dir=directory)
            self.file = os.fdopen(fd, "wb")
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.tmp, (mode if mode is not None else 0o666) & ~umask)
        except OSError as exc:
            self._remove()
            raise self.error(f"{path}: cannot write ({exc.strerror or exc})") from None
        except BaseException:
            self._remove()
            raise

    def _remove(self) -> None:
        if self.tmp and os.path.exists(self.tmp):
            os.unlink(self.tmp)

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        if self.force:
            os.replace(self.tmp, self.path)
        else:
            try:
                os.link(self.tmp, self.path)      # fails if the target appeared meanwhile: no clobber
            except FileExistsError:
                raise self.error(f"{self.path}: already exists; {self.HINT}") from None
            except OSError:
                if os.path.exists(self.path):
                    raise self.error(f"{self.path}: already exists; {self.HINT}") from None
                os.rename(self.tmp, self.path)    # filesystems without hard links
            finally:
                if os.path.exists(self.tmp):
                    os.unlink(self.tmp)

    def abort(self) -> None:
        try:
            self.file.close()           # may fail again (disk full): the file goes anyway
        except OSError:
            pass
        finally:
            self._remove()
