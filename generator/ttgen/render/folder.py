"""The atomic output folder: it appears complete or not at all.

Files are written into a temporary sibling folder (``.<name>.ttgen-tmp-*``,
hidden and ignored by ttgen) and the folder is renamed into place at the end.
With ``force``, an existing target is exchanged for the new folder in one atomic
step (Linux ``renameat2``; two renames elsewhere) only once the new folder is
complete, then removed; until then it stays intact. What a killed render left
beside the target is tidied by the next render into it (`remove_leftovers`). Every file's sha256 is
computed as it is written, for the manifest.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import itertools
import os
import shutil
import sys
from pathlib import Path
from types import TracebackType
from typing import Callable, Iterable, cast

from ..errors import OutputError, Problem, SourcePos
from ..layout import OLD_MARK, TMP_MARK, host_tag, numbered, side_name, side_owner


def _token() -> str:
    # Random, for names no other process picks; os.urandom spares importing uuid (~3 ms).
    return os.urandom(4).hex()


def _os_problem(exc: OSError, where: Path, doing: str) -> OutputError:
    hint = {
        errno.EACCES: "check the folder's permissions, or choose another with --out",
        errno.EPERM: "this place does not allow it: choose another folder with --out",
        errno.ENOENT: "a folder on the way is missing (removed meanwhile?) or cannot be created here: "
                      "choose another folder with --out",
        errno.EEXIST: "a file is in the way of the output folder's path: choose another folder with --out",
        errno.ENOTDIR: "a file is in the way of the output folder's path: choose another folder with --out",
        errno.EROFS: "the file system is read-only: choose another folder with --out",
        errno.ENOSPC: "the disk is full: free space or choose another folder with --out",
        errno.EDQUOT: "the disk quota is exceeded: free space or choose another folder with --out",
        errno.EFBIG: "a file size limit was hit (ulimit -f): raise it or choose another folder with --out",
    }.get(exc.errno or 0)
    return OutputError([Problem(f"cannot {doing}: {exc.strerror or exc}", pos=SourcePos(str(where)), hint=hint)])


class AtomicFolder:
    """Collects files in a temporary folder and renames it to *target* on success."""

    STREAM_BATCH = 4096  # chunks joined per write by `stream_text`

    def __init__(self, target: Path, *, force: bool = False, reserved: bool = False) -> None:
        self.target = Path(target)
        self.force = force
        # The target is an empty folder this render made to hold its name (`reserve_folder`):
        # the new folder replaces it, and it is removed if the render fails.
        self.reserved = reserved
        self.tmp: Path | None = None
        self.files: dict[str, str] = {}  # relative name -> sha256, in write order
        self.leftovers_removed: list[Path] = []

    def _check_target(self) -> None:
        if self.reserved:
            return
        if self.target.exists() and not self.target.is_dir():
            raise OutputError([Problem("output path exists and is not a folder", pos=SourcePos(str(self.target)),
                                       hint="choose another folder with --out")])
        if self.target.exists() and not self.force:
            raise OutputError([Problem("output folder already exists", pos=SourcePos(str(self.target)),
                                       hint="pass --force to replace it, or choose another folder with --out")])

    def __enter__(self) -> "AtomicFolder":
        # First, so that a previous folder a killed --force swap left aside is back in place.
        self.leftovers_removed = remove_leftovers(self.target)
        self._check_target()
        parent = self.target.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.tmp = parent / side_name(self.target.name, TMP_MARK, _token())
            self.tmp.mkdir()
        except OSError as exc:
            raise _os_problem(exc, parent, "create the output folder") from None
        return self

    def path(self, rel: str) -> Path:
        assert self.tmp is not None
        return self.tmp / rel

    def mkdir(self, rel: str) -> Path:
        p = self.path(rel)
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _os_problem(exc, p, "create a folder") from None
        return p

    def write_bytes(self, rel: str, data: bytes, *, mode: int = 0o644) -> str:
        """Write one file (permissions *mode*, less the umask) and record its sha256."""
        assert self.tmp is not None
        p = f"{self.tmp}/{rel}"  # a plain string: a Path per file costs more than the write itself
        try:
            # os-level calls: one open, write and close per config, without a buffered file object.
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        except OSError as exc:
            raise _os_problem(exc, Path(p), f"write {rel}") from None
        digest = hashlib.sha256(data).hexdigest()
        self.files[rel] = digest
        return digest

    def write_text(self, rel: str, text: str) -> str:
        return self.write_bytes(rel, text.encode("utf-8"))

    def stream_text(self, rel: str, chunks: Iterable[str]) -> str:
        """Write text that arrives in many small chunks (a template's output), hashing it."""
        p = self.path(rel)
        digest = hashlib.sha256()
        chunks = iter(chunks)
        try:
            with open(p, "wb") as fh:
                # Join a batch of chunks at a time: a template yields a dozen pieces per run,
                # and one Python-level call per piece would cost more than the writing.
                while batch := list(itertools.islice(chunks, self.STREAM_BATCH)):
                    data = "".join(batch).encode("utf-8")
                    digest.update(data)
                    fh.write(data)
        except OSError as exc:
            raise _os_problem(exc, p, f"write {rel}") from None
        self.files[rel] = digest.hexdigest()
        return self.files[rel]

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self.tmp is not None
        if exc_type is not None:
            self._discard()
            return
        try:
            self._commit()
        except BaseException:
            self._discard()
            raise

    def _discard(self) -> None:
        assert self.tmp is not None
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.reserved:
            try:
                os.rmdir(self.target)  # the empty folder that held the name; never one with files
            except OSError:
                pass

    def _commit(self) -> None:
        assert self.tmp is not None
        try:
            if self.reserved:
                os.rename(self.tmp, self.target)  # onto the empty reserved folder: one atomic rename
                return
            if not self.target.exists():
                os.rename(self.tmp, self.target)
                return
            if not self.force:
                raise OutputError([Problem("output folder appeared while rendering",
                                           pos=SourcePos(str(self.target)),
                                           hint="pass --force to replace it, or choose another folder with --out")])
        except OSError as exc:
            raise _os_problem(exc, self.target, "move the output folder into place") from None
        self._swap()

    def _swap(self) -> None:
        """Put the new folder at the target and remove the old one.

        With an atomic exchange the target always names a complete folder, the old or the
        new; the old one then sits at the temporary name until it is removed. Without it
        (not Linux, or a file system that lacks it), two renames; an interrupt or a failure
        between them puts the old folder back.
        """
        assert self.tmp is not None
        try:
            exchanged = exchange(self.tmp, self.target)
        except OSError as exc:
            raise _os_problem(exc, self.target, "move the output folder into place") from None
        if exchanged:
            shutil.rmtree(self.tmp, ignore_errors=True)  # now the previous folder
            return
        old = self.target.parent / side_name(self.target.name, OLD_MARK, _token())
        try:
            os.rename(self.target, old)
            os.rename(self.tmp, self.target)
        except BaseException as exc:  # an OSError, or Ctrl-C between the two renames
            if old.exists() and not self.target.exists():
                os.rename(old, self.target)  # put the previous folder back
            if isinstance(exc, OSError):
                raise _os_problem(exc, self.target, "move the output folder into place") from None
            raise
        shutil.rmtree(old, ignore_errors=True)


def exchange(a: Path, b: Path) -> bool:
    """Swap the two existing paths *a* and *b* in one atomic step (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``). Returns False, having changed nothing, where the system or the
    file system cannot do it; raises OSError for any other failure."""
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # an old kernel, or a file system without exchange (some network ones)
    raise OSError(err, os.strerror(err), str(b))


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """libc's renameat2 (glibc 2.28+), or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return cast(Callable[..., int], fn)


def remove_leftovers(target: Path) -> list[Path]:
    """Tidy what a killed render into *target* left beside it, and return what was removed.

    Only leftovers made on this machine by processes no longer running are touched (the
    name carries the pid and a tag of the machine): a temporary folder is removed; a
    previous folder that a two-rename swap had moved aside is put back if nothing is at
    *target*, and removed otherwise.
    """
    removed: list[Path] = []
    try:
        entries = sorted(os.scandir(target.parent), key=lambda e: e.name)
    except OSError:
        return removed
    here = host_tag()
    for entry in entries:
        owner = side_owner(target.name, entry.name)
        if owner is None or owner[2] != here or _alive(owner[1]) or not entry.is_dir(follow_symlinks=False):
            continue
        path = Path(entry.path)
        try:
            if owner[0] == OLD_MARK and not os.path.lexists(target):
                os.rename(path, target)
                continue
            shutil.rmtree(path)
            removed.append(path)
        except OSError:
            pass  # not ours to fix (permissions); the docs say it may be deleted by hand
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by another user
    return True


def reserve_folder(first: Path) -> Path:
    """Create the first free folder of *first*, ``<first>_2``, ... and return it: two renders in the
    same second never pick the same default folder (mkdir is atomic)."""
    for candidate in numbered(first):
        try:
            candidate.parent.mkdir(parents=True, exist_ok=True)
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
        except OSError as exc:
            raise _os_problem(exc, candidate, "create the output folder") from None
    raise AssertionError("unreachable")
