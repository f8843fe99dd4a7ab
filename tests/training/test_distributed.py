"""torchrun with 2 CPU processes (gloo) trains like one process with the same global batch.

With identical initial weights (DDP broadcasts rank 0's), every process's k-th batch being half of
the single process's k-th batch, and DDP averaging gradients, each SGD step equals the full-batch
step: the final weights and the logged (all-reduced) losses agree up to float summation order.
Tolerance: 1e-4 relative on the losses, 1e-5 absolute on the weights.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent("""
    import json, os, sys
    import numpy as np, torch
    torch.set_num_threads(1)
    from seqlayers import BackupAndRestore, CSVLogger, Dense, Sequential, set_seed

    out, batch_size = sys.argv[1], int(sys.argv[2])
    set_seed(0)
    r = np.random.default_rng(0)
    x = r.normal(size=(64, 3)).astype("float32")
    y = np.tanh(x @ np.array([[1.0], [-2.0], [0.5]], "float32")) + 0.05 * r.normal(size=(64, 1)).astype("float32")
    model = Sequential([Dense(8, activation="tanh", input_shape=(3,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    cbs = [BackupAndRestore(out + ".backup"), CSVLogger(out + ".csv")]   # files: rank 0 only
    h = model.fit(x, y, batch_size=batch_size, epochs=3, shuffle=False, verbose=2, validation_split=0.25,
                  callbacks=cbs)
    if int(os.environ.get("RANK", "0")) == 0:
        json.dump({"history": h.history, "weights": [w.tolist() for l in model.layers for w in l.get_weights()],
                   "world": int(os.environ.get("WORLD_SIZE", "1"))}, open(out, "w"))
""")


def _torchrun(script, out, env):
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(script), str(out), "4"], env=env, capture_output=True, text=True, timeout=300)


def test_torchrun_two_processes_match_single_process_with_same_global_batch(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1",
               PYTHONFAULTHANDLER="1")  # a native abort prints the Python stack it happened in
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    single = subprocess.run([sys.executable, str(script), str(tmp_path / "single.json"), "8"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    # --standalone: torchrun picks its own free port (a port probed here could be taken before it binds)
    ddp = _torchrun(script, tmp_path / "ddp.json", env)
    if ddp.returncode != 0 and "terminate called without an active exception" in ddp.stderr:
        # A gloo worker sometimes aborts natively (std::terminate in torch's C++, no Python error): seen in
        # 2 of 6 full-suite runs on a 2-core machine, 0 of 43 runs of this test alone. The run is repeated
        # once, and the repeat must pass every check below.
        ddp = _torchrun(script, tmp_path / "ddp.json", env)
    assert ddp.returncode == 0, ddp.stdout[-2000:] + ddp.stderr[-6000:]
    a = json.load(open(tmp_path / "single.json"))
    b = json.load(open(tmp_path / "ddp.json"))
    assert a["world"] == 1 and b["world"] == 2
    for key in ("loss", "mae", "val_loss", "val_mae"):
        np.testing.assert_allclose(b["history"][key], a["history"][key], rtol=1e-4)
    for wa, wb in zip(a["weights"], b["weights"]):
        np.testing.assert_allclose(np.array(wb), np.array(wa), atol=1e-5)
    # rank 0 prints one line per epoch and writes the files; rank 1 prints and writes nothing
    assert ddp.stdout.count("Epoch ") == 3
    assert len(open(tmp_path / "ddp.json.csv").read().strip().splitlines()) == 4  # header + 3 epochs
    assert not os.path.exists(tmp_path / "ddp.json.backup")  # backups written each epoch, removed at the end
