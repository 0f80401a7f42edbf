"""The claims report: every claim of both papers, gathered from the notebooks' saved results.

Each notebook ends with ``save_claims``, which writes ``<figures>/claims/NN_name.json``. This module
reads those files (never anything written by hand) and renders

* ``<figures>/REPORT.md``: the findings at a glance (one line per paper finding, grouped by ``Claim.finding``),
  then one table per notebook (claim, paper, ours, test with p, q and the minimum detectable effect, gate,
  verdict, figure link), then every figure;
* ``<figures>/REPORT.html``: the same with the figures embedded (it opens without a server), rendered by
  nbconvert from a notebook with no input cells;
* the README's generated block (between ``README_START`` and ``README_END``): the verdict counts and the
  findings at a glance, never hand-typed (``tests/test_front_page.py`` fails when it is stale).

Loading the claims applies the report-wide false-discovery rate (``verdicts.apply_fdr`` over every
notebook's claims of the profile), so the q-values and verdicts shown are final. Claims files written
before the one-sided rules still load (the fields they lack read as None) and keep their verdicts.
All are written atomically. ``python -m mdlm_core.companion.report --profile quick --readme README.md`` rebuilds
them from the saved claims.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
from collections import Counter
from dataclasses import fields
from pathlib import Path

from .outputs import figures_dir, write_text
from .profiles import resolve_profile
from .verdicts import DERIVED, EXPERIMENT, KINDS, VERDICTS, Claim, apply_fdr_by_notebook

VERDICT_MARK = {"reproduced": "✅ reproduced", "partly": "🟡 partly", "not reproduced": "❌ not reproduced",
                "inconclusive": "⚪ inconclusive", "derived": "📐 derived", "checked": "☑️ checked",
                "fails check": "⛔ fails check"}
KIND_TITLE = {EXPERIMENT: "experiment claims (trained runs, judged by a pre-declared test)",
              DERIVED: "derived claims (identities and implementation checks, not reproductions)"}


CLAIM_FIELDS = [f.name for f in fields(Claim)]


def load_claims(profile: str | None = None, folder: Path | None = None) -> dict[str, list[dict]]:
    """Claims per notebook, in notebook order: {'01_signal_curve': [row, ...], ...}, with the report-wide FDR
    applied and every ``Claim`` field present (None where an older file lacks it). ``folder``: a figures folder
    other than the profile's (``figures_dir(profile)``)."""
    claims_dir = (figures_dir(profile) if folder is None else Path(folder)) / "claims"
    out = {}
    for path in sorted(claims_dir.glob("*.json")):
        rows = json.loads(path.read_text())
        for row in rows:
            kind = row.get("kind")
            if kind not in KINDS or row.get("verdict") not in VERDICTS[kind]:
                raise ValueError(f"{path}: claim {row.get('claim')!r} has kind {kind!r} and verdict {row.get('verdict')!r}; "
                                 f"kinds are {KINDS} with verdicts {VERDICTS}. Re-run its notebook to rewrite the claims.")
        out[path.stem] = rows
    return {name: [{key: row.get(key) for key in CLAIM_FIELDS} | row for row in rows]
            for name, rows in apply_fdr_by_notebook(out).items()}


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def gate_failed(row: dict) -> bool:
    return row.get("gate_passed") is False


def verdict_cell(row: dict) -> str:
    """The verdict as it reads, "⚪ inconclusive (gate: ...)" where the claim's gate failed."""
    return VERDICT_MARK[row["verdict"]] + (f" (gate: {_cell(row.get('gate') or 'failed')})" if gate_failed(row) else "")


def tally_by_kind(claims: dict[str, list[dict]]) -> list[str]:
    """One line per kind: how many claims of that kind got each verdict (and how many inconclusive by a gate)."""
    rows = [row for rows in claims.values() for row in rows]
    tally = Counter((row["kind"], row["verdict"]) for row in rows)
    lines = []
    for kind in (EXPERIMENT, DERIVED):
        total = sum(n for (k, _), n in tally.items() if k == kind)
        counts = ", ".join(f"{VERDICT_MARK[v]}: {tally.get((kind, v), 0)}" for v in VERDICTS[kind])
        gated = sum(1 for row in rows if row["kind"] == kind and gate_failed(row))
        lines.append(f"- **{total} {KIND_TITLE[kind]}**: {counts}" + (f" ({gated} of them by a failed gate)" if gated
                                                                        else ""))
    return lines


