"""SIGKILL during checkpoint writes never leaves a partial or corrupt file.

A subprocess runs three writers at once, each in its own thread and on its own model:
``ModelCheckpoint`` inside ``fit`` (one ``.seqlayers`` file rewritten every epoch), and ``model.save``
in a loop, as one ``.seqlayers`` zip file and as a folder, with the weights of save ``k`` all equal
to ``k``. The parent waits until every writer has saved once, kills the child with SIGKILL at a
random moment, and checks that every checkpoint present afterwards loads, and that a direct save
holds the weights of one save, not a mixture of two. Repeated ``SEQLAYERS_KILLS`` times (default 4).

Resuming a killed ``fit`` bit-exactly is ``BackupAndRestore``'s job and is tested in
tests/training/test_backup_restore.py (kill-and-resume); it is not repeated here.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("SEQLAYERS_KILLS", "4"))

CHILD = textwrap.dedent("""
    import sys, threading
    import numpy as np, torch
    torch.set_num_threads(1)
    from seqlayers import LSTM, Dense, Sequential, TimeDistributed
    from seqlayers.training.callbacks import Callback, ModelCheckpoint

    folder = sys.argv[1]
    saved = {name: threading.Event() for name in ("checkpoint", "zip", "folder")}

    def make():
        torch.manual_seed(0)
        return Sequential([LSTM(16, return_sequences=True, input_shape=(6, 3)), TimeDistributed(Dense(2))])

    class Saved(Callback):
        def on_epoch_end(self, epoch, logs=None):
            saved["checkpoint"].set()

    def checkpoint():  # ModelCheckpoint inside fit: one file rewritten every epoch
        model = make()
        model.compile("adam", "mse")
        x = np.random.default_rng(0).normal(size=(8, 6, 3)).astype("float32")
        y = np.random.default_rng(1).normal(size=(8, 6, 2)).astype("float32")
        model.fit(x, y, epochs=10**6, batch_size=8, verbose=0,
                  callbacks=[ModelCheckpoint(folder + "/ckpt.seqlayers", monitor="loss"), Saved()])

    def save_loop(kind, target):  # save k holds weights all equal to k
        model, k = make(), 0
        while True:
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(float(k))
            model.save(target)
            saved[kind].set()
            k += 1

    for fn, args in ((checkpoint, ()), (save_loop, ("zip", folder + "/model.seqlayers")),
                     (save_loop, ("folder", folder + "/model_folder"))):
        threading.Thread(target=fn, args=args, daemon=True).start()
    for e in saved.values():
        e.wait()
    print("READY", flush=True)
    threading.Event().wait()
""")


def _run_and_kill(folder: Path, rng: random.Random) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(folder)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=REPO)
    try:
        line = proc.stdout.readline()  # blocks until every writer has saved once
        assert line.strip() == b"READY", f"child did not start: {line!r} {proc.stderr.read()[-2000:]!r}"
        time.sleep(rng.uniform(0.0, 0.5))  # the kill lands at a random moment of the writes
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _check_loads(target: Path, one_save: bool) -> None:
    from seqlayers import load_model

    model = load_model(target)  # raises ModelFileError on a partial or corrupt checkpoint
    assert model(torch.zeros(1, 6, 3)).shape == (1, 6, 2)
    if one_save:  # every parameter holds the same k: the file is one save, not a mixture of two
        values = torch.cat([p.detach().flatten() for p in model.parameters()]).unique()
        assert len(values) == 1, f"{target.name}: weights from different saves mixed: {values[:5]}"


def test_sigkill_during_checkpoint_writes_leaves_only_loadable_files(tmp_path):
    rng = random.Random(0)
    for _ in range(KILLS):
        _run_and_kill(tmp_path, rng)
        _check_loads(tmp_path / "ckpt.seqlayers", one_save=False)
        _check_loads(tmp_path / "model.seqlayers", one_save=True)
        _check_loads(tmp_path / "model_folder", one_save=True)
    # a killed write may leave its hidden temporary file, never a file under a final name
    names = {p.name for p in tmp_path.rglob("*")}
    assert {n for n in names if not n.startswith(".")} <= {
        "ckpt.seqlayers", "model.seqlayers", "model_folder", "config.json", "model.safetensors",
        "model.safetensors.pending"}, names


def test_folder_save_killed_after_its_commit_point_rolls_forward(tmp_path):
    """The journal of folder saves, step by step: config.json committed, weights still pending."""
    from seqlayers import Dense, Sequential, load_model

    old = Sequential([Dense(2, input_shape=(3,))])
    new = Sequential([Dense(2, input_shape=(3,))])
    with torch.no_grad():
        for p in new.parameters():
            p.fill_(7.0)
    old.save(tmp_path / "a")
    new.save(tmp_path / "b")
    # the state a kill between "config.json replaced" and "pending renamed" leaves behind
    (tmp_path / "a" / "config.json").write_bytes((tmp_path / "b" / "config.json").read_bytes())
    (tmp_path / "a" / "model.safetensors.pending").write_bytes((tmp_path / "b" / "model.safetensors").read_bytes())
    loaded = load_model(tmp_path / "a")
    assert all(torch.all(p == 7.0) for p in loaded.parameters())
