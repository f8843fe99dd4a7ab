"""atomic_write: the new file has the mode that open() would give it (the umask's), not mkstemp's 0600."""
import os
import stat

import pytest

import seqlayers as sl
from seqlayers.atomic import atomic_write


@pytest.fixture
def umask():
    old = os.umask(0o022)
    os.umask(old)

    def set_umask(value):
        os.umask(value)

    yield set_umask
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("value, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_bytes_and_writer_functions_get_the_umask_mode(tmp_path, umask, value, expected):
    umask(value)
    atomic_write(tmp_path / "a.bin", b"data")

    def writer(tmp):
        with open(tmp, "wb") as f:
            f.write(b"more")

    atomic_write(tmp_path / "b.bin", writer)
    assert mode(tmp_path / "a.bin") == expected and mode(tmp_path / "b.bin") == expected
    assert (tmp_path / "a.bin").read_bytes() == b"data" and (tmp_path / "b.bin").read_bytes() == b"more"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.bin"]  # no temporary file left


def test_a_saved_model_is_readable_by_others_under_umask_022(tmp_path, umask):
    umask(0o022)
    model = sl.Sequential([sl.Dense(2, input_shape=(3,))])
    model.save(tmp_path / "m.seqlayers")
    model.save(tmp_path / "folder")
    assert mode(tmp_path / "m.seqlayers") == 0o644
    assert {mode(p) for p in (tmp_path / "folder").iterdir()} == {0o644}


def test_safetensors_writers_get_the_umask_mode_too(tmp_path, umask):
    # safetensors' save_file makes its file 0o600 itself; atomic_write sets the mode after the writer
    import torch
    from safetensors.torch import save_file

    umask(0o022)
    atomic_write(tmp_path / "w.safetensors", lambda tmp: save_file({"a": torch.zeros(2)}, tmp))
    assert mode(tmp_path / "w.safetensors") == 0o644


def test_every_file_of_a_training_run_is_readable_by_others_under_umask_022(tmp_path, umask):
    from seqlayers.cli import main

    umask(0o022)
    out = tmp_path / "run"
    assert main(["train", "addition", "--digits", "1", "--examples", "40", "--epochs", "1", "--units", "4",
                 "--out", str(out), "--quiet"]) == 0
    modes = {p.name: oct(mode(p)) for p in out.rglob("*") if p.is_file()}
    assert "weights.safetensors" in modes and "model.seqlayers" in modes
    assert set(modes.values()) == {"0o644"}, modes