def _number(name: str, value, spec: str) -> list[str]:
    return [] if value is None or not math.isfinite(value) else [f"{name} = {value:{spec}}"]


def _numbers(row: dict) -> list[str]:
    """statistic, p (one-sided, the paper's direction), p against, q, z, seeds and MDE, where present."""
    mde = _number("MDE", row.get("mde"), ".3g")
    if not mde and row.get("p_convention") is not None and row.get("n_seeds"):
        mde = ["MDE: none at this n"]
    return ([row["statistic"]] + _number("p", row.get("p_value"), ".3g") + _number("p against", row.get("p_opposite"),
            ".3g") + _number("q", row.get("q_value"), ".3g") + _number("z", row.get("z"), ".2f")
            + [f"{row['n_seeds']} seeds"] + mde)


def _test_cell(row: dict) -> str:
    if row["kind"] != EXPERIMENT:
        return ""
    gate = f"; gate held: {row['gate']}" if row.get("gate") and row.get("gate_passed") else ""
    return f"{_cell(row['test'])} ({_cell('; '.join(_numbers(row)))}){_cell(gate)}"


def _headline(row: dict, limit: int = 160) -> str:
    """A claim's key number in a few words: its ``headline``, else the first clause of ``ours``."""
    text = row.get("headline") or str(row["ours"]).split(" — ")[0].split("; ")[0]
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def findings(claims: dict[str, list[dict]]) -> list[dict]:
    """The paper findings the claims answer, in notebook order: {finding, notebook, rows}, where ``rows`` are the
    claims tagged with that finding (``Claim.finding``; an untagged claim stands for its notebook)."""
    groups: dict[str, dict] = {}
    for notebook, rows in claims.items():
        for row in rows:
            title = row.get("finding") or f"notebook {notebook}"
            groups.setdefault(title, {"finding": title, "notebook": notebook, "rows": []})["rows"].append(row)
    return list(groups.values())


def _primary(rows: list[dict]) -> dict:
    """A finding's primary claim: the first with a ``headline``, else its first experiment claim, else its first."""
    return next((row for row in rows if row.get("headline")),
                next((row for row in rows if row["kind"] == EXPERIMENT), rows[0]))


def render_findings(claims: dict[str, list[dict]], notebooks: str = "notebooks/", figures: str = "figures/") -> str:
    """One line per paper finding: its primary claim's verdict, our key number beside the paper's, the verdicts of
    its other claims, and links to its notebook and figure (``notebooks`` / ``figures``: the links' prefixes)."""
    lines = []
    for group in findings(claims):
        primary = _primary(group["rows"])
        others = [row for row in group["rows"] if row is not primary]
        figure = next((row["figure"] for row in group["rows"] if row.get("figure")), "")
        links = f"[notebook {group['notebook'][:2]}]({notebooks}{group['notebook']}.py)" + (
            f", [figure]({figures}{figure}.png)" if figure else "")
        more = ""
        if others:
            tally = Counter(row["verdict"] for row in others)
            more = f" Its {len(others)} other claim{'s' if len(others) > 1 else ''}: " + ", ".join(
                f"{VERDICT_MARK[v]} {n}" for v, n in tally.items()) + "."
        lines.append(f"- **{_cell(group['finding'])}** ({links}): {verdict_cell(primary)}. "
                     f"{_cell(primary['claim'])}: ours {_cell(_headline(primary))}; paper {_cell(primary['paper'])}.{more}")
    return "\n".join(lines)


