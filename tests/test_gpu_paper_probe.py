"""bench/gpu_paper_probe.py under --tiny on the CPU: every path runs, its JSON and CSV hold what issue 31 reads, a
crashing path is recorded while the others still run, and the probe ends inside its budget."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from shared_data import needs_data

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "bench" / "gpu_paper_probe.py"
# the contract with issue 31: every GPU path of the paper profile (the probe's registry, PATHS)
PATHS = ("lm_step", "lm_step_adaptive", "elbo_eval", "elbo_eval_autocast", "sft_step", "generate",
         "generate_blockwise", "answer_scoring", "parity_mlp", "parity_mlp_levers", "parity_transformer",
         "parity_transformer_stacked", "parity_mlp_adaptive")
GPU_NOTEBOOKS = ("02_parity_grokking", "03_wikitext_u_curve", "04_sft_windows", "06_adaptive_mask_ratio",
                 "07_window_mechanism")


def run_probe(out: Path, *args: str, budget: float = 120, timeout: float = 200) -> tuple[dict, pd.DataFrame, float]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(PROBE), "--tiny", "--budget", str(budget), "--out", str(out), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads((out / "gpu_probe.json").read_text()), pd.read_csv(out / "gpu_probe.csv"), wall


def finite_positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@needs_data("wikitext-2")
def test_tiny_probe_runs_every_path_and_the_pair_within_budget(tmp_path):
    budget = 120
    report, table, wall = run_probe(tmp_path, budget=budget)
    assert wall < budget, f"the probe took {wall:.0f} s, over its --budget {budget}"
    assert report["status"] == "done" and report["mode"] == "tiny" and report["elapsed_s"] < budget
    env = report["environment"]
    assert env["torch"] and "cuda" in env and "gpu" in env
    assert report["sizes"]["lm"]["model"]["n_layer"] >= 1 and report["sizes"]["parity"]

    # every path, status ok, positive rates; the CSV is the same per-path table
    assert set(report["paths"]) == set(PATHS)
    for name, rec in report["paths"].items():
        assert rec["status"] == "ok", (name, rec.get("error"), rec.get("traceback"))
        assert finite_positive(rec["items_per_second"]) and finite_positive(rec["seconds_per_call"]), name
        assert rec["calls"] >= 1 and rec["unit"], name
    assert set(table.path) == set(PATHS) and (table.status == "ok").all() and (table.items_per_second > 0).all()

    # the projection: every GPU notebook's minutes from the measured rates
    projection = report["projection"]
    notebooks = {row["notebook"] for row in projection["rows"]}
    assert set(GPU_NOTEBOOKS) <= notebooks
    for nb in GPU_NOTEBOOKS:
        assert finite_positive(projection["minutes_by_notebook"][nb]), nb
    assert finite_positive(projection["total_hours"])

    # the MFU entry, and its reference matmul (small fp32 under --tiny, said so)
    mfu = report["mfu"]
    assert mfu["status"] == "ok" and finite_positive(mfu["mfu"]) and finite_positive(mfu["matmul_tflops"])
    assert report["matmul"]["dtype"] == "float32" and "--tiny" in report["matmul"]["note"]
    assert "--tiny" in mfu["note"]

    # Phase B: both test ELBOs with their s.e., the gate and the paired difference, labelled
    b = report["phase_b"]
    assert b["status"] == "done" and "not a reproduction" in b["label"] and "not a reproduction" in report["label"]
    assert b["plan"]["steps_per_run"] >= 10 and b["plan"]["test_draws"] == 10
    for label in ("[0,1]", "[0.4,0.5]"):
        run = b["runs"][label]
        assert run["status"] == "ok" and run["steps_done"] == b["plan"]["steps_per_run"]
        assert finite_positive(run["test_loss"]) and finite_positive(run["test_stderr"]) and run["n_draws"] == 10
    assert finite_positive(b["gate"]["unigram_entropy"]) and isinstance(b["gate"]["passed"], bool)
    assert math.isfinite(b["paired_difference"]["mean"]) and finite_positive(b["paired_difference"]["stderr"])


def test_a_crashing_path_is_recorded_and_the_others_run(tmp_path):
    report, table, _ = run_probe(tmp_path, "--paths", "lm_step,answer_scoring,parity_mlp", "--fail-path", "lm_step",
                                 "--no-phase-b", budget=90)
    crashed = report["paths"]["lm_step"]
    assert crashed["status"] == "crash" and crashed["error"].startswith("RuntimeError: forced failure")
    assert "Traceback" in crashed["traceback"]
    for name in ("answer_scoring", "parity_mlp"):
        assert report["paths"][name]["status"] == "ok" and report["paths"][name]["items_per_second"] > 0
    assert dict(zip(table.path, table.status)) == {"lm_step": "crash", "answer_scoring": "ok", "parity_mlp": "ok"}
    assert report["mfu"]["status"] == "unavailable"          # no LM step rate
    rows = {row["part"]: row for row in report["projection"]["rows"] if row["notebook"] == "03_wikitext_u_curve"}
    assert all(r["minutes"] is None for r in rows.values())   # NaN (written as null): its rate is missing
    assert report["phase_b"]["status"] == "skipped" and report["status"] == "done"


def test_unknown_path_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, str(PROBE), "--tiny", "--paths", "no_such_path", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown path" in proc.stderr
    assert not (tmp_path / "gpu_probe.json").exists()
