import json

import pytest

from mdlm_core.companion import Claim, save_claims
from mdlm_core.companion.report import (README_END, README_START, build_report, load_claims, readme_block,
                                        update_readme)
from mdlm_core.companion.verdicts import gated, paired_difference_test, with_finding

REVERSED = [-0.1, -0.12, -0.11, -0.1, -0.13]
WEAK = [0.05, 0.06, 0.04, 0.05, 0.07]       # every seed positive: p = 1/32, reproduced alone, not always with q
CLEAR = [0.1, 0.12, 0.11, 0.1, 0.13, 0.12, 0.11]   # p = 1/128
# a 1x1 PNG
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")


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


def test_readme_block_is_regenerated_with_one_findings_line_per_finding(figures, tmp_path):
    u_shape, best_bin = experiment("U-shape", CLEAR), experiment("best bin beats uniform", REVERSED)
    save_claims("03_u", with_finding("U-curve", [u_shape, best_bin], primary=1, headline="-0.11 nats"), "smoke")
    save_claims("05_s", [Claim.derived("omega", "1", "1", "checked", "05_fig")], "smoke")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nstale\n{README_END}\noutro\n")
    assert update_readme(readme, load_claims("smoke"))
    text = readme.read_text()
    assert "stale" not in text and text.startswith("intro") and text.endswith("outro\n")
    lines = [line for line in text.splitlines() if line.startswith("- **") and "claims (" not in line]
    assert len(lines) == 2    # one per finding: the tagged pair is one line, the untagged claim its notebook's
    # the primary is the claim given a headline, quoted with the paper's number; the other claim is counted
    assert lines[0].startswith("- **U-curve** ([notebook 03](notebooks/03_u.py)): ❌ not reproduced. "
                               "best bin beats uniform: ours -0.11 nats; paper x. Its 1 other claim: ✅ reproduced 1.")
    assert lines[1].startswith("- **notebook 05_s** ([notebook 05](notebooks/05_s.py), [figure](figures/05_fig.png)): "
                               "☑️ checked. omega: ours 1; paper 1.")
    assert "figures/REPORT.md" in text and readme_block(readme) in text
    readme.write_text("no markers")
    assert not update_readme(readme, load_claims("smoke")) and readme_block(readme) is None


def test_a_primary_claim_needs_a_headline():
    with pytest.raises(ValueError, match="headline"):
        with_finding("U-curve", [experiment("U-shape", CLEAR)], primary=0)
    with pytest.raises(ValueError, match="index"):
        with_finding("U-curve", [experiment("U-shape", CLEAR)], primary=3, headline="x")


def test_report_puts_findings_first_then_every_claim_then_every_figure(figures):
    save_claims("03_u", with_finding("U-curve", [experiment("U-shape", CLEAR)]), "smoke")
    (figures / "smoke" / "03_u_curve.png").write_bytes(PNG)
    text = build_report("smoke").read_text()
    assert text.index("## Findings at a glance") < text.index("- **U-curve** ([notebook 03](../notebooks/03_u.py))") \
        < text.index("## Every claim") < text.index("| U-shape |") < text.index("## Figures") \
        < text.index("![03_u_curve](03_u_curve.png)")
    html = (figures / "smoke" / "REPORT.html").read_text()
    assert "data:image/png;base64," in html and "03_u_curve.png" not in html   # embedded, no file links to follow
