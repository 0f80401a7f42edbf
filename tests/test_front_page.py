"""The front page a researcher reads first stays true: the README's findings block and figures/REPORT.md are what
the committed claims render to, the findings sit on the README's first screen, every notebook has a timing row, and
BENCHMARKS.md names only benches that exist (and every bench that exists)."""

import re
import subprocess
import sys
from pathlib import Path

from mdlm_core.companion.report import (README_END, README_START, load_claims, readme_block, render_markdown,
                                        render_readme_block)

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "figures"
REGENERATE = "python -m mdlm_core.companion.report --profile quick --readme README.md"
FIRST_SCREEN = 60


def committed_claims():
    return load_claims("quick", FIGURES)


def test_readme_findings_block_is_what_the_committed_claims_render_to():
    block = readme_block(ROOT / "README.md")
    assert block is not None, f"README.md lost its {README_START} ... {README_END} block"
    assert block == render_readme_block(committed_claims()), (
        f"README.md's findings block is stale against figures/claims/: run `{REGENERATE}`")


def test_report_is_what_the_committed_claims_render_to():
    figure_names = sorted(path.stem for path in FIGURES.glob("*.png"))
    expected = render_markdown(committed_claims(), "quick", figure_names)
    assert (FIGURES / "REPORT.md").read_text() == expected, (
        f"figures/REPORT.md is stale against figures/claims/ or the figures: run `{REGENERATE}`")


def test_first_screen_holds_the_setup_commands_and_the_findings():
    lines = (ROOT / "README.md").read_text().splitlines()[:FIRST_SCREEN]
    assert any(line.startswith('python -m pip install -e ".[dev,hf]"') for line in lines)
    assert any(line.startswith("python -m pytest") for line in lines)
    assert README_END in lines, f"the findings block must end within the README's first {FIRST_SCREEN} lines"
    findings = [line for line in lines[lines.index(README_START):lines.index(README_END)] if line.startswith("- **")]
    assert len(findings) >= 2 + 5   # the two verdict counts, then at least the papers' five findings


def test_every_finding_line_links_a_notebook_that_exists_and_every_claim_names_its_finding():
    claims = committed_claims()
    for notebook, rows in claims.items():
        assert (ROOT / "notebooks" / f"{notebook}.py").exists(), notebook
        untagged = [row["claim"] for row in rows if not row.get("finding")]
        assert not untagged, f"{notebook}: claims without a finding (Claim.finding / with_finding): {untagged}"
    for target in re.findall(r"\]\(((?:notebooks|figures)/[^)]+)\)", render_readme_block(claims)):
        assert (ROOT / target).exists(), target


def test_every_notebook_has_one_timing_row():
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- timings -->", 1)[1].split("\n\n", 1)[0]
    rows = [line.split("|")[1].strip().strip("`") for line in table.splitlines()[3:] if line.startswith("|")]
    notebooks = sorted(path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    assert [row for row in rows if row[:2].isdigit()] == notebooks


def test_benchmarks_is_a_current_table_naming_only_benches_that_exist():
    text = (ROOT / "BENCHMARKS.md").read_text()
    assert len(text.splitlines()) <= 120, "BENCHMARKS.md is a current table (<= 120 lines); history lives in git"
    named = set(re.findall(r"bench/[\w.]+\.py", text))
    on_disk = {f"bench/{path.name}" for path in (ROOT / "bench").glob("*.py")}
    assert named <= on_disk, f"BENCHMARKS.md names benches that no longer exist: {sorted(named - on_disk)}"
    assert on_disk <= named, f"benches missing from BENCHMARKS.md: {sorted(on_disk - named)}"


def test_readme_paper_cost_table_is_what_bench_paper_cost_prints():
    text = (ROOT / "README.md").read_text()
    start = text.index("| notebook | training PFLOP |")
    table = text[start:text.index("\n\n", start)]
    printed = subprocess.run([sys.executable, str(ROOT / "bench" / "paper_cost.py")], capture_output=True, text=True,
                             check=True, cwd=ROOT).stdout.strip()
    assert table == printed, "README.md's paper-cost table is stale: paste the output of `python bench/paper_cost.py`"
