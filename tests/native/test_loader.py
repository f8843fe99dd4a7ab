"""seqlayers/native/loader.py: how the native library is built when the compiler lacks a feature."""
import pytest
from torch.utils import cpp_extension

from seqlayers.native import loader


def test_a_compiler_without_openmp_builds_the_kernels_without_it(monkeypatch, tmp_path):
    calls = []

    def fake_load(name, sources, extra_cflags, extra_ldflags, build_directory, is_python_module, verbose):
        calls.append((list(extra_cflags), list(extra_ldflags)))
        if "-fopenmp" in extra_cflags:
            raise RuntimeError("c++: error: unsupported option '-fopenmp'")

    monkeypatch.setattr(cpp_extension, "load", fake_load)
    monkeypatch.setenv("SEQLAYERS_CACHE", str(tmp_path))
    monkeypatch.setattr(loader, "_state", {"loaded": False, "tried": False, "reason": "", "enabled": True})
    path = loader.build()
    assert calls == [(["-O3", "-fopenmp"], ["-fopenmp"]), (["-O3"], [])]
    assert path.parent.parent == tmp_path / "native" and loader._state["loaded"]


def test_a_failed_build_says_what_is_needed(monkeypatch, tmp_path):
    def fake_load(**kwargs):
        raise RuntimeError("ninja: not found")

    monkeypatch.setattr(cpp_extension, "load", lambda *a, **k: fake_load(**k))
    monkeypatch.setenv("SEQLAYERS_CACHE", str(tmp_path))
    monkeypatch.setattr(loader, "_state", {"loaded": False, "tried": False, "reason": "", "enabled": True})
    with pytest.raises(RuntimeError, match=r"ninja: not found.*A C\+\+ compiler \(g\+\+\) and ninja are needed"):
        loader.build()
    assert loader._state["reason"].startswith("build failed")
