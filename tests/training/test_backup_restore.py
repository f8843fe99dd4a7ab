"""BackupAndRestore: a run SIGKILLed mid-epoch and restarted ends with bit-identical weights."""
import os
import signal
import subprocess
import sys
import textwrap

import torch
from safetensors.torch import load_file

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import numpy as np, torch
    torch.set_num_threads(1)
    from safetensors.torch import save_file
    from seqlayers import (BackupAndRestore, Dense, Dropout, EarlyStopping, LambdaCallback, ReduceLROnPlateau,
                           Sequential, TimeDistributed, set_seed)

    backup, out, kill_at_batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    set_seed(0)
    r = np.random.default_rng(0)
    x = r.normal(size=(24, 4, 3)).astype("float32")
    y = x.sum(-1, keepdims=True) + 0.1 * r.normal(size=(24, 4, 1)).astype("float32")
    model = Sequential([TimeDistributed(Dense(8, activation="tanh"), input_shape=(4, 3)), Dropout(0.25),
                        TimeDistributed(Dense(1))])
    model.compile("adam", "mse")
    cbs = [BackupAndRestore(backup)]
    marker = out + ".killed"
    if kill_at_batch >= 0 and not os.path.exists(marker):
        seen = [0]
        def maybe_kill(batch, logs):
            seen[0] += 1
            if seen[0] == kill_at_batch:   # in the middle of an epoch, after some backups
                open(marker, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)
        cbs.append(LambdaCallback(on_train_batch_end=maybe_kill))
    # random draws from python/numpy inside training (the restore must bring these back too)
    import random
    cbs.append(LambdaCallback(on_epoch_end=lambda e, logs: (random.random(), np.random.rand())))
    # scripted val_loss: best at epoch 1, before the kill; EarlyStopping (listed after the backup)
    # must get its best value and best weights back when resuming
    scripted = [3.0, 1.0, 2.0, 2.5, 2.2, 2.4]
    cbs.insert(0, LambdaCallback(on_epoch_end=lambda e, logs: logs.__setitem__("val_loss", scripted[e])))
    last = {}
    cbs.append(LambdaCallback(on_train_end=lambda logs: last.update(
        {k: v.clone().contiguous() for k, v in model.state_dict().items()})))
    cbs.append(EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True))
    cbs.append(ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1))
    model.fit(x, y, epochs=6, batch_size=4, shuffle=True, validation_split=0.25, callbacks=cbs, verbose=0)
    save_file(last, out + ".last")      # weights after the last epoch
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out)  # best epoch's, restored
""")


def _run(script, *args):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, str(script), *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=300)


def test_sigkilled_run_resumes_to_identical_weights(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    ref = _run(script, tmp_path / "ref_backup", tmp_path / "ref.safetensors", -1)
    assert ref.returncode == 0, ref.stderr
    # 18 training samples / 4 -> 5 batches per epoch; batch 18 is inside epoch 4 (after 3 backups)
    first = _run(script, tmp_path / "backup", tmp_path / "run.safetensors", 18)
    assert first.returncode == -signal.SIGKILL, first.stderr
    assert os.path.exists(tmp_path / "backup" / "state.safetensors")
    assert not [f for f in os.listdir(tmp_path / "backup") if f.endswith(".tmp")]
    second = _run(script, tmp_path / "backup", tmp_path / "run.safetensors", 18)
    assert second.returncode == 0, second.stderr
    for suffix in (".safetensors", ".safetensors.last"):
        a, b = load_file(tmp_path / f"ref{suffix}"), load_file(tmp_path / f"run{suffix}")
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (suffix, k)
    last, best = load_file(tmp_path / "ref.safetensors.last"), load_file(tmp_path / "ref.safetensors")
    assert any(not torch.equal(last[k], best[k]) for k in last)  # the best epoch's weights were restored
    assert not os.path.exists(tmp_path / "backup")  # deleted once training completed


def test_backup_state_roundtrip_restores_optimizer_and_rngs(tmp_path):
    import random

    import numpy as np

    from seqlayers import Dense, Sequential
    from seqlayers.training.checkpoint import load_training_state, save_training_state

    m = Sequential([Dense(2, input_shape=(3,))])
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    m(torch.randn(4, 3)).sum().backward()
    opt.step()
    g = torch.Generator().manual_seed(5)
    save_training_state(str(tmp_path / "s.safetensors"), m, opt, 3, g)
    expected = (torch.rand(3), np.random.rand(3), random.random(), torch.randperm(10, generator=g))
    m2 = Sequential([Dense(2, input_shape=(3,))])
    opt2 = torch.optim.Adam(m2.parameters(), lr=0.5)
    g2 = torch.Generator()
    meta = load_training_state(str(tmp_path / "s.safetensors"), m2, opt2, g2)
    assert meta["epoch"] == 3
    got = (torch.rand(3), np.random.rand(3), random.random(), torch.randperm(10, generator=g2))
    assert torch.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1]) and expected[2] == got[2]
    assert torch.equal(expected[3], got[3])
    assert opt2.param_groups[0]["lr"] == 0.01
    for p, q in zip(opt.state.values(), opt2.state.values()):
        assert all(torch.equal(p[k], q[k]) for k in p)
