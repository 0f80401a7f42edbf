"""The real download code against a local HTTP server on 127.0.0.1 (no test reaches the internet)."""

import hashlib
import http.server
import shutil
import threading
from functools import partial

import pytest
from shared_data import ROOT as SHARED, needs_data

from mdlm_core.data import registry
from mdlm_core.data.__main__ import main as data_main
from mdlm_core.data.registry import DataFetchError, DataFile, DataSet, fetch, locate, with_mirror
from mdlm_core.data.tasks import data_file
from mdlm_core.data.text import MissingDataError, find_wikitext2

GOOD = b"sentence\tlabel\nit 's a charming journey . \t1\n"
DEV = b"sentence\tlabel\nbad . \t0\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output quiet
        pass

    def do_GET(self):
        if self.path.endswith("/truncated.tsv"):  # promises the full length, sends half, then hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            self.wfile.write(GOOD[: len(GOOD) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """Serves tmp_path/served over HTTP on 127.0.0.1; yields the base URL."""
    served = tmp_path / "served"
    (served / "toy").mkdir(parents=True)
    (served / "toy" / "train.tsv").write_bytes(GOOD)
    (served / "toy" / "dev.tsv").write_bytes(DEV)
    (served / "toy" / "corrupt.tsv").write_bytes(GOOD.replace(b"1", b"0"))  # right size, wrong bytes
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv(registry.DATA_ENV, raising=False)
    monkeypatch.delenv(registry.FETCH_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))


def toy_registry(base: str, train_path: str = "toy/train.tsv") -> dict[str, DataSet]:
    files = (DataFile("train.tsv", (f"{base}/{train_path}",), len(GOOD), _sha(GOOD)),
             DataFile("dev.tsv", (f"{base}/toy/dev.tsv",), len(DEV), _sha(DEV)))
    return {"toy": DataSet("toy", files, source="test fixture", licence="none")}


def leftovers(folder):
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_fetch_into_empty_directory_verifies_and_places_files(server, tmp_path):
    target = tmp_path / "data"
    assert fetch(["toy"], target, toy_registry(server), quiet=True) == target
    assert (target / "toy" / "train.tsv").read_bytes() == GOOD
    assert (target / "toy" / "dev.tsv").read_bytes() == DEV
    assert leftovers(target) == ["dev.tsv", "toy", "train.tsv"]  # no temporaries


@pytest.mark.parametrize("bad_path, phrase", [
    ("toy/corrupt.tsv", "sha256"),          # served whole but altered
    ("toy/truncated.tsv", "truncated"),  # connection closed early
    ("toy/missing.tsv", "404"),              # not on the server
])
def test_bad_download_gives_clear_error_and_leaves_nothing(server, tmp_path, bad_path, phrase):
    target = tmp_path / "data"
    with pytest.raises(DataFetchError, match=phrase) as err:
        fetch(["toy"], target, toy_registry(server, train_path=bad_path), quiet=True)
    assert "python -m mdlm_core.data fetch" in str(err.value)  # names the fix
    assert "Nothing was written" in str(err.value)
    assert not (target / "toy" / "train.tsv").exists()
    assert [p for p in leftovers(target) if "partial" in p] == []


def test_existing_wrong_file_is_replaced_only_by_a_verified_download(server, tmp_path):
    target = tmp_path / "data"
    (target / "toy").mkdir(parents=True)
    (target / "toy" / "train.tsv").write_bytes(b"stale")
    with pytest.raises(DataFetchError):
        fetch(["toy"], target, toy_registry(server, train_path="toy/missing.tsv"), quiet=True)
    assert (target / "toy" / "train.tsv").read_bytes() == b"stale"  # untouched by the failed fetch
    fetch(["toy"], target, toy_registry(server), quiet=True)
    assert (target / "toy" / "train.tsv").read_bytes() == GOOD


