"""The API reference: `mkdocs build --strict` succeeds offline and documents every name of seqlayers.__all__.

This is the test through which CI builds the reference (`make docs` runs the same build into site/).
"""
import subprocess
import sys
import types
import zlib
from pathlib import Path

import pytest

import seqlayers

ROOT = Path(__file__).resolve().parents[1]


def read_inventory(path: Path) -> dict[str, str]:
    """``objects.inv`` (Sphinx inventory v2, as mkdocstrings writes it): {name: role}."""
    header, _, rest = path.read_bytes().partition(b"# The remainder of this file is compressed using zlib.\n")
    assert header.startswith(b"# Sphinx inventory version 2")
    entries = {}
    for line in zlib.decompress(rest).decode().splitlines():
        name, role, *_ = line.split(" ")
        entries[name] = role
    return entries


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    return out


def test_every_public_name_is_in_the_reference(site):
    documented = read_inventory(site / "objects.inv")
    missing = []
    for name in seqlayers.__all__:
        role = "py:module" if isinstance(getattr(seqlayers, name), types.ModuleType) else None
        entry = documented.get(f"seqlayers.{name}")
        if entry is None or (role and entry != role):
            missing.append(name)
    assert not missing, (f"public names missing from the API reference: {missing}. A module needs a page "
                         f"docs/api/<name>.md with '::: seqlayers.<name>' (and a line in mkdocs.yml's nav); "
                         f"any other name needs a docstring.")


def test_the_guides_are_linked_in(site):
    for page in ("topologies", "training", "results", "performance", "reliability"):
        assert (site / page / "index.html").exists(), page
    home = (site / "index.html").read_text()
    assert 'href="api/"' in home and 'href="topologies/"' in home


def test_the_pages_load_nothing_from_the_network(site):
    for page in site.rglob("*.html"):
        html = page.read_text()
        assert 'src="http' not in html and 'stylesheet" href="http' not in html, page


def test_every_reference_page_is_in_the_navigation():
    config = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs" / "api").glob("*.md"))
    assert pages and all(p in config for p in pages), [p for p in pages if p not in config]


def test_the_inventory_reader_sees_a_missing_name(tmp_path):
    # the coverage test above can fail: an inventory without LSTM is reported
    body = "seqlayers.Dense py:class 1 api/#$ -\n"
    (tmp_path / "objects.inv").write_bytes(b"# Sphinx inventory version 2\n# Project: x\n# Version: 0\n"
                                           b"# The remainder of this file is compressed using zlib.\n"
                                           + zlib.compress(body.encode()))
    inv = read_inventory(tmp_path / "objects.inv")
    assert "seqlayers.Dense" in inv and "seqlayers.LSTM" not in inv
