"""Fuzzing the loaders: mutated and random files give only the library's own errors, fast.

Each loader is fed ``SEQLAYERS_FUZZ_ITERATIONS`` files (default 200 in CI; ``make fuzz`` runs
20000): a valid seed file mutated by byte flips, insertions of format-significant characters,
deletions, duplications and truncation, plus files of random bytes.

The allowed outcomes (docs/reliability.md):
* success (a mutation may leave a valid file), or
* ``ValueError`` (which includes ``seqlayers.errors.ModelFileError`` and ``UnicodeDecodeError`` is
  NOT accepted raw: the message must name the file), ``TypeError`` never for files;
* for a data reader, the message names the file it read;
* no case takes longer than ``CASE_TIMEOUT`` seconds (SIGALRM), so no hang.
Anything else (IndexError, KeyError, RuntimeError, AttributeError, a torch error...) fails the test
with the seed that reproduces it.
"""
from __future__ import annotations

import os
import random
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest

from seqlayers.errors import ModelFileError

ITERATIONS = int(os.environ.get("SEQLAYERS_FUZZ_ITERATIONS", "200"))
CASE_TIMEOUT = 5  # seconds per case

SPECIAL = [b"\t", b"\n", b"\n\n", b" ", b"#", b"{", b"}", b"[", b"]", b'"', b":", b",", b"-", b".", b"_",
           b"\x00", b"\xff\xfe", b"\xc3", b"1-2", b"8.1", b"null", b"1e999", b"NaN", b"-1", b"B-", b"I-x",
           b"PK\x03\x04", b"\r\n", "é".encode(), b"\\u0000", b"99999999999999999999"]


class CaseTimeout(Exception):
    pass


