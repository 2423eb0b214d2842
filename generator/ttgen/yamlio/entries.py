"""Read one top-level entry of a large YAML file ttgen wrote (run mapping, manifest).

Loading a 10,000-run mapping whole, with positions, takes seconds; a diff needs
one or two entries. Entries are found by their unindented ``key:`` lines (ttgen
writes these files in block style) and each is loaded alone, with its real
line numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import Problem, SourcePos, UserError
from .load import YamlDocument, load_yaml_text

_TOP_KEY = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.\-]*):(?=\s|$)")


@dataclass(frozen=True)
class EntryFile:
    """A block-style YAML file, indexed by its top-level keys."""

    path: Path
    lines: tuple[str, ...]
    starts: dict[str, int]  # top-level key -> index of its line
    error_cls: type[UserError]

    @classmethod
    def read(cls, path: Path, *, what: str, error_cls: type[UserError]) -> "EntryFile":
        """Index the file; unreadable or non-UTF-8 text raises *error_cls*."""
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise error_cls([Problem(f"{what} is not valid UTF-8", pos=SourcePos(str(path)),
                                             hint="ttgen writes UTF-8: render the experiment again")]) from None
        except OSError as exc:
            raise error_cls([Problem(f"cannot read {what}: {exc.strerror or exc}",
                                     pos=SourcePos(str(path)), hint="check the file's permissions")]) from None
        lines = tuple(text.splitlines(keepends=True))
        starts: dict[str, int] = {}
        for i, line in enumerate(lines):
            m = _TOP_KEY.match(line)
            if m is not None:
                starts.setdefault(m[1], i)
        return cls(path, lines, starts, error_cls)

    def keys(self) -> list[str]:
        return list(self.starts)

    def entry(self, key: str) -> YamlDocument | None:
        """``{key: value}`` for one top-level key (None when absent), positions as in the whole file."""
        start = self.starts.get(key)
        if start is None:
            return None
        end = start + 1
        while end < len(self.lines) and (not self.lines[end].strip() or self.lines[end][0] in " \t#"):
            end += 1
        return load_yaml_text("\n" * start + "".join(self.lines[start:end]), file=str(self.path),
                              error_cls=self.error_cls)
