"""JupyterLab saves notebooks through jupytext's contents manager: with the project's jupytext.toml, a save
without edits leaves every numbered notebook byte-identical, and a save after an edit keeps the header."""

import asyncio
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.py") if re.match(r"^\d\d_[\w-]+\.py$", p.name))
jupytext_cm = pytest.importorskip("jupytext.async_contentsmanager")
largefile = pytest.importorskip("jupyter_server.services.contents.largefilemanager")


@pytest.fixture
def contents(tmp_path):
    shutil.copy(ROOT / "jupytext.toml", tmp_path)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
    manager = jupytext_cm.build_async_jupytext_contents_manager_class(largefile.AsyncLargeFileManager)
    return manager(root_dir=str(tmp_path)), tmp_path


def header(text: str) -> str:
    return text[:text.index("# ---\n", 5) + 6]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_open_save_is_byte_identical_and_edits_keep_the_header(contents, name):
    manager, root = contents
    path, rel = root / "notebooks" / name, f"notebooks/{name}"
    before = path.read_bytes()

    async def roundtrip(edit: bool):
        model = await manager.get(rel, type="notebook", content=True)
        nb = model["content"]
        # what JupyterLab adds once the kernel runs; it must not reach the .py
        nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
        if edit:
            nb.cells.append({"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [],
                             "execution_count": None, "id": "added"})
        await manager.save(model, rel)

    asyncio.run(roundtrip(edit=False))
    assert path.read_bytes() == before
    asyncio.run(roundtrip(edit=True))
    after = path.read_text()
    assert header(after) == header(before.decode()) and "# jupyter:\n" in header(after)
    assert after.rstrip().endswith("x = 1")
