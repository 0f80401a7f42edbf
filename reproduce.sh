#!/usr/bin/env bash
# Regenerate every figure and result table from scratch.
#   ./reproduce.sh [--profile smoke|quick|paper] [--only NN[,NN]] [--force]
# Default profile: quick (the CPU default). Executed notebooks land in build/executed/<profile>/;
# figures in figures/ (quick) or figures/<profile>/ (smoke, paper). Re-running skips notebooks whose
# inputs (source, mdlm_core, profile) are unchanged; --force re-executes them.
set -euo pipefail
cd "$(dirname "$0")"
# Data never downloads here: point the loaders at the shared copy when it sits beside the checkout.
if [[ -z "${MDLM_DATA_DIR:-}" && -d ../shared/data ]]; then
  export MDLM_DATA_DIR="$(cd ../shared/data && pwd)"
fi
exec python -m mdlm_core.companion.pipeline "$@"
