import json

import pytest

from mdlm_core import Claim, save_claims
from mdlm_core.report import README_END, README_START, build_report, load_claims, update_readme


@pytest.fixture
def figures(tmp_path, monkeypatch):
    monkeypatch.setenv("MDLM_FIGURES_DIR", str(tmp_path))
    return tmp_path


def test_report_lists_every_saved_claim(figures):
    save_claims("01_a", [Claim("alpha | pipe", "1.0", "1.01", "reproduced", "01_fig")], "smoke")
    save_claims("02_b", [Claim("beta", "2", "3", "not reproduced"), Claim("gamma", "x", "y", "partly")], "smoke")
    report = build_report("smoke")
    text = report.read_text()
    assert report == figures / "smoke" / "REPORT.md"
    for needle in ("## 01_a", "## 02_b", "alpha \\| pipe", "beta", "gamma", "(01_fig.png)", "smoke"):
        assert needle in text
    assert "reproduced: 1" in text and "partly: 1" in text and "not reproduced: 1" in text
    assert (figures / "smoke" / "REPORT.html").read_text().count("beta") >= 1
    assert not list((figures / "smoke").glob(".*"))  # no temporary files left behind


def test_bad_verdicts_are_rejected(figures):
    with pytest.raises(ValueError, match="verdict"):
        Claim("c", "1", "2", "sort of")
    (figures / "smoke" / "claims").mkdir(parents=True)
    (figures / "smoke" / "claims" / "03_x.json").write_text(json.dumps([{"verdict": "maybe"}]))
    with pytest.raises(ValueError, match="maybe"):
        load_claims("smoke")


def test_readme_block_is_regenerated(figures, tmp_path):
    save_claims("01_a", [Claim("alpha", "1", "1", "reproduced")], "smoke")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nstale\n{README_END}\noutro\n")
    assert update_readme(readme, load_claims("smoke"))
    text = readme.read_text()
    assert "stale" not in text and "| 01 | alpha |" in text and text.startswith("intro") and text.endswith("outro\n")
    readme.write_text("no markers")
    assert not update_readme(readme, load_claims("smoke"))
