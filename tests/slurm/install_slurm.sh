#!/bin/bash
# Install SLURM (controller, node daemon, client commands) and munge from Debian's packages.
# Run as root, non-interactively; used by CI before tests/slurm/start_cluster.sh.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "install_slurm.sh: run as root (apt-get needs it)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends slurm-wlm munge
sbatch --version
