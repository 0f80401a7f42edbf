import json

import pytest

from mdlm_core.companion import Claim, save_claims
from mdlm_core.companion.report import README_END, README_START, build_report, load_claims, update_readme
from mdlm_core.companion.verdicts import gated, paired_difference_test

REVERSED = [-0.1, -0.12, -0.11, -0.1, -0.13]
WEAK = [0.05, 0.06, 0.04, 0.05, 0.07]       # every seed positive: p = 1/32, reproduced alone, not always with q
CLEAR = [0.1, 0.12, 0.11, 0.1, 0.13, 0.12, 0.11]   # p = 1/128


@pytest.fixture
def figures(tmp_path, monkeypatch):
    monkeypatch.setenv("MDLM_FIGURES_DIR", str(tmp_path))
    return tmp_path


def experiment(name: str, diffs, **kw) -> Claim:
    return Claim.experiment(name, "x", paired_difference_test(diffs, **kw))


def test_report_lists_every_saved_claim_and_counts_the_kinds_apart(figures):
    save_claims("01_a", [Claim.derived("alpha | pipe", "1.0", "1.01", "checked", "01_fig")], "smoke")
    save_claims("02_b", [experiment("beta", REVERSED), experiment("gamma", [0.02, -0.01, 0.03, 0.0, 0.01]),
                         experiment("delta", CLEAR)], "smoke")
    report = build_report("smoke")
    text = report.read_text()
    assert report == figures / "smoke" / "REPORT.md"
    for needle in ("## 01_a", "## 02_b", "alpha \\| pipe", "beta", "gamma", "(01_fig.png)", "smoke",
                   "p = 0.00781; p against = 1; q = 0.0234", "7 seeds; MDE = "):
        assert needle in text, needle
    experiment_line = next(line for line in text.splitlines() if "experiment claims" in line)
    derived_line = next(line for line in text.splitlines() if "derived claims" in line)
    assert experiment_line.startswith("- **3 experiment") and "✅ reproduced: 1" in experiment_line \
        and "⚪ inconclusive: 1" in experiment_line and "❌ not reproduced: 1" in experiment_line
    assert derived_line.startswith("- **1 derived") and "☑️ checked: 1" in derived_line
    assert "reproduced" not in derived_line   # a derived check never counts as a reproduction
    assert (figures / "smoke" / "REPORT.html").read_text().count("beta") >= 1
    assert not list((figures / "smoke").glob(".*"))  # no temporary files left behind


def test_saving_one_notebook_applies_the_fdr_to_every_claims_file(figures):
    folder = figures / "smoke" / "claims"
    save_claims("01_a", [experiment("weak", WEAK)], "smoke")
    first = json.loads((folder / "01_a.json").read_text())[0]
    assert first["q_value"] == pytest.approx(1 / 32) and first["verdict"] == "reproduced"
    # a second notebook adds two null claims: the family is now 3, so 01's q = 3/32 / 1 ... rank 1 of 3 -> 3/32
    frame = save_claims("02_b", [experiment("null one", [0.01, -0.02, 0.0, 0.02, -0.01]),
                                 experiment("null two", [-0.01, 0.02, 0.0, -0.02, 0.01])], "smoke")
    first = json.loads((folder / "01_a.json").read_text())[0]
    assert first["q_value"] == pytest.approx(3 / 32) and first["verdict"] == "partly"
    assert list(frame.columns)[:3] == ["claim", "kind", "verdict"] and "q_value" in frame and "mde" in frame
    # the report reads the same
    assert load_claims("smoke")["01_a"][0]["verdict"] == "partly"


def test_a_failed_gate_is_rendered_with_its_name(figures, tmp_path):
    result = gated(paired_difference_test(CLEAR), [("the model learned (test accuracy >= 0.9)", False)])
    save_claims("01_a", [Claim.experiment("gated claim", "x", result)], "smoke")
    text = build_report("smoke", html=False).read_text()
    assert "⚪ inconclusive (gate: the model learned (test accuracy >= 0.9)) |" in text
    assert "(1 of them by a failed gate)" in text


def test_claims_files_written_before_the_one_sided_rules_still_load_unchanged(figures):
    folder = figures / "smoke" / "claims"
    folder.mkdir(parents=True)
    old = [{"claim": "MD generalises sooner", "paper": "x", "ours": "y", "verdict": "not reproduced",
            "kind": "experiment", "figure": "", "notes": "", "test": "Gehan", "statistic": "z = -4.05",
            "p_value": 5.2e-05, "z": -4.05, "n_seeds": 20, "profile": "smoke", "notebook": "02_b"}]
    text = json.dumps(old, indent=2) + "\n"
    (folder / "02_b.json").write_text(text)
    row = load_claims("smoke")["02_b"][0]
    assert row["verdict"] == "not reproduced" and row["q_value"] is None and row["mde"] is None  # two-sided p: kept
    save_claims("03_c", [experiment("new", CLEAR)], "smoke")
    assert (folder / "02_b.json").read_text() == text       # left byte for byte as it was
    assert load_claims("smoke")["03_c"][0]["q_value"] == pytest.approx(1 / 128)
    build_report("smoke", html=False)


def test_bad_claims_are_rejected(figures):
    with pytest.raises(ValueError, match="verdict"):
        Claim.derived("c", "1", "2", "sort of")
    with pytest.raises(ValueError, match="derived claim's verdict"):
        Claim.derived("c", "1", "2", "reproduced")     # an identity cannot be 'reproduced'
    with pytest.raises(ValueError, match="needs its test"):
        Claim("c", "1", "2", "reproduced")              # an experiment verdict without its test
    (figures / "smoke" / "claims").mkdir(parents=True)
    (figures / "smoke" / "claims" / "03_x.json").write_text(json.dumps([{"verdict": "maybe", "kind": "experiment"}]))
    with pytest.raises(ValueError, match="maybe"):
        load_claims("smoke")


def test_readme_block_is_regenerated_with_q_and_counts_by_kind(figures, tmp_path):
    save_claims("01_a", [experiment("alpha", CLEAR), Claim.derived("omega", "1", "1")], "smoke")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nstale\n{README_END}\noutro\n")
    assert update_readme(readme, load_claims("smoke"))
    text = readme.read_text()
    assert "stale" not in text and text.startswith("intro") and text.endswith("outro\n")
    assert ("| 01 | alpha | x | +0.113 ± 0.004 (paired over 7 seeds) — t = 26.83 (6.0 d.o.f.); sign-flip p = "
            "0.00781 over 128 patterns, p = 0.00781, q = 0.00781, 7 seeds | ✅ reproduced |") in text
    assert "| 01 | omega | 1 | 1 | 📐 derived |" in text
    assert text.index("alpha") < text.index("Derived claims") < text.index("omega")
    readme.write_text("no markers")
    assert not update_readme(readme, load_claims("smoke"))
