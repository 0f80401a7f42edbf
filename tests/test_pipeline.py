import subprocess
import sys
from pathlib import Path

import pytest

from mdlm_core.companion import config_for_profile, resolve_profile
from mdlm_core.companion.pipeline import Notebook, discover, input_hash
from mdlm_core.experiments.signal_curve import SIGNAL_CURVE_PROFILES

ROOT = Path(__file__).resolve().parents[1]


def test_unknown_profile_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="unknown profile 'huge'.*smoke, quick, paper"):
        resolve_profile("huge")
    with pytest.raises(ValueError, match="unknown profile"):
        config_for_profile(SIGNAL_CURVE_PROFILES, "huge")


def test_overrides_replace_only_given_values():
    cfg = config_for_profile(SIGNAL_CURVE_PROFILES, "smoke", k_heatmap=4, mc_samples=None)
    assert cfg.k_heatmap == 4 and cfg.mc_samples == SIGNAL_CURVE_PROFILES["smoke"].mc_samples


def test_discover_takes_only_numbered_notebooks_in_number_order(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for name in ("10_late.py", "02_early.py", "helpers.py", "3_one_digit.py", "04_notes.md"):
        (tmp_path / "notebooks" / name).write_text("")
    assert [nb.source.name for nb in discover(tmp_path)] == ["02_early.py", "10_late.py"]
    (tmp_path / "empty" / "notebooks").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no numbered notebooks"):
        discover(tmp_path / "empty")


def test_input_hash_tracks_profile_and_source_and_is_stable_across_processes(tmp_path):
    source = tmp_path / "01_x.py"
    source.write_text("a = 1\n")
    notebook = Notebook("01", source)
    before = input_hash(notebook, "smoke")
    assert before != input_hash(notebook, "quick")
    fresh = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                            "from mdlm_core.companion.pipeline import Notebook, input_hash; "
                            "print(input_hash(Notebook('01', Path(sys.argv[1])), 'smoke'))", str(source)],
                           capture_output=True, text=True, check=True)
    assert fresh.stdout.strip() == before
    source.write_text("a = 2\n")
    assert input_hash(notebook, "smoke") != before


def test_reproduce_rejects_bad_arguments():
    bad_profile = subprocess.run([str(ROOT / "reproduce.sh"), "--profile", "huge"], capture_output=True, text=True)
    assert bad_profile.returncode != 0 and "unknown profile 'huge'" in bad_profile.stderr
    bad_only = subprocess.run([sys.executable, "-m", "mdlm_core.companion.pipeline", "--root", str(ROOT), "--only", "99",
                               "--profile", "smoke"], capture_output=True, text=True)
    assert bad_only.returncode != 0 and "no such notebook" in bad_only.stderr


NOTEBOOK_HEADER = """# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---
"""

FAST = NOTEBOOK_HEADER + '''
# %% tags=["parameters"]
profile = "quick"

# %%
import os
import matplotlib.pyplot as plt
import pandas as pd
from mdlm_core.companion import Claim, Outputs
out = Outputs(profile)
fig, ax = plt.subplots()
ax.plot([0, 1], [0, 1])
out.figure(fig, "{name}")
out.table(pd.DataFrame({{"x": [1, 2]}}), "{name}")
out.claims("{name}", [Claim.derived("c", "1", "1", "checked", "{name}")])
'''

SLOW = FAST + '''
# %%
import time
if os.environ.get("TEST_SLOW_NOTEBOOK") == "1":
    time.sleep(120)
'''


def _project(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_fast.py").write_text(FAST.format(name="01_fast"))
    (tmp_path / "notebooks" / "02_slow.py").write_text(SLOW.format(name="02_slow"))
    return tmp_path


def _pipeline(root, **env):
    import os

    full_env = {**os.environ, "MDLM_FIGURES_DIR": str(root / "figures"), **env}
    return subprocess.Popen([sys.executable, "-m", "mdlm_core.companion.pipeline", "--root", str(root), "--profile", "smoke"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env,
                            start_new_session=True)


def test_killed_reproduce_resumes_without_redoing_work_or_leaving_partial_files(tmp_path):
    import os
    import signal
    import time

    root = _project(tmp_path)
    executed = root / "build" / "executed" / "smoke"
    proc = _pipeline(root, TEST_SLOW_NOTEBOOK="1")
    deadline = time.time() + 120
    while not (executed / "01_fast.stamp").exists() or not (root / "figures" / "smoke" / "02_slow.png").exists():
        assert time.time() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # mid-way through notebook 02
    proc.wait()
    assert not (executed / "02_slow.stamp").exists()
    # atomic writes: every file under its final name is complete (a kill can only strand a hidden temporary)
    import json

    import matplotlib.image
    import pandas as pd

    for path in (root / "figures").rglob("[!.]*"):
        if path.suffix == ".png":
            matplotlib.image.imread(path)
        elif path.suffix == ".pdf":
            assert path.read_bytes().rstrip().endswith(b"%%EOF"), path
        elif path.suffix == ".csv":
            pd.read_csv(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())

    rerun = _pipeline(root)
    out, err = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, out + err
    assert "01_fast.py ... skipped" in out and "02_slow.py ... ran" in out
    assert (executed / "02_slow.stamp").exists()
    assert "02_slow" in (root / "figures" / "smoke" / "REPORT.md").read_text()
    assert not [p for p in (root / "figures").rglob(".*") if p.is_file()]  # stale temporaries swept


def test_failing_notebook_names_itself_and_its_cell(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_broken.py").write_text(
        NOTEBOOK_HEADER + '\n# %% tags=["parameters"]\nprofile = "quick"\n\n# %%\nraise RuntimeError("boom")\n')
    proc = _pipeline(tmp_path)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode != 0
    assert "FAILED notebooks/01_broken.py at cell" in err and "RuntimeError: boom" in err
    assert (tmp_path / "build" / "executed" / "smoke" / "01_broken.ipynb").exists()  # kept for reading
    assert not (tmp_path / "build" / "executed" / "smoke" / "01_broken.stamp").exists()


def _result_tables(folder):
    """Every result CSV of a run, without wall-clock columns (``*seconds*``), which measure the machine."""
    import pandas as pd

    out = {}
    for path in sorted(folder.glob("*.csv")):
        table = pd.read_csv(path)
        out[path.name] = table.drop(columns=[c for c in table.columns if "seconds" in c]).to_csv(index=False)
    return out


def test_same_seed_gives_identical_result_csvs(tmp_path):
    """Notebook 01 (Monte Carlo) and notebook 04 (training, likelihood scoring and sampling), each run twice
    from an empty run cache: the result tables must match to the byte."""
    import os

    tables = []
    for attempt in range(2):
        env = {**os.environ, "MDLM_FIGURES_DIR": str(tmp_path / f"run{attempt}"),
               "MDLM_CACHE_DIR": str(tmp_path / f"cache{attempt}")}
        done = subprocess.run([str(ROOT / "reproduce.sh"), "--profile", "smoke", "--only", "01,04", "--force"],
                              capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        tables.append(_result_tables(tmp_path / f"run{attempt}" / "smoke" / "data"))
    assert any(name.startswith("04_") for name in tables[0]) and any(name.startswith("01_") for name in tables[0])
    assert tables[0] == tables[1]
