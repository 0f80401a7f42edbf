"""One skip guard for the tests that read the real data sets (WikiText-2, SST-2, GSM8K)."""

import os
from pathlib import Path

import pytest

ROOT = Path(os.environ.get("MDLM_DATA_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
FILES = {"wikitext-2": "wiki.test.tokens", "sst2": "dev.tsv", "gsm8k": "test.jsonl"}


def needs_data(*names: str):
    """Skip unless every named data set is in $MDLM_DATA_DIR (or ../shared/data beside the checkout)."""
    missing = [name for name in names if not (ROOT / name / FILES[name]).is_file()]
    return pytest.mark.skipif(bool(missing), reason=f"data not present: {', '.join(missing)} (python -m mdlm_core.data fetch)")
