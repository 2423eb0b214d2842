"""Write the hostile cases that are too big to commit; their expectations are in expected.yaml.

tests/test_hostile.py calls `generate` into a temporary folder; by hand:
``python tests/cases/hostile/generate.py DIR``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HEADER = """\
experiment:
  name: {name}
  framework: torchtune
framework_config:
  base_config: llama3_2/1B_lora_single_device
"""
HUGE_BYTES = 17 * 1024 * 1024  # over load.MAX_FILE_BYTES (16 MiB)
MANY_VALUES = 200_001  # over load.MAX_NODES (200,000)


def generate(folder: Path) -> list[str]:
    """Write the generated cases into *folder*; returns their file names."""
    folder.mkdir(parents=True, exist_ok=True)
    line = "# padding: a huge file is refused before it is parsed\n"
    with open(folder / "huge.yaml", "w", encoding="utf-8") as fh:
        fh.write("# A 17 MB experiment file.\n" + HEADER.format(name="huge"))
        fh.write(line * (HUGE_BYTES // len(line) + 1))
    (folder / "many_values.yaml").write_text(
        "# A list of 200,001 values.\n" + HEADER.format(name="many") + "controls:\n  +many: ["
        + ", ".join("0" for _ in range(MANY_VALUES)) + "]\n", encoding="utf-8")
    return ["huge.yaml", "many_values.yaml"]


if __name__ == "__main__":
    print("\n".join(generate(Path(sys.argv[1]))))
