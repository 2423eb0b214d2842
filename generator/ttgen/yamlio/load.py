"""Read YAML the way torchtune (OmegaConf) types it, keeping positions.

OmegaConf's loader differs from plain ``yaml.safe_load``: ``3e-4`` is a float,
not a string, and dates stay strings. We reproduce that resolver here so that
ttgen sees exactly the values torchtune will see, and we compose the node tree
ourselves so that every value keeps its file, line and column for error messages.

Only safe YAML is accepted: tags that would construct Python objects, binary,
sets, timestamps, duplicate keys, alias bombs and absurd nesting are errors,
reported with the node's position.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ExperimentError, Problem, SourcePos, UserError
from ..tree import Key, display_path
from .types import a_yaml_type

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000

_TAG = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "map", "seq")}
_MERGE_TAG = _TAG + "merge"
_SURROGATE = re.compile("[\ud800-\udfff]")

# OmegaConf's float resolver (omegaconf/_utils.py, get_yaml_loader): YAML 1.1
# needs a dot in a float, OmegaConf does not (``1e-5`` is a float there).
OMEGACONF_FLOAT = re.compile(
    """^(?:
     [-+]?[0-9]+(?:_[0-9]+)*\\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+)
    |\\.[0-9]+(?:_[0-9]+)*(?:[eE][-+][0-9]+)?
    |[-+]?[0-9]+(?:_[0-9]+)*(?::[0-5]?[0-9])+\\.[0-9_]*
    |[-+]?\\.(?:inf|Inf|INF)
    |\\.(?:nan|NaN|NAN))$""",
    re.X,
)


class OmegaConfSafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader with OmegaConf's implicit typing."""

    _depth = 0
    _nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # PyYAML composes recursively: stop absurd nesting at its position, long before
        # Python's recursion limit (which has no position to report), and stop a huge
        # document while composing it rather than after minutes of work.
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH + 1:
                raise _ComposeLimit(self.peek_event().start_mark)
            if self._nodes > MAX_NODES:
                raise _ComposeLimit(self.peek_event().start_mark, kind="size")
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1


OmegaConfSafeLoader.add_implicit_resolver(_TAG + "float", OMEGACONF_FLOAT, list("-+0123456789."))
OmegaConfSafeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _TAG + "timestamp"]
    for first, resolvers in OmegaConfSafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class YamlDocument:
    """A loaded YAML file: plain Python data plus where each value was written."""

    file: str
    text: str
    data: Any
    positions: dict[Key, SourcePos] = field(default_factory=dict)
    key_positions: dict[Key, SourcePos] = field(default_factory=dict)
    # Source text of single-line plain scalars, so `3e-4` is written back as written.
    plain_text: dict[Key, str] = field(default_factory=dict)
    raw: bytes = b""  # the exact bytes read, for byte-for-byte copies and hashes
    # Permission bits of the file read (None: not read from a file): a copy of it should be no
    # more readable than the source (a 0600 base config stays private).
    file_mode: int | None = None

    def pos(self, path: Key) -> SourcePos:
        """Position of the value at *path*, or of its nearest written ancestor."""
        p = tuple(path)
        while p:
            if p in self.positions:
                return self.positions[p]
            p = p[:-1]
        return self.positions.get((), SourcePos(self.file, 1, 1))

    def key_pos(self, path: Key) -> SourcePos:
        """Position of the key naming *path* (falls back to the value's position)."""
        return self.key_positions.get(tuple(path)) or self.pos(path)


def _mark_pos(file: str, mark: yaml.Mark | None) -> SourcePos:
    if mark is None:
        return SourcePos(file, 1, 1)
    return SourcePos(file, mark.line + 1, mark.column + 1)


def _offset_pos(file: str, text: str | bytes, offset: int) -> SourcePos:
    nl = b"\n" if isinstance(text, bytes) else "\n"
    before = text[:offset]
    line = before.count(nl) + 1  # type: ignore[arg-type]
    col = offset - (before.rfind(nl) + 1) + 1  # type: ignore[arg-type]
    return SourcePos(file, line, col)


