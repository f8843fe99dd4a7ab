"""Hostile model files cannot exhaust memory (hypothesis + a resource limit in a subprocess).

Hypothesis mutates the size fields a loader trusts (zip members' declared sizes, the safetensors
header length, tensor shapes and data offsets, with the SHA-256 recomputed so the parser is reached)
of a valid ``.seqlayers`` file; the issue's case (a 1.5 MB file whose tensor member unpacks to
1.5 GB) and a member whose header understates its size are always included. A child process caps
its own address space (``RLIMIT_AS``) at what it uses after importing plus 512 MiB, checks that the
cap bites (allocating 1.5 GB there fails), then loads every file: each must load or raise
``ModelFileError``; a ``MemoryError`` (or any other exception) fails the test.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqlayers import LSTM, Dense, Sequential
from seqlayers.io import saving

from .test_catalogue_files import GB, _deflated_zeros, _stored, _zip

HEADROOM = 512 * 2**20
CHILD = r"""
import json, resource, sys
import seqlayers
from seqlayers import ModelFileError, load_model

def vm_size():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024

limit = vm_size() + int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    bytearray(3 * 2**29)  # 1.5 GB: the cap must refuse it
    bites = False
except MemoryError:
    bites = True
out = []
for path in json.load(open(sys.argv[1])):
    try:
        load_model(path)
        out.append("ok")
    except ModelFileError:
        out.append("ModelFileError")
    except BaseException as e:
        out.append(f"{type(e).__name__}: {str(e)[:300]}")
print(json.dumps({"bites": bites, "outcomes": out,
                  "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    path = tmp_path_factory.mktemp("valid") / "m.seqlayers"
    Sequential([LSTM(3, input_shape=(4, 2), name="lstm"), Dense(1, name="out")]).save(path)
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _resigned(files: dict, weights: bytes) -> list:
    cfg = json.loads(files["config.json"])
    cfg["weights"]["sha256"] = saving._sha256(weights)
    return [_stored("config.json", json.dumps(cfg).encode()), _stored("model.safetensors", weights)]


def _mutate(files: dict, kind: str, value: int, pick: int) -> bytes:
    w = bytearray(files["model.safetensors"])
    n = struct.unpack("<Q", w[:8])[0]
    header = json.loads(w[8:8 + n])
    names = sorted(k for k in header if k != "__metadata__")
    name = names[pick % len(names)]
    if kind == "member_size":  # the weights member claims another unpacked size
        members = [_stored("config.json", files["config.json"]), _stored("model.safetensors", bytes(w))]
        members[1] = members[1][:3] + (value % 2**32,) + members[1][4:]
        return _zip(members)
    if kind == "config_size":
        members = [_stored("config.json", files["config.json"]), _stored("model.safetensors", bytes(w))]
        members[0] = members[0][:3] + (value % 2**32,) + members[0][4:]
        return _zip(members)
    if kind == "header_length":
        w[:8] = struct.pack("<Q", value % 2**64)
        return _zip(_resigned(files, bytes(w)))
    if kind == "shape":
        header[name]["shape"] = [value % 2**62] + header[name]["shape"][1:]
    elif kind == "offsets":
        header[name]["data_offsets"] = [header[name]["data_offsets"][0], value % 2**62]
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return _zip(_resigned(files, struct.pack("<Q", len(raw)) + raw + bytes(w[8 + n:])))


MUTATION = st.tuples(st.sampled_from(["member_size", "config_size", "header_length", "shape", "offsets"]),
                     st.one_of(st.integers(0, 2**64), st.sampled_from([2**31, 2**32 - 1, 3 * GB // 2, 2**40, 2**62])),
                     st.integers(0, 100))


def _run_child(tmp_path, paths):
    listing = tmp_path / "paths.json"
    listing.write_text(json.dumps([str(p) for p in paths]))
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(listing), str(HEADROOM)], capture_output=True,
                          text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@settings(max_examples=3, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(mutations=st.lists(MUTATION, min_size=25, max_size=25))
def test_mutated_size_fields_never_exhaust_memory(tmp_path_factory, valid, mutations):
    tmp_path = tmp_path_factory.mktemp("mutated")
    paths = [tmp_path / "valid.seqlayers"]
    paths[0].write_bytes(_zip([_stored(n, d) for n, d in valid.items()]))
    payload, crc = _deflated_zeros(3 * GB // 2)  # the case: 1.5 MB that unpacks to 1.5 GB
    bomb = tmp_path / "bomb.seqlayers"
    bomb.write_bytes(_zip([_stored("config.json", valid["config.json"]),
                           ("model.safetensors", payload, 8, 3 * GB // 2, crc)]))
    liar = tmp_path / "liar.seqlayers"
    liar.write_bytes(_zip([_stored("config.json", valid["config.json"]),
                           ("model.safetensors", payload, 8, len(valid["model.safetensors"]), crc)]))
    paths += [bomb, liar]
    for i, (kind, value, pick) in enumerate(mutations):
        p = tmp_path / f"m{i}_{kind}.seqlayers"
        p.write_bytes(_mutate(valid, kind, value, pick))
        paths.append(p)
    result = _run_child(tmp_path, paths)
    assert result["bites"], "the address-space cap did not refuse 1.5 GB; the test would prove nothing"
    outcomes = result["outcomes"]
    assert outcomes[0] == "ok"  # the cap leaves room for a real load
    assert outcomes[1:3] == ["ModelFileError", "ModelFileError"]
    bad = {p.name: o for p, o in zip(paths, outcomes) if o not in ("ok", "ModelFileError")}
    assert not bad, bad
