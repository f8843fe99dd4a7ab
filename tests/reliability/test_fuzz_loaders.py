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
    '"system": "where to?", "system_acts": ["REQUEST(city)"]}, {"user": "paris", "system_acts": ["OFFER(airline)", "INFORM_COUNT"]}]}\n'
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
        run_case(lambda p: read_conllu(p, column=random.Random(i).choice(["upos", "xpos", "deprel"])), path, "conllu", i)


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
