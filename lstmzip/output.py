"""Output files that appear only when complete: a temporary file beside the target, renamed
into place by ``commit()``. Shared by the command line (``cli.py``) and ``cluster.run_files``."""

from __future__ import annotations

import os
import tempfile

from .errors import LstmzipError


def _name_max(directory: str) -> int:
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


class AtomicOutput:
    """Write to a temporary file beside the target; rename into place only on success (or,
    with `force`, over it); ``abort()`` removes it. Never clobbers a file that appeared
    meanwhile unless forced."""

    TMP_RANDOM = 8            # tempfile's random part: ".NAME." + 8 characters + ".tmp"
    error = LstmzipError      # what a refusal raises (the CLI uses its own Failure)
    HINT = "use -f (force=True) to overwrite"

    def __init__(self, path: str, force: bool, mode=None):
        self.path, self.force = path, force
        if os.path.exists(path) and not force:
            raise self.error(f"{path}: already exists; {self.HINT}")
        directory = os.path.dirname(os.path.abspath(path))
        # The temporary name adds 14 characters: shorten the copied name so it fits NAME_MAX
        # (a legal output name of 242..255 bytes must still work).
        base = os.path.basename(path)
        room = _name_max(directory) - len(".." + ".tmp") - self.TMP_RANDOM
        while base and len(os.fsencode(base)) > room:
            base = base[:-1]
        self.tmp = None
        try:
            fd, self.tmp = tempfile.mkstemp(prefix="." + base + ".", suffix=".tmp", dir=directory)
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
