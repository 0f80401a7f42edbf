#!/usr/bin/env bash
# Regenerate every figure and result table from scratch.
#   ./reproduce.sh [--profile smoke|quick|paper] [--only NN[,NN]] [--force] [--no-fetch-data] [--allow-cpu]
# Profile: --profile, else $MDLM_PROFILE, else quick (the CPU default); an unknown name is an error.
# A missing data set is downloaded and verified by sha256 (python -m mdlm_core.data fetch) unless --no-fetch-data;
# --profile paper without a GPU stops unless --allow-cpu. Executed notebooks land in build/executed/<profile>/;
# figures in figures/ (quick) or figures/<profile>/ (smoke, paper). Re-running skips notebooks whose
# inputs (source, mdlm_core, profile) are unchanged; --force re-executes them.
set -euo pipefail
cd "$(dirname "$0")"
# On the project's machines the data sits beside the checkout: use it rather than download a copy.
if [[ -z "${MDLM_DATA_DIR:-}" && -d ../shared/data ]]; then
  export MDLM_DATA_DIR="$(cd ../shared/data && pwd)"
fi
exec python -m mdlm_core.companion.pipeline "$@"