def special_kind(mode: int) -> str:
    """What a file that is neither a regular file nor a folder is, from its st_mode: ``a pipe``, ``a socket``, ..."""
    for test, kind in ((stat.S_ISFIFO, "a pipe"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "a special file"


SPECIAL_FILE_HINT = "save it to a file first: a pipe or device is never read (it could block or never end)"


def read_yaml_file(path: Path, *, display: str | None = None,
                   error_cls: type[UserError] = ExperimentError,
                   what: str = "YAML file",
                   not_found_hint: str = "check the path (paths in experiment.yaml are relative to its folder)"
                   ) -> YamlDocument:
    """Read and load one YAML file; every failure is a `UserError` with a position.

    Only a regular file is read (through symbolic links): a pipe (``<(...)``, a FIFO), a
    device or a socket is refused at once, never opened for a blocking read.
    """
    name = display or str(path)
    raw, mode = _read_regular(path, name=name, what=what, error_cls=error_cls, not_found_hint=not_found_hint)
    doc = load_yaml_bytes(raw, file=name, error_cls=error_cls)
    doc.file_mode = stat.S_IMODE(mode)
    return doc


def _read_regular(path: Path, *, name: str, what: str, error_cls: type[UserError],
                  not_found_hint: str) -> tuple[bytes, int]:
    """A regular file's bytes (at most MAX_FILE_BYTES) and mode; anything else is a `UserError`."""
    def not_regular(mode: int) -> UserError:
        return error_cls([Problem(f"{what} is not a regular file ({special_kind(mode)})", pos=SourcePos(name),
                                  hint="point at a .yaml file; " + SPECIAL_FILE_HINT)])

    try:
        mode = path.stat().st_mode  # one stat: missing, folder and device are all told apart from it
        if stat.S_ISDIR(mode):
            raise error_cls([Problem(f"{what} is a folder, not a file", pos=SourcePos(name),
                                     hint="point at the .yaml file inside it")])
        if not stat.S_ISREG(mode):
            raise not_regular(mode)
        # Non-blocking: should the file be swapped for a FIFO after the stat, opening it does not
        # wait for a writer; the open file is checked again below.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise not_regular(mode)
            raw = fh.read(MAX_FILE_BYTES + 1)  # bounded: the file may grow while we read
        if len(raw) > MAX_FILE_BYTES:
            raise error_cls([Problem(f"{what} is larger than {MAX_FILE_BYTES} bytes: refused",
                                     pos=SourcePos(name), hint="is this the right file?")])
    except FileNotFoundError:
        raise error_cls([Problem(f"{what} not found", pos=SourcePos(name), hint=not_found_hint)]) from None
    except OSError as exc:
        raise error_cls([Problem(f"cannot read {what}: {exc.strerror or exc}", pos=SourcePos(name),
                                 hint="check the file's permissions")]) from None
    return raw, mode


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser with OmegaConf's implicit typing, for ttgen's own files (no positions)."""


_FastLoader.yaml_implicit_resolvers = {k: list(v) for k, v in OmegaConfSafeLoader.yaml_implicit_resolvers.items()}


def read_own_yaml(path: Path, *, what: str, error_cls: type[UserError]) -> Any:
    """The data of a YAML file ttgen wrote itself (a run mapping, a manifest), fast and without
    positions: ``ttgen status`` reads a 1,000-run mapping in milliseconds this way. The same
    limits as `read_yaml_file` on what is read (a regular file, at most MAX_FILE_BYTES)."""
    raw, _ = _read_regular(path, name=str(path), what=what, error_cls=error_cls,
                           not_found_hint="render the experiment again")
    try:
        return yaml.load(raw, Loader=_FastLoader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise error_cls([Problem(f"{what} is not valid YAML: {getattr(exc, 'problem', None) or exc}",
                                 pos=_mark_pos(str(path), mark),
                                 hint="render the experiment again")]) from None


def load_yaml_bytes(raw: bytes, *, file: str, error_cls: type[UserError] = ExperimentError) -> YamlDocument:
    """Decode UTF-8 strictly and load; see `load_yaml_text`."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise error_cls([Problem("file is UTF-16 encoded, not UTF-8", pos=SourcePos(file, 1, 1),
                                 hint="save the file as UTF-8 (in PowerShell: Out-File -Encoding utf8)")])
    if b"\x00" in raw:
        off = raw.index(b"\x00")
        raise error_cls([Problem("file contains a NUL byte: this looks like a binary file, not YAML",
                                 pos=_offset_pos(file, raw, off), hint="is this the right file?")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error_cls([Problem(f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                                 pos=_offset_pos(file, raw, exc.start),
                                 hint="save the file as UTF-8")]) from None
    doc = load_yaml_text(text, file=file, error_cls=error_cls)
    doc.raw = raw
    return doc


def load_yaml_text(text: str, *, file: str, error_cls: type[UserError] = ExperimentError) -> YamlDocument:
    """Load one YAML document with OmegaConf typing, positions and safety checks."""
    if text.startswith("\ufeff"):
        text = text[1:]
    loader: OmegaConfSafeLoader | None = None
    try:
        loader = OmegaConfSafeLoader(text)  # checks for unprintable characters already
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        msg = exc.problem or "invalid YAML"
        if exc.context and exc.context_mark is not None and exc.problem_mark is not None \
                and exc.context_mark.line != exc.problem_mark.line:
            start = _mark_pos(file, exc.context_mark)
            msg += f" ({exc.context} started at line {start.line}, column {start.col})"
        elif exc.context:
            msg += f" ({exc.context})"
        hint = "YAML indentation must use spaces, not tabs" if "'\\t'" in msg else None
        raise error_cls([Problem(f"invalid YAML: {msg}", pos=_mark_pos(file, exc.problem_mark or exc.context_mark),
                                 hint=hint)]) from None
    except yaml.reader.ReaderError as exc:
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise error_cls([Problem(f"invalid character U+{code:04X} in YAML (control characters are not allowed)",
                                 pos=_offset_pos(file, text, exc.position),
                                 hint="remove it, or write it as an escape inside double quotes, e.g. \"\\x07\"")]) from None
    except _ComposeLimit as deep:
        what = f"is nested more than {MAX_DEPTH} levels deep" if deep.kind == "nesting" else \
            f"has more than {MAX_NODES} values"
        raise error_cls([Problem(f"YAML {what}: refused", pos=_mark_pos(file, deep.mark),
                                 hint="is this the right file? experiment and config files are small")]) from None
    except RecursionError:
        raise error_cls([Problem(f"YAML is nested too deeply (more than {MAX_DEPTH} levels)",
                                 pos=SourcePos(file, 1, 1), hint="flatten the structure; configs nest a few levels")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    doc = YamlDocument(file=file, text=text, data=None)
    if node is None:
        return doc
    builder = _Builder(loader, doc)
    builder.count(node, error_cls=error_cls)
    doc.data = builder.build(node, ())
    if builder.problems:
        raise error_cls(builder.problems)
    return doc


class _Builder:
    """Turns a composed node graph into Python data, recording positions."""

    def __init__(self, loader: OmegaConfSafeLoader, doc: YamlDocument) -> None:
        self.loader = loader
        self.doc = doc
        self.problems: list[Problem] = []

    def _pos(self, node: yaml.Node) -> SourcePos:
        return _mark_pos(self.doc.file, node.start_mark)

    def count(self, root: yaml.Node, *, error_cls: type[UserError]) -> None:
        """Refuse alias bombs before expanding them: count nodes as if expanded."""
        memo: dict[int, tuple[int, int]] = {}  # node -> (values below it, its height), as if expanded
        active: set[int] = set()
        aliased = False

        def visit(n: yaml.Node, depth: int) -> tuple[int, int]:
            nonlocal aliased
            key = id(n)
            if key in memo:
                # An alias: its subtree is counted again, and nests from here (an aliased
                # chain of shallow anchors can be deep once expanded).
                aliased = True
                if depth + memo[key][1] > MAX_DEPTH:
                    raise _TooBig(n, "nesting")
                return memo[key]
            if key in active or depth > MAX_DEPTH:
                raise _TooBig(n, "recursive alias" if key in active else "nesting")
            active.add(key)
            total, height = 1, 0
            children = [c for pair in n.value for c in pair] if isinstance(n, yaml.MappingNode) else \
                n.value if isinstance(n, yaml.SequenceNode) else []
            for c in children:
                sub, sub_height = visit(c, depth + 1)
                total += sub
                height = max(height, sub_height + 1)
            active.discard(key)
            if total > MAX_NODES:
                raise _TooBig(n, "size")
            memo[key] = (total, height)
            return total, height

        try:
            visit(root, 0)
        except _TooBig as big:
            msg = {
                "recursive alias": "a YAML alias refers to its own anchor (recursive structure)",
                "nesting": f"YAML is nested more than {MAX_DEPTH} levels deep"
                           + (" once aliases are expanded" if aliased else "") + ": refused",
                "size": f"YAML has more than {MAX_NODES} values" + (" once aliases are expanded" if aliased else "")
                        + ": refused",
            }[big.kind]
            hint = "write the values out instead of nesting aliases" if aliased or big.kind == "recursive alias" \
                else "is this the right file? experiment and config files are small"
            raise error_cls([Problem(msg, pos=self._pos(big.node), hint=hint)]) from None

    def build(self, node: yaml.Node, path: Key) -> Any:
        self.doc.positions[path] = self._pos(node)
        self.doc.plain_text.pop(path, None)
        if node.tag not in _ALLOWED_TAGS:
            self.problems.append(Problem(
                f"YAML tag {node.tag!r} is not allowed",
                pos=self._pos(node), path=display_path(path) or None,
                hint="only plain YAML values are read (safe loading); remove the tag"
                     + (" or quote the value" if node.tag.endswith(("timestamp", "binary")) else "")))
            return None
        if isinstance(node, yaml.ScalarNode):
            try:
                value = self.loader.construct_object(node, deep=True)
            except (yaml.YAMLError, ValueError, IndexError, TypeError, OverflowError):
                # An explicit tag on text that is not of that type (`!!int three`, `!!float ''`);
                # PyYAML's own messages for these are Python internals (IndexError, ...).
                kind = node.tag.rsplit(":", 1)[-1]
                self.problems.append(Problem(f"cannot read {node.value!r} as {kind}", pos=self._pos(node),
                                             path=display_path(path) or None,
                                             hint=f"remove the !!{kind} tag, or write a valid {kind}"))
                return None
            if isinstance(value, str) and _SURROGATE.search(value):
                # PyYAML decodes JSON-style "\ud83d\ude00" pairs into lone surrogates that
                # cannot be written as UTF-8 (and OmegaConf's C loader rejects them).
                self.problems.append(Problem("string contains a UTF-16 surrogate escape (\\uD800-\\uDFFF)",
                                             pos=self._pos(node), path=display_path(path) or None,
                                             hint="write the character itself, or escape it as \\UXXXXXXXX"))
                return None
            if (node.style is None and node.start_mark.line == node.end_mark.line
                    and "\n" not in node.value):
                self.doc.plain_text[path] = node.value
            return value
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
        return self._mapping(node, path)

    def _mapping(self, node: yaml.MappingNode, path: Key) -> dict[str, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.value in seen:
                first = seen[key_node.value].start_mark.line + 1
                self.problems.append(Problem(
                    f"duplicate key {key_node.value!r} (first written on line {first})",
                    pos=self._pos(key_node), path=display_path(path + (key_node.value,)),
                    hint="keep one of them: YAML readers silently use only the last"))
            seen[key_node.value] = key_node
        try:
            self.loader.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            self.problems.append(Problem(f"invalid merge key: {exc.problem}", pos=_mark_pos(self.doc.file, exc.problem_mark),
                                         hint="<<: takes an alias of a mapping (<<: *defaults) or a list of them"))
            return {}
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _ALLOWED_TAGS:
                self.problems.append(Problem("mapping keys must be plain strings", pos=self._pos(key_node),
                                             path=display_path(path) or None,
                                             hint="write the key as plain text (quote it if needed)"))
                continue
            try:
                key = self.loader.construct_object(key_node)
            except (yaml.YAMLError, ValueError, IndexError, TypeError, OverflowError):
                key = None  # a tagged key that is not of its type (`!!float :`): not a string anyway
            if not isinstance(key, str):
                self.problems.append(Problem(
                    f"key {key_node.value!r} is read as {a_yaml_type(key)}, not a string",
                    pos=self._pos(key_node), path=display_path(path) or None,
                    hint=f"quote it: \"{key_node.value}\""))
                continue
            if not key.isprintable():
                # No config key has one; it would also break the one-line-per-problem output.
                self.problems.append(Problem(
                    f"key {key!r} contains a line break, tab or control character",
                    pos=self._pos(key_node), path=display_path(path) or None, hint="remove it from the key"))
                continue
            child = path + (key,)
            self.doc.key_positions[child] = self._pos(key_node)
            out[key] = self.build(value_node, child)
        return out


class _ComposeLimit(Exception):
    """Composing stopped: the document nests too deep or has too many values ("nesting"/"size")."""

    def __init__(self, mark: yaml.Mark, kind: str = "nesting") -> None:
        self.mark = mark
        self.kind = kind


class _TooBig(Exception):
    def __init__(self, node: yaml.Node, kind: str) -> None:
        self.node = node
        self.kind = kind
