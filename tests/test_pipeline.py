import subprocess
import sys
from pathlib import Path

import pytest

from mdlm_core import config_for_profile, resolve_profile
from mdlm_core.pipeline import discover, input_hash
from mdlm_core.signal import SIGNAL_CURVE_PROFILES

ROOT = Path(__file__).resolve().parents[1]


def test_unknown_profile_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="unknown profile 'huge'.*smoke, quick, paper"):
        resolve_profile("huge")
    with pytest.raises(ValueError, match="unknown profile"):
        config_for_profile(SIGNAL_CURVE_PROFILES, "huge")


def test_overrides_replace_only_given_values():
    cfg = config_for_profile(SIGNAL_CURVE_PROFILES, "smoke", k_heatmap=4, mc_samples=None)
    assert cfg.k_heatmap == 4 and cfg.mc_samples == SIGNAL_CURVE_PROFILES["smoke"].mc_samples


def test_notebooks_are_numbered_and_hash_depends_on_profile():
    notebooks = discover(ROOT)
    assert [nb.number for nb in notebooks] == sorted(nb.number for nb in notebooks)
    assert notebooks[0].number == "01"
    assert input_hash(notebooks[0], "smoke") != input_hash(notebooks[0], "quick")
    assert input_hash(notebooks[0], "smoke") == input_hash(notebooks[0], "smoke")


def test_reproduce_rejects_bad_arguments():
    bad_profile = subprocess.run([str(ROOT / "reproduce.sh"), "--profile", "huge"], capture_output=True, text=True)
    assert bad_profile.returncode != 0 and "unknown profile 'huge'" in bad_profile.stderr
    bad_only = subprocess.run([sys.executable, "-m", "mdlm_core.pipeline", "--root", str(ROOT), "--only", "99",
                               "--profile", "smoke"], capture_output=True, text=True)
    assert bad_only.returncode != 0 and "no such notebook" in bad_only.stderr
