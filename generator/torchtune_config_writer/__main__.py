"""``python -m torchtune_config_writer ...`` runs ttgen's command line."""

import sys

from ttgen.cli import main

sys.exit(main(prog="torchtune_config_writer"))
