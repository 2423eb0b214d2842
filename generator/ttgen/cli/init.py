"""``ttgen init``: write a commented starter experiment.yaml for a base config.

The starter is written only as a regular file (docs/guarantees.md): an
existing target that is not one (a folder, a FIFO, a device, a link to one) is
refused even with ``--force``, and so is the base config the starter is made
from. The text goes to a temporary file beside the target, renamed over it when
complete; on any failure the temporary file is removed and the old file kept.
"""

from __future__ import annotations

import argparse
import errno
import os
import stat
from pathlib import Path
from typing import Any

from ..errors import OutputError, Problem, SourcePos
from ..layout import DEFAULT_EXPERIMENT, TMP_MARK
from .output import EXIT_OK, shown_path

# What to do about an OSError while writing FILE, by errno.
_HINTS = {
    errno.EACCES: "check the folder's permissions, or choose another file with --out",
    errno.EPERM: "this place does not allow it: choose another file with --out",
    errno.ENOENT: "a folder on the way is missing or cannot be created here: choose another file with --out",
    errno.EEXIST: "a file is in the way of the folder: choose another file with --out",
    errno.ENOTDIR: "a file is in the way of the folder: choose another file with --out",
    errno.EISDIR: "a folder is in the way: choose another file with --out",
    errno.ENAMETOOLONG: "the file name is too long for this file system: choose a shorter one with --out",
    errno.EROFS: "the file system is read-only: choose another file with --out",
    errno.ENOSPC: "the disk is full: free space or choose another file with --out",
    errno.EDQUOT: "the disk quota is exceeded: free space or choose another file with --out",
    errno.EFBIG: "a file size limit was hit (ulimit -f): raise it or choose another file with --out",
}


def register(sub: Any) -> None:
    p = sub.add_parser("init", help="write a starter experiment.yaml for a base config",
                       description="Write a commented starter experiment.yaml for BASE_CONFIG (a config torchtune "
                                   "ships, see `ttgen ls`, or a YAML file), listing its most common knobs.",
                       epilog="examples:\n  ttgen init llama3_2/1B_lora_single_device\n"
                              "  ttgen init qwen2_5/0.5B_full_single_device --out studies/qwen.yaml\n"
                              "  ttgen init my_base.yaml --force",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base", metavar="BASE_CONFIG", help="e.g. llama3_2/1B_lora_single_device, or my_base.yaml")
    p.add_argument("--out", type=Path, default=Path(DEFAULT_EXPERIMENT), metavar="FILE",
                   help="where to write it (default: ./experiment.yaml)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file (only a regular file)")
    p.set_defaults(func=run, writes_output=True)


def _refuse(out: Path, message: str, hint: str) -> OutputError:
    return OutputError([Problem(message, pos=SourcePos(str(out)), hint=hint)])


def _os_problem(exc: OSError, out: Path, doing: str) -> OutputError:
    return _refuse(out, f"cannot {doing}: {exc.strerror or exc}",
                   _HINTS.get(exc.errno or 0, "choose another file with --out"))


def _check_target(out: Path, *, force: bool) -> None:
    """Refuse a target that exists and is not a regular file (following links), or exists without --force."""
    try:
        st = os.stat(out)
    except FileNotFoundError:
        return  # nothing there (or a dangling link, which the rename replaces)
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG, errno.EACCES):
            return  # the write below reports it, with its own message
        raise _os_problem(exc, out, "look at the file") from None
    if stat.S_ISDIR(st.st_mode):
        raise _refuse(out, "is a folder, not a file",
                      f"give a file name, e.g. --out {shown_path(out / 'experiment.yaml')}")
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(out, "exists and is not a regular file (a device, a FIFO or a socket); ttgen init writes "
                      "only regular files, even with --force", "choose another file with --out")
    if not force:
        raise _refuse(out, "already exists", "pass --force to overwrite it, or choose another file with --out")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _tmp_name(out: Path) -> Path:
    # Short enough to fit wherever the target's own name fits (at most 255 bytes).
    stem = out.name.encode("utf-8", "surrogateescape")[:150].decode("utf-8", "ignore")
    return out.with_name(f".{stem}{TMP_MARK}{os.getpid()}")


def write_regular_file(out: Path, text: str) -> None:
    """Write *text* to *out* through a temporary file beside it; never leaves the temporary file behind."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_problem(exc, out, "create its folder") from None
    tmp = _tmp_name(out)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(tmp, flags, 0o644)
    except OSError as exc:
        raise _os_problem(exc, out, "write the file") from None
    try:
        try:
            _write_all(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        # The target may have changed since it was checked: refuse anything but a regular file still.
        _check_target(out, force=True)
        os.replace(tmp, out)  # never a half-written file
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _os_problem(exc, out, "write the file") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace) -> int:
    from ..inputs.starter import starter_experiment

    out: Path = args.out
    if str(out) == "" or out.name in ("", ".", ".."):
        raise _refuse(out, "is a folder, not a file", "give a file name, e.g. --out experiment.yaml")
    _check_target(out, force=args.force)
    text = starter_experiment(args.base, out=out)
    write_regular_file(out, text)
    print(f"Wrote {shown_path(out)}; next: ttgen render {shown_path(out)} --dry-run")
    return EXIT_OK
