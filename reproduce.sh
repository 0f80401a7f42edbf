#!/usr/bin/env bash
# Regenerate every figure and result table from scratch.
#   ./reproduce.sh [--profile smoke|quick|paper] [--only NN[,NN]] [--set NN.name=value ...] [--force]
#                  [--no-fetch-data] [--allow-cpu]
# Profile: --profile, else $MDLM_PROFILE, else quick (the CPU default); an unknown name is an error.
# A missing data set is downloaded and verified by sha256 (python -m mdlm_core.data fetch) unless --no-fetch-data;
# --profile paper without a GPU stops unless --allow-cpu. Executed notebooks land in build/executed/<profile>/;
# figures in figures/ (quick) or figures/<profile>/ (smoke, paper). Re-running skips notebooks whose
# inputs (source, mdlm_core, profile, --set) are unchanged; --force re-executes them. --set NN.name=value sets
# one parameter of notebook NN (a Python literal: --set 03.steps=200 --set 03.seeds=[0]).
set -euo pipefail
cd "$(dirname "$0")"
# On the project's machines the data sits beside the checkout: use it rather than download a copy.
if [[ -z "${MDLM_DATA_DIR:-}" && -d ../shared/data ]]; then
  export MDLM_DATA_DIR="$(cd ../shared/data && pwd)"
fi
# The run cache (training runs, tokenizers) of this checkout, unless the caller names another (mdlm_core.io).
export MDLM_CACHE_DIR="${MDLM_CACHE_DIR:-$PWD/build/cache}"
exec python -m mdlm_core.companion.pipeline "$@"