def render_markdown(claims: dict[str, list[dict]], profile: str, figure_names: list[str] = ()) -> str:
    """REPORT.md: the findings at a glance, then every claim with its test, q and gate, then the figures."""
    lines = [f"# Claims report (profile `{profile}`)", "",
             "Generated by `mdlm_core.companion.report` from the notebooks' saved claims (`claims/*.json`); do not edit by hand.",
             "p is one-sided in the paper's direction, q its Benjamini-Hochberg q-value over every experiment claim of "
             "the report, MDE the effect each test detects with 80% power (rules: `mdlm_core/companion/verdicts.py`).",
             "", "## Findings at a glance", "", *tally_by_kind(claims), "",
             render_findings(claims, notebooks="../notebooks/", figures=""), "", "## Every claim", ""]
    for notebook, rows in claims.items():
        lines += [f"### {notebook}", "", "| claim | kind | paper | ours | test | verdict | figure |",
                  "|---|---|---|---|---|---|---|"]
        for row in rows:
            figure = f"[{row['figure']}]({row['figure']}.png)" if row.get("figure") else ""
            notes = f" ({_cell(row['notes'])})" if row.get("notes") else ""
            lines.append(f"| {_cell(row['claim'])} | {row['kind']} | {_cell(row['paper'])} | {_cell(row['ours'])}{notes} | "
                         f"{_test_cell(row)} | {verdict_cell(row)} | {figure} |")
        lines.append("")
    if figure_names:
        lines += ["## Figures", ""] + [f"### {name}\n\n![{name}]({name}.png)\n" for name in figure_names]
    return "\n".join(lines)


def render_html(markdown: str, folder: Path, figure_names: list[str]) -> str:
    """The report's text plus every figure embedded (so the page opens without a server), through nbconvert's HTML
    exporter with inputs hidden."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(markdown))
    if figure_names:
        nb.cells.append(nbformat.v4.new_markdown_cell("## Figures"))
    for name in figure_names:
        cell = nbformat.v4.new_code_cell(source=f"# {name}")
        cell.outputs = [nbformat.v4.new_output("display_data", data={
            "image/png": base64.b64encode((folder / f"{name}.png").read_bytes()).decode(), "text/plain": name})]
        nb.cells += [nbformat.v4.new_markdown_cell(f"### {name}"), cell]
    for i, cell in enumerate(nb.cells):  # nbformat draws random cell ids; the HTML embeds them
        cell.id = f"report-{i}"
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    html, _ = exporter.from_notebook_node(nb)
    return html


README_START, README_END = "<!-- findings:start -->", "<!-- findings:end -->"


def render_readme_block(claims: dict[str, list[dict]]) -> str:
    """The README's generated block: the verdict counts and the findings at a glance, with the report's link."""
    return "\n".join([*tally_by_kind(claims), "", render_findings(claims), "",
                      "Every claim with its test, p, q and gate, then every figure: [`figures/REPORT.md`](figures/REPORT.md) "
                      "(`figures/REPORT.html`, written by `reproduce.sh`, embeds the figures and opens without a server)."])


def readme_block(readme: Path) -> str | None:
    """The README's current generated block, or None if its markers are absent."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return None
    return text.split(README_START, 1)[1].split(README_END, 1)[0].strip("\n")


def update_readme(readme: Path, claims: dict[str, list[dict]]) -> bool:
    """Replace the block between the findings markers of the README; False if the markers are absent."""
    text = readme.read_text()
    if readme_block(readme) is None:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    write_text(readme, f"{head}{README_START}\n{render_readme_block(claims)}\n{README_END}{tail}")
    return True


def build_report(profile: str | None = None, html: bool = True,
                 claims: dict[str, list[dict]] | None = None, folder: Path | None = None) -> Path:
    """Write REPORT.md (and REPORT.html) for ``profile`` into its figures folder (or ``folder``); ``claims`` defaults
    to ``load_claims``; either way the report-wide FDR is applied over them."""
    profile = resolve_profile(profile)
    folder = figures_dir(profile) if folder is None else Path(folder)
    claims = load_claims(profile, folder) if claims is None else apply_fdr_by_notebook(claims)
    figure_names = sorted(path.stem for path in folder.glob("*.png"))
    path = write_text(folder / "REPORT.md", render_markdown(claims, profile, figure_names))
    if html:
        write_text(folder / "REPORT.html", render_html(render_markdown(claims, profile), folder, figure_names))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build figures/REPORT.md and REPORT.html from saved claims.")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--readme", type=Path, default=None,
                        help="also regenerate this README's findings block (the quick profile's claims)")
    args = parser.parse_args(argv)
    claims = load_claims(args.profile)
    print(build_report(args.profile, claims=claims))
    if args.readme is not None and not update_readme(args.readme, claims):
        raise SystemExit(f"{args.readme} has no {README_START} ... {README_END} block")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