def test_default_target_is_env_then_user_cache(server, tmp_path, monkeypatch):
    fetch(["toy"], registry=toy_registry(server), quiet=True)
    assert (tmp_path / "home-cache" / "mdlm_core" / "data" / "toy" / "train.tsv").read_bytes() == GOOD
    monkeypatch.setenv(registry.DATA_ENV, str(tmp_path / "env"))
    fetch(["toy"], registry=toy_registry(server), quiet=True)
    assert (tmp_path / "env" / "toy" / "train.tsv").is_file()


def test_locate_fetches_only_when_asked(server, tmp_path, monkeypatch):
    reg = toy_registry(server)
    assert locate("toy", registry=reg) is None  # offline-safe default: nothing downloads
    monkeypatch.setenv(registry.FETCH_ENV, "1")
    folder = locate("toy", registry=reg)
    assert folder == tmp_path / "home-cache" / "mdlm_core" / "data" / "toy"
    assert (folder / "dev.tsv").read_bytes() == DEV
    with pytest.raises(KeyError, match="choose from toy"):
        locate("tyo", registry=reg)


def test_loaders_fall_back_to_the_user_cache(tmp_path):
    cache = tmp_path / "home-cache" / "mdlm_core" / "data"
    (cache / "sst2").mkdir(parents=True)
    (cache / "sst2" / "dev.tsv").write_bytes(DEV)
    (cache / "sst2" / "train.tsv").write_bytes(GOOD)
    assert data_file("sst2", "dev.tsv") == cache / "sst2" / "dev.tsv"
    (cache / "wikitext-2").mkdir()
    for name in ("wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"):
        (cache / "wikitext-2" / name).write_text(" x \n")
    assert find_wikitext2() == cache / "wikitext-2"


def test_offline_loader_error_names_the_fetch_command(tmp_path, monkeypatch):
    with pytest.raises(MissingDataError, match="python -m mdlm_core.data fetch wikitext-2"):
        find_wikitext2()
    with pytest.raises(MissingDataError, match="python -m mdlm_core.data fetch sst2"):
        data_file("sst2", "dev.tsv")
    # asked to fetch but the network is unreachable (a closed port stands in for "offline")
    monkeypatch.setenv(registry.FETCH_ENV, "1")
    monkeypatch.setattr(registry, "DATASETS", with_mirror("http://127.0.0.1:9"))
    with pytest.raises(MissingDataError, match="(?s)fetching it failed.*python -m mdlm_core.data fetch sst2"):
        data_file("sst2", "dev.tsv")


@needs_data("sst2")
def test_cli_fetches_the_real_files_from_a_mirror_and_refuses_a_corrupt_one(server, tmp_path, capsys):
    served = tmp_path / "served" / "sst2"
    shutil.copytree(SHARED / "sst2", served)
    target = tmp_path / "d"
    assert data_main(["fetch", "sst2", "--data-dir", str(target), "--mirror", server]) == 0
    for f in registry.DATASETS["sst2"].files:  # the real registry's sizes and sha256 accepted the copies
        assert (target / "sst2" / f.name).read_bytes() == (SHARED / "sst2" / f.name).read_bytes()
    (served / "dev.tsv").write_bytes((served / "dev.tsv").read_bytes().replace(b"\t1", b"\t0", 1))
    (target / "sst2" / "dev.tsv").unlink()
    assert data_main(["fetch", "sst2", "--data-dir", str(target), "--mirror", server]) == 1
    assert "sha256" in capsys.readouterr().err
    assert not (target / "sst2" / "dev.tsv").exists()
    with pytest.raises(SystemExit):
        data_main(["fetch", "nope"])


def test_registry_matches_the_shipped_provenance():
    sources = (registry.Path(registry.__file__).parent / "SOURCES.md").read_text()
    for ds in registry.DATASETS.values():
        for f in ds.files:
            assert f.sha256 in sources, f"{ds.name}/{f.name} sha256 missing from SOURCES.md"
            assert all(u.startswith("https://") for u in f.urls)
