"""Readable golden files for syrupy: one text file per assertion, with a real extension.

`TextSnapshotExtension` stores the asserted string unchanged (UTF-8, line endings
kept byte for byte), so a golden is the file itself and reads, diffs and reviews
like one. `YamlSnapshotExtension` is the one for rendered configs; other
extensions come from `text_extension("sh")`, or `extension_for("x/run.json")`
picks one from a file name. Choose per assertion or per fixture::

    assert text == snapshot(extension_class=YamlSnapshotExtension, name="configs.run_000")

    @pytest.fixture
    def snapshot(snapshot):
        return snapshot.use_extension(YamlSnapshotExtension)

Goldens live in ``tests/e2e/__snapshots__/<test_module>/<test>[<param>][<name>].<ext>``;
regenerate with ``pytest --snapshot-update`` and review the diff before committing.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import PurePath
from typing import Any

from syrupy.data import SnapshotCollection
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode


class TextSnapshotExtension(SingleFileSnapshotExtension):
    """A golden file holding the asserted text exactly (``.txt``)."""

    _write_mode = WriteMode.TEXT
    file_extension = "txt"

    def serialize(self, data: Any, **kwargs: Any) -> str:
        if not isinstance(data, str):
            raise TypeError(f"{type(self).__name__} snapshots text; got {type(data).__name__} "
                            "(read the file with read_text() first)")
        return data

    # Text mode normally translates line endings on read and write; keep them as they are
    # so a golden is byte-identical to the file it records.
    def read_snapshot_data_from_location(self, *, snapshot_location: str, snapshot_name: str,
                                         session_id: str) -> str | None:
        try:
            with open(snapshot_location, encoding="utf-8", newline="") as fh:
                return fh.read()
        except FileNotFoundError:
            return None

    @classmethod
    def write_snapshot_collection(cls, *, snapshot_collection: SnapshotCollection,
                                  name_order: dict[str, int] | None = None) -> None:
        data = next(iter(snapshot_collection)).data
        if not isinstance(data, str):
            raise TypeError(f"cannot write {type(data).__name__} as a text snapshot")
        with open(snapshot_collection.location, "w", encoding="utf-8", newline="") as fh:
            fh.write(data)


class YamlSnapshotExtension(TextSnapshotExtension):
    """A golden ``.yaml`` file: the rendered YAML text, unchanged."""

    file_extension = "yaml"


@lru_cache(maxsize=None)
def text_extension(ext: str) -> type[TextSnapshotExtension]:
    """The text snapshot extension writing ``.<ext>`` files (one class per extension)."""
    ext = ext.lstrip(".")
    for known in (TextSnapshotExtension, YamlSnapshotExtension):
        if known.file_extension == ext:
            return known
    if not ext or not ext.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"not a file extension: {ext!r}")
    name = f"{ext.capitalize()}TextSnapshotExtension"
    return type(name, (TextSnapshotExtension,), {"file_extension": ext, "__module__": __name__})


def extension_for(filename: str | PurePath) -> type[TextSnapshotExtension]:
    """The text extension matching a file's suffix (``.yml`` counts as ``.yaml``; none as ``.txt``)."""
    suffix = PurePath(filename).suffix.lstrip(".").lower()
    if suffix == "yml":
        suffix = "yaml"
    return text_extension(suffix or "txt")


__all__ = ["TextSnapshotExtension", "YamlSnapshotExtension", "text_extension", "extension_for"]
