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


def _pipeline(root, *args, profile="smoke", **env):
    import os

    full_env = {**os.environ, "MDLM_FIGURES_DIR": str(root / "figures"), **env}
    chosen = [] if profile is None else ["--profile", profile]
    return subprocess.Popen([sys.executable, "-m", "mdlm_core.companion.pipeline", "--root", str(root), *chosen, *args],
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
    staged = root / "figures" / ".staging" / "02_slow" / "smoke" / "02_slow.png"
    while not (executed / "01_fast.stamp").exists() or not staged.exists():
        assert time.time() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() is not None else ""
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # mid-way through notebook 02
    proc.wait()
    assert not (executed / "02_slow.stamp").exists()
    assert (root / "figures" / "smoke" / "01_fast.png").exists()  # notebook 01's finished set was promoted
    assert not (root / "figures" / "smoke" / "02_slow.png").exists()  # notebook 02's unfinished one was not
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


STAGED = NOTEBOOK_HEADER + '''
# %% tags=["parameters"]
profile = None

# %%
import os, pathlib, time
import pandas as pd
from mdlm_core.companion import Outputs
out = Outputs(profile)
version = os.environ.get("TEST_VERSION", "old")
pathlib.Path(os.environ["TEST_PID_FILE"]).write_text(f"{version} {os.getpid()}")
out.table(pd.DataFrame({"version": [version]}), "01_first")
time.sleep(float(os.environ.get("TEST_PAUSE", "0")))
out.table(pd.DataFrame({"version": [version]}), "01_second")
'''


def _versions(folder):
    import pandas as pd

    return {name: pd.read_csv(folder / f"{name}.csv")["version"].item() for name in ("01_first", "01_second")}


def test_sigkill_of_the_runner_group_kills_the_kernel_and_leaves_the_old_figure_set(tmp_path):
    """A real SIGKILL of the runner's process group while notebook 01 has written one of its two tables."""
    import os
    import signal
    import time

    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_staged.py").write_text(STAGED)
    pid_file = tmp_path / "kernel.pid"
    data = tmp_path / "figures" / "smoke" / "data"
    first = _pipeline(tmp_path, TEST_PID_FILE=str(pid_file))
    out, err = first.communicate(timeout=180)
    assert first.returncode == 0, out + err
    assert _versions(data) == {"01_first": "old", "01_second": "old"}

    proc = _pipeline(tmp_path, "--force", TEST_PID_FILE=str(pid_file), TEST_VERSION="new", TEST_PAUSE="3")
    staged_first = tmp_path / "figures" / ".staging" / "01_staged" / "smoke" / "data" / "01_first.csv"
    deadline = time.time() + 120
    while not staged_first.exists():  # the new run is between its two writes
        assert time.time() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    kernel_pid = int(pid_file.read_text().split()[1])
    assert pid_file.read_text().startswith("new")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    gone_by = time.time() + 1.0  # "at once": the kernel must not outlive the runner by ipykernel's 1 s parent poll
    while _alive(kernel_pid):
        assert time.time() < gone_by, "the notebook kernel outlived the killed runner"
        time.sleep(0.02)
    time.sleep(3.5)  # had the kernel survived, it would now have written its second table
    assert _versions(data) == {"01_first": "old", "01_second": "old"}  # the old set, not a mix

    rerun = _pipeline(tmp_path, TEST_PID_FILE=str(pid_file), TEST_VERSION="new")
    out, err = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, out + err
    assert "discarded the unfinished outputs of 01_staged" in out
    assert _versions(data) == {"01_first": "new", "01_second": "new"}
    assert not (tmp_path / "figures" / ".staging").exists()


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie awaiting its reaper is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_interrupted_promotion_is_rolled_forward(tmp_path):
    from mdlm_core.companion.pipeline import PROMOTING, STAGING, recover_staging

    base = tmp_path / "figures"
    (base / STAGING / "01_a" / "data").mkdir(parents=True)
    (base / STAGING / "01_a" / "data" / "t.csv").write_text("new")
    (base / STAGING / "01_a" / PROMOTING).write_text("")
    (base / STAGING / "02_b").mkdir()
    (base / STAGING / "02_b" / "f.png").write_text("half")
    (base / "f.png").write_text("old")
    assert recover_staging(base) == ["finished promoting 01_a", "discarded the unfinished outputs of 02_b"]
    assert (base / "data" / "t.csv").read_text() == "new" and (base / "f.png").read_text() == "old"
    assert not (base / STAGING).exists()


def test_ctrl_c_prints_a_short_message(tmp_path):
    import os
    import signal
    import time

    root = _project(tmp_path)
    proc = _pipeline(root, TEST_SLOW_NOTEBOOK="1")
    deadline = time.time() + 120
    while not (root / "figures" / ".staging" / "02_slow" / "smoke" / "02_slow.png").exists():
        assert time.time() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "interrupted during notebooks/02_slow.py" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 3, err
    assert not (root / "figures" / "smoke" / "02_slow.png").exists()  # the unfinished notebook's outputs dropped


def test_profile_comes_from_the_environment_and_the_argument_wins(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_fast.py").write_text(FAST.format(name="01_fast"))
    env_only = _pipeline(tmp_path, profile=None, MDLM_PROFILE="smoke")
    out, err = env_only.communicate(timeout=180)
    assert env_only.returncode == 0, out + err
    assert "profile=smoke" in out and (tmp_path / "figures" / "smoke" / "01_fast.png").exists()
    bad = _pipeline(tmp_path, profile=None, MDLM_PROFILE="huge")
    _, err = bad.communicate(timeout=60)
    assert bad.returncode != 0 and "unknown profile 'huge'" in err
    explicit = _pipeline(tmp_path, "--only", "99", profile="smoke", MDLM_PROFILE="huge")  # never reads the env
    _, err = explicit.communicate(timeout=60)
    assert "no such notebook" in err and "unknown profile" not in err


def test_fast_notebook_reads_profile_from_environment_when_parameter_is_none(monkeypatch):
    from mdlm_core.companion import Outputs

    monkeypatch.setenv("MDLM_PROFILE", "smoke")
    assert Outputs(None).profile == "smoke" and Outputs("quick").profile == "quick"
    monkeypatch.setenv("MDLM_PROFILE", "tiny")
    with pytest.raises(ValueError, match="unknown profile 'tiny'"):
        Outputs(None)


def test_paper_profile_without_gpu_asks_for_allow_cpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_fast.py").write_text(FAST.format(name="01_fast"))
    proc = _pipeline(tmp_path, profile="paper")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "--allow-cpu" in err and "GPU" in err
    assert not (tmp_path / "build").exists()  # nothing started


def test_figures_and_report_are_byte_stable_across_reruns(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mdlm_core.companion import Claim, Outputs
    from mdlm_core.companion.report import build_report

    monkeypatch.setenv("MDLM_FIGURES_DIR", str(tmp_path))
    out = Outputs("smoke")
    snapshots = []
    for _ in range(2):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        pdf = [p for p in out.figure(fig, "01_line") if p.suffix == ".pdf"][0]
        plt.close(fig)
        out.claims("01_line", [Claim.derived("c", "1", "1", "checked", "01_line")])
        report = build_report("smoke")
        snapshots.append((pdf.read_bytes(), (report.parent / "REPORT.html").read_bytes()))
    assert b"/CreationDate" not in snapshots[0][0]
    assert snapshots[0] == snapshots[1]


SETTABLE = NOTEBOOK_HEADER + '''
# %% tags=["parameters"]
profile = None
steps = None            # optimiser steps

# %%
import pandas as pd
from mdlm_core.companion import Outputs
Outputs(profile).table(pd.DataFrame({"steps": [steps]}), "01_set")
'''


def test_set_passes_a_parameter_to_one_notebook_reruns_on_change_and_removes_kernel_folders(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_set.py").write_text(SETTABLE)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"TMPDIR": str(scratch)}
    table = tmp_path / "figures" / "smoke" / "data" / "01_set.csv"
    out, err = _pipeline(tmp_path, "--set", "01.steps=7", **env).communicate(timeout=180)
    assert "01_set.py ... ran" in out, out + err
    assert table.read_text().splitlines()[1] == "7"
    out, err = _pipeline(tmp_path, "--set", "1.steps=[2, 3]", **env).communicate(timeout=180)
    assert "01_set.py ... ran" in out, out + err   # another value is another input: not skipped
    assert table.read_text().splitlines()[1] == '"[2, 3]"'
    out, _ = _pipeline(tmp_path, "--set", "1.steps=[2, 3]", **env).communicate(timeout=180)
    assert "01_set.py ... skipped" in out
    assert not list(scratch.glob("mdlm-kernel-*")), "each kernel's private IPC folder is removed with it"
    bad = _pipeline(tmp_path, "--set", "01.stepz=2", **env)
    _, err = bad.communicate(timeout=60)
    assert bad.returncode != 0 and "has no parameter 'stepz'; its parameters are profile, steps" in err


READER = NOTEBOOK_HEADER + '''
# %% tags=["parameters"]
profile = None

# %%
from mdlm_core.companion import Outputs
out = Outputs(profile)
first = out.read_table("01_fast", written_by="01_fast")
out.table(first.assign(y=first.x * 2), "02_reader")
'''


def test_a_notebook_reads_what_an_earlier_one_wrote_though_it_writes_into_its_staging_folder(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_fast.py").write_text(FAST.format(name="01_fast"))
    (tmp_path / "notebooks" / "02_reader.py").write_text(READER)
    out, err = _pipeline(tmp_path).communicate(timeout=240)
    assert "02_reader.py ... ran" in out, out + err
    assert (tmp_path / "figures" / "smoke" / "data" / "02_reader.csv").read_text().splitlines()[1:] == ["1,2", "2,4"]


CLAIMER = NOTEBOOK_HEADER + '''
# %% tags=["parameters"]
profile = None

# %%
from mdlm_core.companion import Outputs
from mdlm_core.companion.verdicts import Claim, paired_difference_test
p = float("{p}")
result = paired_difference_test([1.0, 1.1, 0.9, 1.2, 1.0, 0.95])   # one clear effect per notebook ...
Outputs(profile).claims("{name}", [Claim.experiment("c", "paper", result.__class__(**{{**result.__dict__, "p_value": p}}))])
'''


def test_claims_files_agree_on_q_values_across_notebooks_after_a_pipeline_run(tmp_path):
    """Each notebook saves its claims into its staging folder: the FDR must still see the other notebooks'."""
    import json

    (tmp_path / "notebooks").mkdir()
    for i, p in ((1, 0.01), (2, 0.04)):   # alone each is q = p; together BH gives q = 0.04 for both
        (tmp_path / "notebooks" / f"0{i}_c.py").write_text(CLAIMER.format(p=p, name=f"0{i}_c"))
    out, err = _pipeline(tmp_path).communicate(timeout=240)
    assert "02_c.py ... ran" in out, out + err
    folder = tmp_path / "figures" / "smoke" / "claims"
    q = {path.stem: json.loads(path.read_text())[0]["q_value"] for path in folder.glob("*.json")}
    assert q == pytest.approx({"01_c": 0.02, "02_c": 0.04})
