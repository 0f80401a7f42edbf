import json

import pytest

from mdlm_core.companion import Claim, TestResult, save_claims
from mdlm_core.companion.report import README_END, README_START, build_report, load_claims, update_readme


@pytest.fixture
def figures(tmp_path, monkeypatch):
    monkeypatch.setenv("MDLM_FIGURES_DIR", str(tmp_path))
    return tmp_path


def result(verdict: str) -> TestResult:
    return TestResult(verdict, "paired difference over seeds", "z = 2.50", 5, p_value=0.006, z=2.5, summary="+0.1 ± 0.04")


def test_report_lists_every_saved_claim_and_counts_the_kinds_apart(figures):
    save_claims("01_a", [Claim.derived("alpha | pipe", "1.0", "1.01", "checked", "01_fig")], "smoke")
    save_claims("02_b", [Claim.experiment("beta", "2", result("not reproduced")),
                         Claim.experiment("gamma", "x", result("partly")),
                         Claim.experiment("delta", "x", result("reproduced"))], "smoke")
    report = build_report("smoke")
    text = report.read_text()
    assert report == figures / "smoke" / "REPORT.md"
    for needle in ("## 01_a", "## 02_b", "alpha \\| pipe", "beta", "gamma", "(01_fig.png)", "smoke",
                   "paired difference over seeds (z = 2.50; p = 0.006; z = 2.50; 5 seeds)"):
        assert needle in text
    experiment_line = next(line for line in text.splitlines() if "experiment claims" in line)
    derived_line = next(line for line in text.splitlines() if "derived claims" in line)
    assert experiment_line.startswith("- **3 experiment") and "✅ reproduced: 1" in experiment_line \
        and "🟡 partly: 1" in experiment_line and "❌ not reproduced: 1" in experiment_line
    assert derived_line.startswith("- **1 derived") and "☑️ checked: 1" in derived_line
    assert "reproduced" not in derived_line   # a derived check never counts as a reproduction
    assert (figures / "smoke" / "REPORT.html").read_text().count("beta") >= 1
    assert not list((figures / "smoke").glob(".*"))  # no temporary files left behind


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


def test_readme_block_is_regenerated_with_counts_by_kind(figures, tmp_path):
    save_claims("01_a", [Claim.experiment("alpha", "1", result("reproduced")),
                         Claim.derived("omega", "1", "1")], "smoke")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nstale\n{README_END}\noutro\n")
    assert update_readme(readme, load_claims("smoke"))
    text = readme.read_text()
    assert "stale" not in text and text.startswith("intro") and text.endswith("outro\n")
    assert "| 01 | alpha | 1 | +0.1 ± 0.04 — z = 2.50, p = 0.006, 5 seeds | ✅ reproduced |" in text
    assert "| 01 | omega | 1 | 1 | 📐 derived |" in text
    assert text.index("alpha") < text.index("Derived claims") < text.index("omega")
    readme.write_text("no markers")
    assert not update_readme(readme, load_claims("smoke"))
