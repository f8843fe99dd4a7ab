"""Catalogue, round two: hostile and damaged files, saving onto bad paths, and readers.

Hostile files are built small: a zip member that unpacks to 1.5 GB is a 1.5 MB deflate stream made
by repeating one compressed block, and oversized HDF5 datasets are declared, never written; no test
allocates more than a few MB. Every refusal names the file and the limit (``ModelFileError``).
"""
from __future__ import annotations

import errno
import io
import json
import os
import struct
import tempfile
import zipfile
import zlib

import numpy as np
import pytest
import torch

import seqlayers as sl
from seqlayers import LSTM, Dense, ModelFileError, Sequential, from_keras, load_model
from seqlayers.io import saving

from .test_bad_inputs import raises

GB = 2**30


def _model():
    return Sequential([LSTM(3, input_shape=(4, 2), name="lstm"), Dense(1, name="out")])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile") / "m.seqlayers"
    _model().save(path)
    with zipfile.ZipFile(path) as zf:
        return path, {n: zf.read(n) for n in zf.namelist()}


def _deflated_zeros(size: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``size`` zero bytes (a multiple of 16 MiB) and its CRC-32, made without
    allocating ``size``: one block compressed after a full flush is position-independent, so repeat it."""
    chunk = bytes(16 * 2**20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    n = size // len(chunk)
    crc = 0
    for _ in range(n):
        crc = zlib.crc32(chunk, crc)
    return block * n + b"\x03\x00", crc  # the final (empty, fixed-Huffman) block


def _zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip file from raw members ``(name, payload, method, file_size, crc)``, sizes as declared."""
    out, central = io.BytesIO(), []
    for name, payload, method, size, crc in members:
        offset = out.tell()
        raw = name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(payload), size,
                              len(raw), 0) + raw + payload)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc,
                                   len(payload), size, len(raw), 0, 0, 0, 0, 0, offset) + raw)
    start = out.tell()
    for c in central:
        out.write(c)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), out.tell() - start, start, 0))
    return out.getvalue()