@contextmanager
def time_limit(seconds: int):
    def handler(signum, frame):
        raise CaseTimeout(f"case took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four random edits of ``data``."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        pos = rng.randint(0, len(b))
        if op == 0 and b:  # flip a byte
            b[min(pos, len(b) - 1)] = rng.randrange(256)
        elif op == 1:  # insert a format-significant token
            b[pos:pos] = rng.choice(SPECIAL)
        elif op == 2 and b:  # delete a span
            del b[pos:pos + rng.randint(1, 16)]
        elif op == 3 and b:  # duplicate a span
            start = rng.randrange(len(b))
            b[pos:pos] = b[start:start + rng.randint(1, 64)]
        elif op == 4:  # truncate
            del b[pos:]
        elif op == 5 and b:  # swap two lines
            lines = bytes(b).split(b"\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            b = bytearray(b"\n".join(lines))
        else:  # random bytes
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(b)


def fuzz_cases(seed_bytes: bytes, name: str, n: int = ITERATIONS):
    """``(case_seed, bytes)``: mostly mutations of the seed file, one in ten pure random bytes."""
    base = sum(name.encode())
    for i in range(n):
        rng = random.Random(base * 1_000_003 + i)
        if i % 10 == 9:
            yield i, bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
        else:
            yield i, mutate(seed_bytes, rng)


def run_case(load, path: Path, what: str, i: int, must_name_file: bool = True):
    """Run ``load(path)``; fail on anything but success or a teaching ValueError."""
    try:
        with time_limit(CASE_TIMEOUT):
            load(path)
    except CaseTimeout:
        pytest.fail(f"{what} case {i}: hang (> {CASE_TIMEOUT} s) on {path.read_bytes()[:200]!r}")
    except UnicodeDecodeError as e:
        pytest.fail(f"{what} case {i}: raw UnicodeDecodeError leaked ({e}) on {path.read_bytes()[:200]!r}")
    except ValueError as e:  # includes ModelFileError
        if must_name_file:
            assert path.name in str(e), f"{what} case {i}: error does not name the file: {e}"
    except Exception as e:  # noqa: BLE001 - this is the point of the test
        pytest.fail(f"{what} case {i}: {type(e).__name__} leaked: {e!r} on {path.read_bytes()[:300]!r}")


# ================================================================ data readers
CONLLU = (
    "# sent_id = 1\n# text = I don't know.\n"
    "1\tI\tI\tPRON\tPRP\t_\t4\tnsubj\t_\t_\n"
    "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_\n"
    "3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_\n"
    "4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\tSpaceAfter=No\n"
    "4.1\tit\tit\tPRON\tPRP\t_\t_\t_\t4:obj\t_\n"
    "5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_\n\n"
    "# sent_id = 2\n1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n\n"
).encode()

DIALOGUES = (
    '{"dialogue_id": "1_0001", "turns": [{"user": "find a flight", "user_acts": ["INFORM_INTENT(intent)"], '
    '"system": "where to?", "system_acts": ["REQUEST(city)"]}, {"user": "paris", "system_acts": ["OFFER(airline)", '
    '"INFORM_COUNT"]}]}\n'
    '{"dialogue_id": "1_0002", "turns": [{"user": "thanks", "system_acts": ["GOODBYE"]}]}\n'
).encode()

CSV = b"date,HUFL,OT\n2016-07-01 00:00,5.827,30.53\n2016-07-01 01:00,5.693,27.79\n2016-07-01 02:00,-1e3,2.5e1\n\n"

SNIPS = {"seq.in": b"play some jazz\nadd this song to my list\n",
         "seq.out": b"O O B-genre\nO B-music_item I-music_item O O B-playlist\n",
         "label": b"PlayMusic\nAddToPlaylist\n"}


def test_fuzz_conllu_reader(tmp_path):
    from seqlayers.data import read_conllu
    path = tmp_path / "fuzz.conllu"
    for i, data in fuzz_cases(CONLLU, "conllu"):
        path.write_bytes(data)
        run_case(lambda p, i=i: read_conllu(p, column=random.Random(i).choice(["upos", "xpos", "deprel"])), path,
                 "conllu", i)


def test_fuzz_dialogue_jsonl_reader(tmp_path):
    from seqlayers.data import read_dialogues
    path = tmp_path / "fuzz.jsonl"
    for i, data in fuzz_cases(DIALOGUES, "jsonl"):
        path.write_bytes(data)
        run_case(read_dialogues, path, "dialogue jsonl", i)


def test_fuzz_csv_reader(tmp_path):
    from seqlayers.data.csv_reader import read_numeric_csv
    path = tmp_path / "fuzz.csv"
    for i, data in fuzz_cases(CSV, "csv"):
        path.write_bytes(data)
        run_case(read_numeric_csv, path, "csv", i)


def test_fuzz_snips_reader(tmp_path):
    from seqlayers.data import read_snips_split
    folder = tmp_path / "train"
    folder.mkdir()
    names = list(SNIPS)
    for i in range(ITERATIONS):
        rng = random.Random(77_000 + i)
        target = rng.choice(names)  # mutate one of the three files, keep the others valid
        for name in names:
            (folder / name).write_bytes(mutate(SNIPS[name], rng) if name == target else SNIPS[name])
        run_case(read_snips_split, folder, "snips", i)


# ================================================================ model files: seqlayers.load_model
import hashlib  # noqa: E402
import io as _io  # noqa: E402
import json  # noqa: E402
import zipfile  # noqa: E402


def _json_values(rng: random.Random):
    return rng.choice([None, True, False, 0, -1, 1, 2**40, -(2**40), 0.5, -3.5, 1e308, "", "x", "tanh",
                       "Dense", "LSTM", "__tensor__", [], [None], [None, 3], [-1, 0], {}, {"a": 1},
                       {"__tensor__": ["nope", 0, 0]}, {"__function__": "os:system"},
                       {"__activation__": "relu"}, {"class_name": "Dense", "config": {}}])


def _nodes(obj, path=()):
    """Every (path, value) in a JSON tree."""
    yield path, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _nodes(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _nodes(v, path + (i,))


def mutate_json(cfg, rng: random.Random):
    """One to three structural edits: drop / add / retype a field, shrink / grow a list, rename."""
    import copy

    cfg = copy.deepcopy(cfg)
    for _ in range(rng.randint(1, 3)):
        nodes = [(p, v) for p, v in _nodes(cfg) if p]
        path, value = rng.choice(nodes)
        parent = cfg
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        op = rng.randrange(5)
        if op == 0:  # delete
            del parent[key]
        elif op == 1:  # retype
            parent[key] = _json_values(rng)
        elif op == 2 and isinstance(parent, dict):  # extra field
            parent[rng.choice(["extra", "units", "name", "layers", "config", "args"])] = _json_values(rng)
        elif op == 3 and isinstance(parent, list):  # duplicate an element
            parent.insert(rng.randint(0, len(parent)), value)
        elif op == 4 and isinstance(value, (int, float)) and not isinstance(value, bool):  # nudge a number
            parent[key] = rng.choice([value + 1, value - 1, -value, 0, value * 10])
        else:
            parent[key] = _json_values(rng)
    return cfg


def zip_model(files: dict, fix_sha: bool = True) -> bytes:
    cfg = json.loads(files["config.json"])
    if fix_sha and isinstance(cfg, dict) and isinstance(cfg.get("weights"), dict) and "model.safetensors" in files:
        cfg["weights"]["sha256"] = hashlib.sha256(files["model.safetensors"]).hexdigest()
    files = dict(files, **{"config.json": json.dumps(cfg).encode()})
    buf = _io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _saved_zips(folder: Path, suffix: str, **models) -> list:
    """Save each model as ``folder/<name><suffix>`` (a zip): ``[(name, file bytes, {member: bytes})]``."""
    out = []
    for name, model in models.items():
        path = folder / f"{name}{suffix}"
        model.save(path)
        with zipfile.ZipFile(path) as zf:
            out.append((name, path.read_bytes(), {n: zf.read(n) for n in zf.namelist()}))
    return out


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """Valid model files to mutate: a tagger (Sequential) and a functional model with Bidirectional."""
    import torch

    from seqlayers import (
        GRU,
        LSTM,
        Bidirectional,
        Concatenate,
        Dense,
        Embedding,
        Input,
        Model,
        Sequential,
        TimeDistributed,
    )

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("models")
    seq = Sequential([Embedding(20, 4, mask_zero=True, input_shape=(6,)), LSTM(5, return_sequences=True),
                      TimeDistributed(Dense(3, activation="softmax"))])
    x = Input(shape=(5, 3))
    y = Concatenate()([Bidirectional(GRU(4, return_sequences=True))(x), Dense(2)(x)])
    return _saved_zips(folder, ".seqlayers", tagger=seq, functional=Model(x, y))


def _load_ok_or_model_file_error(path: Path, what: str, i: int):
    from seqlayers import load_model

    try:
        with time_limit(CASE_TIMEOUT):
            load_model(path)
    except CaseTimeout:
        pytest.fail(f"{what} case {i}: hang (> {CASE_TIMEOUT} s)")
    except ModelFileError as e:
        assert path.name in str(e), f"{what} case {i}: the error does not name the file: {e}"
    except Exception as e:  # noqa: BLE001
        cfg = ""
        try:
            with zipfile.ZipFile(path) as zf:
                cfg = zf.read("config.json")[:1500]
        except Exception:  # noqa: BLE001
            pass
        pytest.fail(f"{what} case {i}: {type(e).__name__} leaked from load_model: {e!r}\nconfig: {cfg!r}")


def test_fuzz_load_model_with_mutated_bytes(tmp_path, saved_models):
    path = tmp_path / "fuzz.seqlayers"
    for name, raw, _ in saved_models:
        for i, data in fuzz_cases(raw, "bytes-" + name, ITERATIONS // 2):
            path.write_bytes(data)
            _load_ok_or_model_file_error(path, f"{name} bytes", i)


def test_fuzz_load_model_with_mutated_config(tmp_path, saved_models):
    """Configs mutated field by field, re-zipped with a valid SHA-256: only ModelFileError comes out."""
    path = tmp_path / "fuzz.seqlayers"
    for name, _, files in saved_models:
        cfg = json.loads(files["config.json"])
        for i in range(ITERATIONS):
            rng = random.Random(31_000 + i + (0 if name == "tagger" else 10**6))
            mutated = dict(files, **{"config.json": json.dumps(mutate_json(cfg, rng)).encode()})
            path.write_bytes(zip_model(mutated))
            _load_ok_or_model_file_error(path, f"{name} config", i)


def test_fuzz_load_model_with_mutated_weights(tmp_path, saved_models):
    """Safetensors bytes mutated (header and data), SHA-256 recomputed so the parser sees them."""
    path = tmp_path / "fuzz.seqlayers"
    for name, _, files in saved_models:
        for i, data in fuzz_cases(files["model.safetensors"], "weights-" + name, ITERATIONS // 2):
            path.write_bytes(zip_model(dict(files, **{"model.safetensors": data})))
            _load_ok_or_model_file_error(path, f"{name} weights", i)


def test_fuzz_load_model_folder_format(tmp_path, saved_models):
    _, _, files = saved_models[0]
    folder = tmp_path / "model"
    folder.mkdir()
    cfg = json.loads(files["config.json"])
    for i in range(ITERATIONS // 2):
        rng = random.Random(55_000 + i)
        for n, data in files.items():
            (folder / n).write_bytes(data)
        victim = rng.choice(["config.json", "model.safetensors", "delete"])
        if victim == "delete":
            (folder / rng.choice(list(files))).unlink()
        elif victim == "config.json":
            (folder / victim).write_bytes(json.dumps(mutate_json(cfg, rng)).encode())
        else:
            (folder / victim).write_bytes(mutate(files[victim], rng))
        _load_ok_or_model_file_error(folder, "folder", i)


# ================================================================ loading never runs code from the file
def test_loading_never_unpickles(tmp_path, saved_models, monkeypatch):
    """pickle.load / pickle.loads / torch.load are never called, for valid and mutated files alike."""
    import pickle

    import torch

    from seqlayers import load_model

    def refuse(*a, **k):
        raise AssertionError("loading called an unpickler")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    for name, raw, files in saved_models:
        path = tmp_path / f"{name}.seqlayers"
        path.write_bytes(raw)
        load_model(path)  # a valid file loads without any unpickler
        for i in range(20):
            rng = random.Random(i)
            path.write_bytes(zip_model(dict(files, **{"config.json": json.dumps(
                mutate_json(json.loads(files["config.json"]), rng)).encode()})))
            _load_ok_or_model_file_error(path, f"{name} no-pickle", i)


def test_loading_never_imports_modules_named_in_the_file(tmp_path, saved_models, monkeypatch):
    """A file naming a real importable module (a canary that records its import) never imports it."""
    import sys

    from seqlayers import load_model

    canary_dir = tmp_path / "canary"
    canary_dir.mkdir()
    (canary_dir / "seqlayers_fuzz_canary.py").write_text(
        "import os\nopen(os.environ['CANARY_FILE'], 'w').write('imported')\ndef boom(x):\n    return x\n"
        "class Evil:\n    pass\n")
    flag = tmp_path / "imported.flag"
    monkeypatch.setenv("CANARY_FILE", str(flag))
    monkeypatch.syspath_prepend(str(canary_dir))
    _, _, files = saved_models[0]
    cfg = json.loads(files["config.json"])
    attempts = []
    lam = {"class_name": "Lambda", "config": {"function": {"__function__": "seqlayers_fuzz_canary:boom"},
                                              "name": "lam"}}
    c1 = json.loads(json.dumps(cfg))
    c1["model"]["config"]["layers"].append(lam)
    attempts.append(c1)
    for cls_name in ("seqlayers_fuzz_canary.Evil", "seqlayers_fuzz_canary:Evil", "Evil"):
        c = json.loads(json.dumps(cfg))
        c["model"]["config"]["layers"][1]["class_name"] = cls_name
        attempts.append(c)
    c3 = json.loads(json.dumps(cfg))
    c3["model"]["config"]["layers"][2]["config"]["layer"]["config"]["activation"] = \
        {"__function__": "seqlayers_fuzz_canary:boom"}
    attempts.append(c3)
    path = tmp_path / "evil.seqlayers"
    for k, c in enumerate(attempts):
        path.write_bytes(zip_model(dict(files, **{"config.json": json.dumps(c).encode()})))
        with pytest.raises(ModelFileError, match=r"not registered|unknown layer class|register"):
            load_model(path)
        assert not flag.exists() and "seqlayers_fuzz_canary" not in sys.modules, f"attempt {k} imported the canary"


# ================================================================ Keras files: seqlayers.from_keras
@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    """Valid .keras files written by Keras 3 (test-only reference): masked Bidirectional tagger, GRU."""
    import keras

    folder = tmp_path_factory.mktemp("keras")
    inp = keras.Input((5, 3))
    h = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True))(keras.layers.Masking()(inp))
    tagger = keras.Model(inp, keras.layers.TimeDistributed(keras.layers.Dense(2, activation="softmax"))(h))
    gru = keras.Sequential([keras.Input((4,), dtype="int32"), keras.layers.Embedding(10, 3, mask_zero=True),
                            keras.layers.GRU(3)])
    return _saved_zips(folder, ".keras", tagger=tagger, gru=gru)


def _rezip(files: dict) -> bytes:
    buf = _io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _from_keras_ok_or_value_error(path: Path, what: str, i: int):
    from seqlayers import from_keras

    try:
        with time_limit(CASE_TIMEOUT):
            from_keras(path)
    except CaseTimeout:
        pytest.fail(f"{what} case {i}: hang (> {CASE_TIMEOUT} s)")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        pytest.fail(f"{what} case {i}: raw {type(e).__name__} leaked: {e}")
    except ValueError:  # ModelFileError, or a teaching ValueError (unsupported layer, bad config value)
        pass
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"{what} case {i}: {type(e).__name__} leaked from from_keras: {e!r}")


@pytest.mark.timeout(600 + ITERATIONS)  # a libhdf5 hang (C code) cannot be interrupted by SIGALRM
def test_fuzz_from_keras(tmp_path, keras_files):
    """Mutated .keras files: zip bytes, config.json fields, and the bytes of model.weights.h5."""
    path = tmp_path / "fuzz.keras"
    n = max(ITERATIONS // 4, 1)
    for name, raw, files in keras_files:
        cfg = json.loads(files["config.json"])
        for i in range(n):
            rng = random.Random(91_000 + i)
            path.write_bytes(mutate(raw, rng))
            _from_keras_ok_or_value_error(path, f"{name} bytes", i)
            path.write_bytes(_rezip(dict(files, **{"config.json": json.dumps(mutate_json(cfg, rng)).encode()})))
            _from_keras_ok_or_value_error(path, f"{name} config", i)
            path.write_bytes(_rezip(dict(files, **{"model.weights.h5": mutate(files["model.weights.h5"], rng)})))
            _from_keras_ok_or_value_error(path, f"{name} weights", i)