def _stored(name, data):
    return name, data, 0, len(data), zlib.crc32(data)


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ================================================================ bounded loaders: .seqlayers
def test_weights_member_that_unpacks_to_1_5_gb_is_refused_without_allocating_it(tmp_path, saved):
    payload, crc = _deflated_zeros(3 * GB // 2)
    assert len(payload) < 2 * 2**20  # a 1.5 MB file
    data = _zip([_stored("config.json", saved[1]["config.json"]),
                 ("model.safetensors", payload, 8, 3 * GB // 2, crc)])
    path = _write(tmp_path, "bomb.seqlayers", data)
    with raises(ModelFileError, r"bomb.seqlayers': member model.safetensors unpacks 1,5\d\d,\d\d\d bytes to "
                                r"1,610,612,736, a ratio above 100 \(the limit\)"):
        load_model(path)


def test_weights_member_larger_than_the_config_allows_is_refused_before_reading(tmp_path, saved):
    data = _zip([_stored("config.json", saved[1]["config.json"]), _stored("model.safetensors", bytes(8 * 2**20))])
    with raises(ModelFileError, r"big.seqlayers': model.safetensors: 8,388,608 bytes, more than the [\d,]+ bytes "
                                r"\(the limit\) that the model's config allows"):
        load_model(_write(tmp_path, "big.seqlayers", data))


def test_member_whose_header_understates_its_size_is_cut_at_that_size_and_refused(tmp_path, saved):
    payload, crc = _deflated_zeros(64 * 2**20)
    weights = saved[1]["model.safetensors"]
    data = _zip([_stored("config.json", saved[1]["config.json"]), ("model.safetensors", payload, 8, len(weights), crc)])
    with raises(ModelFileError, r"liar.seqlayers': model.safetensors (cannot be read|does not match the SHA-256)"):
        load_model(_write(tmp_path, "liar.seqlayers", data))


def test_config_member_that_is_a_zip_bomb_is_refused(tmp_path, saved):
    payload, crc = _deflated_zeros(256 * 2**20)
    data = _zip([("config.json", payload, 8, 256 * 2**20, crc),
                 _stored("model.safetensors", saved[1]["model.safetensors"])])
    with raises(ModelFileError, r"member config.json unpacks .* a ratio above 100 \(the limit\)"):
        load_model(_write(tmp_path, "cbomb.seqlayers", data))


def test_config_nested_100000_deep_is_refused_without_a_recursion_error(tmp_path, saved):
    deep = b'{"a": ' * 100_000 + b"1" + b"}" * 100_000
    data = _zip([_stored("config.json", deep), _stored("model.safetensors", saved[1]["model.safetensors"])])
    with raises(ModelFileError, r"deep.seqlayers': config.json: JSON nested more than 200 levels deep \(the limit\)"):
        load_model(_write(tmp_path, "deep.seqlayers", data))


def test_read_config_of_a_deep_config_is_refused_too(tmp_path, saved):
    deep = b"[" * 300 + b"]" * 300
    data = _zip([_stored("config.json", deep), _stored("model.safetensors", saved[1]["model.safetensors"])])
    with raises(ModelFileError, r"JSON nested more than 200 levels deep"):
        saving.read_config(_write(tmp_path, "deep.seqlayers", data))


def _with_weights(tmp_path, saved, weights: bytes, name="w.seqlayers"):
    cfg = json.loads(saved[1]["config.json"])
    cfg["weights"]["sha256"] = saving._sha256(weights)
    data = _zip([_stored("config.json", json.dumps(cfg).encode()), _stored("model.safetensors", weights)])
    return _write(tmp_path, name, data)


def _safetensors(header: dict, data: bytes) -> bytes:
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


def _own_header(saved):
    w = saved[1]["model.safetensors"]
    n = struct.unpack("<Q", w[:8])[0]
    return json.loads(w[8:8 + n]), w[8 + n:]


def test_safetensors_header_length_beyond_the_file_is_refused(tmp_path, saved):
    w = bytearray(saved[1]["model.safetensors"])
    w[:8] = struct.pack("<Q", 2**40)
    with raises(ModelFileError, r"model.safetensors: not a valid safetensors file \(header of 1,099,511,627,776 bytes"):
        load_model(_with_weights(tmp_path, saved, bytes(w)))


def test_safetensors_tensor_of_another_shape_than_the_config_is_refused(tmp_path, saved):
    header, data = _own_header(saved)
    name = next(k for k in header if k.endswith("bias") and k.startswith("out"))
    header[name]["shape"] = [1, 1]
    with raises(ModelFileError, rf"weight '{name}' has shape \(1, 1\) in the file, but the config builds \(1,\)"):
        load_model(_with_weights(tmp_path, saved, _safetensors(header, data)))


def test_safetensors_tensor_missing_is_named(tmp_path, saved):
    header, data = _own_header(saved)
    name = next(k for k in header if k.startswith("out") and k.endswith("bias"))
    start, end = header.pop(name)["data_offsets"]
    shift = end - start
    for e in header.values():
        if isinstance(e, dict) and "data_offsets" in e and e["data_offsets"][0] >= end:
            e["data_offsets"] = [e["data_offsets"][0] - shift, e["data_offsets"][1] - shift]
    with raises(ModelFileError, rf"the weights do not fit the model's config: missing \['{name}'\]"):
        load_model(_with_weights(tmp_path, saved, _safetensors(header, data[:start] + data[end:])))


def test_safetensors_overlapping_tensors_are_refused(tmp_path, saved):
    header, data = _own_header(saved)
    entries = sorted((v["data_offsets"], k) for k, v in header.items() if k != "__metadata__")
    (a, b), k = entries[1]
    header[k]["data_offsets"] = [a - 4, b - 4]
    with raises(ModelFileError, r"tensor data overlaps or leaves a gap"):
        load_model(_with_weights(tmp_path, saved, _safetensors(header, data)))


def test_safetensors_unknown_dtype_is_refused(tmp_path, saved):
    header, data = _own_header(saved)
    k = next(k for k in header if k != "__metadata__")
    header[k]["dtype"] = "F128"
    with raises(ModelFileError, rf"tensor '{k}' has dtype 'F128'; expected one of \['BF16', 'BOOL'"):
        load_model(_with_weights(tmp_path, saved, _safetensors(header, data)))


def test_safetensors_offsets_outside_the_data_are_refused(tmp_path, saved):
    header, data = _own_header(saved)
    k = next(k for k in header if k != "__metadata__")
    header[k]["data_offsets"] = [0, 2**40]
    with raises(ModelFileError, rf"tensor '{k}' .* has data_offsets \[0, 1099511627776\], outside the"):
        load_model(_with_weights(tmp_path, saved, _safetensors(header, data)))


def test_safetensors_bytes_after_the_last_tensor_are_refused(tmp_path, saved):
    header, data = _own_header(saved)
    with raises(ModelFileError, r"not a valid safetensors file \(8 bytes after the last tensor\)"):
        load_model(_with_weights(tmp_path, saved, _safetensors(header, data + bytes(8))))


def test_safetensors_negative_size_in_a_shape_is_refused(tmp_path, saved):
    header, data = _own_header(saved)
    k = next(k for k in header if k != "__metadata__")
    header[k]["shape"] = [-1]
    with raises(ModelFileError, rf"tensor '{k}' has shape \[-1\]; expected a list of sizes >= 0"):
        load_model(_with_weights(tmp_path, saved, _safetensors(header, data)))


def test_config_naming_another_tensors_file_is_refused(tmp_path, saved):
    cfg = json.loads(saved[1]["config.json"])
    cfg["weights"]["file"] = "../../etc/passwd"
    data = _zip([_stored("config.json", json.dumps(cfg).encode()),
                 _stored("model.safetensors", saved[1]["model.safetensors"])])
    with raises(ModelFileError, r"config.json names the tensors file '../../etc/passwd'; a seqlayers model holds only"):
        load_model(_write(tmp_path, "n.seqlayers", data))


def test_folder_whose_weights_file_is_larger_than_the_config_allows_is_refused(tmp_path):
    _model().save(tmp_path / "m")
    with open(tmp_path / "m" / "model.safetensors", "r+b") as f:
        f.truncate(64 * 2**20)  # a sparse file: nothing is written
    with raises(ModelFileError, r"m': model.safetensors: 67,108,864 bytes, more than the [\d,]+ bytes \(the limit\)"):
        load_model(tmp_path / "m")


def test_optimizer_file_larger_than_the_model_allows_is_refused(tmp_path):
    m = _model()
    m.compile(optimizer="adam", loss="mse")
    m.fit(np.zeros((2, 4, 2), "float32"), np.zeros((2, 1), "float32"), verbose=0)
    m.save(tmp_path / "m", include_optimizer=True)
    with open(tmp_path / "m" / "optimizer.safetensors", "r+b") as f:
        f.truncate(64 * 2**20)
    with raises(ModelFileError, r"optimizer.safetensors: 67,108,864 bytes, more than the [\d,]+ bytes \(the limit\)"):
        load_model(tmp_path / "m")


def test_config_that_builds_a_14_gb_model_is_refused_before_building_it(tmp_path, saved):
    cfg = json.loads(saved[1]["config.json"])
    layers = cfg["model"]["config"]["layers"]
    layers[0]["config"]["units"] = 30_000  # 3.6e9 values: 14 GB of float32
    for entry in layers:
        entry.pop("build_config", None)
    data = _zip([_stored("config.json", json.dumps(cfg).encode()),
                 _stored("model.safetensors", saved[1]["model.safetensors"])])
    with raises(ModelFileError, r"huge.seqlayers': the config builds a model of 3,600,390,001 values, but "
                                r"model.safetensors holds only [\d,]+ bytes \(the limit: one byte per value at the "
                                r"least\)"):
        load_model(_write(tmp_path, "huge.seqlayers", data))


# ================================================================ bounded loaders: .keras, .h5, JSON
@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    import keras

    path = tmp_path_factory.mktemp("keras") / "ok.keras"
    keras.Sequential([keras.Input((4, 2)), keras.layers.LSTM(2)]).save(path)
    with zipfile.ZipFile(path) as zf:
        return path, {n: zf.read(n) for n in zf.namelist()}


def test_keras_file_whose_weights_member_is_a_zip_bomb_is_refused(tmp_path, keras_file):
    payload, crc = _deflated_zeros(3 * GB // 2)
    members = [_stored(n, d) for n, d in keras_file[1].items() if n != "model.weights.h5"]
    data = _zip(members + [("model.weights.h5", payload, 8, 3 * GB // 2, crc)])
    with raises(ModelFileError, r"bomb.keras': member model.weights.h5 unpacks .* a ratio above 100 \(the limit\)"):
        from_keras(_write(tmp_path, "bomb.keras", data))


def test_keras_file_whose_weights_are_larger_than_the_model_is_refused(tmp_path, keras_file):
    members = [_stored(n, d) for n, d in keras_file[1].items() if n != "model.weights.h5"]
    data = _zip(members + [_stored("model.weights.h5", bytes(8 * 2**20))])
    with raises(ModelFileError, r"big.keras': model.weights.h5 claims 8,388,608 bytes, more than the [\d,]+ bytes \(the"
                                r" limit\)"):
        from_keras(_write(tmp_path, "big.keras", data))


def test_keras_config_nested_deep_is_refused(tmp_path, keras_file):
    members = [_stored(n, d) for n, d in keras_file[1].items() if n != "config.json"]
    data = _zip(members + [_stored("config.json", b"[" * 100_000 + b"]" * 100_000)])
    with raises(ModelFileError, r"deep.keras': config.json: JSON nested more than 200 levels deep \(the limit\)"):
        from_keras(_write(tmp_path, "deep.keras", data))


def test_h5_model_config_nested_deep_is_refused(tmp_path):
    import h5py

    path = tmp_path / "deep.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = "[" * 100_000 + "]" * 100_000
    with raises(ModelFileError, r"deep.h5': model_config: JSON nested more than 200 levels deep"):
        from_keras(path)


def _keras_h5(path):
    import keras

    keras.Sequential([keras.Input((4, 2)), keras.layers.LSTM(2, name="lstm")]).save(path)
    return path


def test_h5_model_config_larger_than_the_limit_is_refused_before_reading(tmp_path, monkeypatch):
    """A variable-length string (Keras's model_config) lives in a global heap collection inside the
    file: a file over the limit is scanned for its largest collection, which bounds the string."""
    import h5py

    from seqlayers.io import keras_import

    monkeypatch.setattr(keras_import, "MAX_CONFIG_BYTES", 2**20)
    path = _keras_h5(tmp_path / "big.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = f.attrs["model_config"] + " " * (2 * 2**20)
    with raises(ModelFileError, r"big.h5': model_config may be \(its largest heap collection\) 2,\d{3},\d{3} bytes, "
                                r"more than 1,048,576 \(the limit for a model config\)"):
        from_keras(path)


def test_h5_larger_than_the_limit_with_a_small_model_config_loads(tmp_path, monkeypatch):
    import h5py

    from seqlayers.io import keras_import

    monkeypatch.setattr(keras_import, "MAX_CONFIG_BYTES", 2**20)
    path = _keras_h5(tmp_path / "padded.h5")
    with h5py.File(path, "r+") as f:
        f.create_dataset("padding", data=np.frombuffer(b"GCOL\x01" + bytes(3 * 2**20), dtype=np.uint8))
    assert path.stat().st_size > 3 * 2**20
    assert from_keras(path).layers[0].units == 2


def test_h5_fixed_length_model_config_larger_than_the_limit_is_refused(tmp_path, monkeypatch):
    import h5py

    from seqlayers.io import keras_import

    monkeypatch.setattr(keras_import, "MAX_CONFIG_BYTES", 2**20)
    path = tmp_path / "fixed.h5"
    with h5py.File(path, "w", libver="latest") as f:  # dense attribute storage: a large fixed-length attribute
        f.attrs.create("model_config", np.bytes_("{" + " " * (2 * 2**20) + "}"))
    with raises(ModelFileError, r"fixed.h5': model_config is 2,097,154 bytes, more than 1,048,576 \(the limit"):
        from_keras(path)


def test_h5_model_config_that_is_an_array_of_strings_is_refused(tmp_path):
    """Many elements of a string array can point at one heap object: reading it is not bounded by the file."""
    import h5py

    path = tmp_path / "array.h5"
    with h5py.File(path, "w") as f:
        f.attrs.create("model_config", ["{}"] * 3, dtype=h5py.string_dtype())
    with raises(ModelFileError, r"array.h5': model_config must be one string \(a scalar attribute\), got an attribute "
                                r"of shape \(3,\)"):
        from_keras(path)


def test_h5_weight_dataset_larger_than_the_model_is_refused_before_reading(tmp_path):
    import h5py
    import keras

    path = tmp_path / "huge.h5"
    keras.Sequential([keras.Input((4, 2)), keras.layers.LSTM(2, name="lstm")]).save(path)
    with h5py.File(path, "r+") as f:
        g = f["model_weights"]["lstm"]
        first = g.attrs["weight_names"][0]
        first = first.decode() if isinstance(first, bytes) else first
        del g[first]
        g.create_dataset(first, shape=(2**31,), dtype="float32")  # declared, never written: 8 GB if read
    with raises(ModelFileError, r"2,147,483,648 values, more than all the weights of the model together \(\d+, the "
                                r"limit\)"):
        from_keras(path)


def test_model_from_json_nested_deep_is_refused():
    from seqlayers.models.json_model import model_from_json

    with raises(ModelFileError, r"model_from_json: JSON nested more than 200 levels deep"):
        model_from_json("[" * 100_000 + "]" * 100_000)


def test_dialogue_jsonl_line_nested_100000_deep_names_file_line_and_limit(tmp_path):
    from seqlayers.data.sgd_reader import read_dialogues

    path = tmp_path / "d.jsonl"
    path.write_text('{"turns": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with raises(ValueError, r"d.jsonl:1: JSON nested more than 200 levels deep \(the limit\)"):
        read_dialogues(path)


# ================================================================ saving: paths, disk, read-back
def test_saving_onto_a_folder_named_like_a_model_file_says_it_is_a_folder(tmp_path):
    (tmp_path / "m.seqlayers").mkdir()
    with raises(IsADirectoryError, r"save_model: '.*m.seqlayers' is a folder; a path ending in .seqlayers is saved as "
                                   r"one file"):
        _model().save(tmp_path / "m.seqlayers")


def test_saving_a_keras_file_onto_a_folder_says_it_is_a_folder(tmp_path):
    (tmp_path / "m.keras").mkdir()
    with raises(IsADirectoryError, r"'.*m.keras' is a folder; a path ending in .keras is saved as one file"):
        _model().save(tmp_path / "m.keras")


def test_saving_a_folder_model_onto_a_file_says_it_is_a_file(tmp_path):
    (tmp_path / "m").write_text("x")
    with raises(FileExistsError, r"save_model: '.*m' is a file; a path without a suffix is saved as a folder"):
        _model().save(tmp_path / "m")


def test_saving_under_a_parent_that_is_a_file_names_it(tmp_path):
    (tmp_path / "parent").write_text("x")
    with raises(NotADirectoryError, r"cannot save to '.*parent/m.seqlayers': '.*parent' is a file, not a folder"):
        _model().save(tmp_path / "parent" / "m.seqlayers")


def test_saving_to_a_path_that_is_not_a_path_is_refused():
    with raises(TypeError, r"save_model: path must be a str or os.PathLike such as 'model.seqlayers', got NoneType"):
        _model().save(None)


def test_loading_a_path_that_is_not_a_path_is_refused():
    with raises(TypeError, r"load_model: path must be a str or os.PathLike .*got int"):
        load_model(3)


def test_saving_without_overwrite_onto_an_existing_file_is_refused(tmp_path):
    _model().save(tmp_path / "m.seqlayers")
    with raises(FileExistsError, r"m.seqlayers' exists; pass overwrite=True to replace it"):
        _model().save(tmp_path / "m.seqlayers", overwrite=False)


def _full_disk(monkeypatch, tmp_path):
    """Temporary files land on /dev/full: every write fails with the kernel's real ENOSPC."""
    real = tempfile.mkstemp

    def on_full_disk(prefix="", suffix="", dir=None):
        fd, name = real(prefix=prefix, suffix=suffix, dir=dir)
        os.close(fd)
        return os.open("/dev/full", os.O_WRONLY), name

    monkeypatch.setattr(tempfile, "mkstemp", on_full_disk)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_names_the_file_and_keeps_the_previous_one(tmp_path, monkeypatch):
    old = _model()
    old.save(tmp_path / "m.seqlayers")
    before = (tmp_path / "m.seqlayers").read_bytes()
    _full_disk(monkeypatch, tmp_path)
    with raises(OSError, r"cannot write '.*m.seqlayers' \(the disk is full; free some space or write elsewhere\); "
                         r"any previous file there is unchanged"):
        _model().save(tmp_path / "m.seqlayers")
    monkeypatch.undo()
    assert (tmp_path / "m.seqlayers").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.seqlayers"]  # no temporary file left
    load_model(tmp_path / "m.seqlayers")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_during_a_folder_save_keeps_a_loadable_folder(tmp_path, monkeypatch):
    _model().save(tmp_path / "m")
    _full_disk(monkeypatch, tmp_path)
    with raises(OSError, r"cannot write '.*model.safetensors.pending' \(the disk is full"):
        _model().save(tmp_path / "m")
    monkeypatch.undo()
    load_model(tmp_path / "m")


def test_permission_denied_names_the_file(tmp_path, monkeypatch):
    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with raises(PermissionError, r"cannot write '.*m.seqlayers' \(permission denied; write to a folder you may write "
                                 r"to\)"):
        _model().save(tmp_path / "m.seqlayers")


def test_a_save_that_does_not_read_back_keeps_the_previous_file(tmp_path, monkeypatch):
    _model().save(tmp_path / "m.seqlayers")
    before = (tmp_path / "m.seqlayers").read_bytes()
    real = saving._tensors_to_bytes
    monkeypatch.setattr(saving, "_tensors_to_bytes", lambda t: real(t)[:-4] + b"\0\0\0\0\0\0\0\0")
    with raises(ModelFileError, r"save_model: the file written for '.*m.seqlayers' does not read back \(.*\); the "
                                r"previous file is unchanged"):
        _model().save(tmp_path / "m.seqlayers")
    assert (tmp_path / "m.seqlayers").read_bytes() == before


def test_two_layers_renamed_to_one_name_after_building_are_refused_on_save(tmp_path):
    m = _model()
    m.layers[1].name = "lstm"
    with raises(ValueError,
                r"save_model: .*Sequential has two layers named 'lstm', so load_model would refuse the file"):
        m.save(tmp_path / "m.seqlayers")
    assert not (tmp_path / "m.seqlayers").exists()


def test_unregistered_lambda_function_is_refused_on_save_with_the_fix(tmp_path):
    m = Sequential([sl.Lambda(np.negative, input_shape=(3,))])
    with raises(ValueError, r"uses the function 'numpy:negative', which is not registered, so load_model would refuse "
                            r"the file\. Register it .*register_function\(negative\)"):
        m.save(tmp_path / "m.seqlayers")


class _Scaled(sl.Layer):
    """A custom layer whose weight's shape depends on a constructor argument, ``units``."""

    def __init__(self, units, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.units, self.scale = units, scale

    def build(self, input_shape):
        self.w = torch.nn.Parameter(torch.ones(input_shape[-1], self.units))

    def call(self, inputs):
        return inputs @ self.w * self.scale


@sl.register_layer
class _ForgetsUnits(_Scaled):
    def get_config(self):  # omits the required constructor argument ``units``
        return {"name": self.name, "scale": self.scale}


@sl.register_layer
class _HardcodesUnits(_Scaled):
    def get_config(self):  # gives ``units``, but not the one the layer was built with
        return {"name": self.name, "units": 1, "scale": self.scale}


@sl.register_layer
class _RoundTrips(_Scaled):
    def get_config(self):
        return {"name": self.name, "units": self.units, "scale": self.scale}


def _custom(cls, units=5):
    return Sequential([Dense(3, input_shape=(4,), name="d"), cls(units, name="custom")])


@pytest.mark.parametrize("kind", ["zip", "folder"])
def test_custom_layer_whose_get_config_omits_an_argument_is_refused_on_save(tmp_path, kind):
    path = tmp_path / ("m.seqlayers" if kind == "zip" else "m")
    _custom(_RoundTrips).save(path)
    before = {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    with raises(ValueError, r"save_model: '.*m(\.seqlayers)?': the model does not rebuild from its config, so "
                            r"load_model "
                            r"would refuse the file: .*_ForgetsUnits 'custom': cannot rebuild the layer from its saved "
                            r"config: .*'units'\. A custom layer's get_config\(\) must return its constructor's "
                            r"arguments .*; nothing was written"):
        _custom(_ForgetsUnits).save(path)
    assert {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()} == before
    load_model(path)  # the previous model is still there, loadable


def test_custom_layer_whose_get_config_gives_another_shape_is_refused_on_save(tmp_path):
    path = tmp_path / "m.seqlayers"
    _custom(_RoundTrips).save(path)
    before = path.read_bytes()
    with raises(ValueError, r"save_model: '.*m.seqlayers': _HardcodesUnits 'custom' does not rebuild from its config, "
                            r"so load_model would refuse the file: its weight 'custom.w' has shape \[3, 5\], but "
                            r"\[3, 1\] in the layer rebuilt from its config\. A custom layer's get_config\(\) must "
                            r"return its constructor's arguments"):
        _custom(_HardcodesUnits).save(path)
    assert path.read_bytes() == before


def test_custom_layer_whose_get_config_happens_to_fit_saves(tmp_path):
    """The check compares what load_model needs (weight names and shapes), not the arguments: a
    get_config that drops an argument the weights do not depend on still loads (with its default)."""
    model = _custom(_HardcodesUnits, units=1)
    model.save(tmp_path / "m.seqlayers")
    x = torch.randn(2, 4)
    torch.testing.assert_close(load_model(tmp_path / "m.seqlayers")(x), model.eval()(x))


@sl.register_layer
class _NotOnMeta(_RoundTrips):
    """Builds with a data-dependent step (``.item()``), which the meta device cannot run, and draws
    its initial weights from torch's generator: saving rebuilds it for real."""

    def build(self, input_shape):
        n = int(torch.tensor(float(self.units)).item())
        self.w = torch.nn.Parameter(torch.randn(input_shape[-1], n))


def test_the_rebuild_check_leaves_the_random_generators_alone(tmp_path):
    model = _custom(_NotOnMeta)
    torch.manual_seed(0)
    np.random.seed(0)
    model.save(tmp_path / "m.seqlayers")
    after = torch.rand(3), np.random.rand(3)
    torch.manual_seed(0)
    np.random.seed(0)
    assert torch.equal(torch.rand(3), after[0]) and np.array_equal(np.random.rand(3), after[1])
    torch.testing.assert_close(load_model(tmp_path / "m.seqlayers").layers[1].w, model.layers[1].w)


def test_checkpoint_onto_a_folder_names_it(tmp_path):
    from seqlayers.atomic import atomic_write

    (tmp_path / "ckpt").mkdir()
    with raises(IsADirectoryError,
                r"cannot write the file '.*ckpt': it is a folder; remove it or write to another path"):
        atomic_write(tmp_path / "ckpt", b"x")


# ================================================================ readers
def _conllu(tmp_path, text, bom=False):
    path = tmp_path / "s.conllu"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


ROW = "{i}\t{w}\t{w}\tNOUN\t_\t_\t0\troot\t_\t_\n"


def test_conllu_with_a_utf8_byte_order_mark_is_read_as_without(tmp_path):
    from seqlayers.data.conllu_reader import read_conllu

    text = "# sent_id = 1\n" + ROW.format(i=1, w="a") + ROW.format(i=2, w="b") + "\n"
    with_bom = read_conllu(_conllu(tmp_path, text, bom=True))
    assert [(s.words, s.tags) for s in with_bom] == [(["a", "b"], ["NOUN", "NOUN"])]


def test_conllu_sentence_made_only_of_a_multiword_token_is_refused(tmp_path):
    from seqlayers.data.conllu_reader import read_conllu

    text = ROW.format(i=1, w="a") + "\n" + "1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n\n"
    with raises(ValueError, r"s.conllu:3: the sentence starting here has no words, only multi-word token or "
                            r"empty-node lines \(1-2\)"):
        read_conllu(_conllu(tmp_path, text))


def test_conllu_block_of_only_comments_is_not_a_sentence(tmp_path):
    from seqlayers.data.conllu_reader import read_conllu

    text = "# newdoc\n\n" + ROW.format(i=1, w="a") + "\n"
    assert [s.words for s in read_conllu(_conllu(tmp_path, text))] == [["a"]]


def _csv(tmp_path, text, bom=False):
    path = tmp_path / "d.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


@pytest.mark.parametrize("cell", ["NaN", "nan", "inf", "-Infinity"])
def test_csv_non_finite_cell_names_file_line_and_column(tmp_path, cell):
    from seqlayers.data.csv_reader import read_numeric_csv

    with raises(ValueError, rf"d.csv, line 3, column 'OT': '{cell}' is not a finite number.*allow_nonfinite=True"):
        read_numeric_csv(_csv(tmp_path, f"date,OT\n1,0.5\n2,{cell}\n"))


def test_csv_non_finite_cells_are_read_when_allowed(tmp_path):
    from seqlayers.data.csv_reader import read_numeric_csv

    _, values = read_numeric_csv(_csv(tmp_path, "date,OT\n1,NaN\n2,inf\n"), allow_nonfinite=True)
    assert np.isnan(values[0, 0]) and np.isinf(values[1, 0])


def test_csv_value_too_large_for_float32_is_refused(tmp_path):
    from seqlayers.data.csv_reader import read_numeric_csv

    with raises(ValueError, r"d.csv, line 2, column 'OT': 1e\+39 does not fit in float32 \(it becomes inf\)"):
        read_numeric_csv(_csv(tmp_path, "date,OT\n1,1e39\n"))


def test_csv_with_a_byte_order_mark_keeps_the_first_column_name(tmp_path):
    from seqlayers.data.csv_reader import read_header

    assert read_header(_csv(tmp_path, "date,OT\n1,2\n", bom=True)) == ["date", "OT"]


def test_dialogue_jsonl_with_a_byte_order_mark_is_read(tmp_path):
    from seqlayers.data.sgd_reader import read_dialogues

    line = json.dumps({"dialogue_id": "a", "turns": [{"user": "hi", "system_acts": ["GREET"]}]})
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + line.encode() + b"\n")
    assert [(d.dialogue_id, d.turns[0].user) for d in read_dialogues(path)] == [("a", "hi")]


# ================================================================ the catalogue itself
def test_the_catalogue_pins_at_least_150_cases_with_a_match():
    from .catalogue import cases

    pinned = [c for c in cases() if c[3]]
    assert len(pinned) >= 150, len(pinned)
