"""seqlayers.tasks.common: length-bucketed batches, grouped prediction, reports."""
import argparse
import json

import numpy as np
import torch

from seqlayers.tasks import common


def samples(lengths, width=None):
    return [np.arange(1, n + 1) if width is None else np.ones((n, width), dtype=np.int64) for n in lengths]


def test_bucketed_loader_pads_each_batch_to_its_own_longest_sample_and_covers_all():
    lengths = [1, 9, 2, 8, 3, 7, 2, 9]
    loader = common.bucketed_loader([samples(lengths), samples(lengths, 4)], samples(lengths), batch_size=2,
                                    shuffle=True, seed=0)
    seen = []
    for (words, chars), y in loader:
        assert words.shape == y.shape and chars.shape == words.shape + (4,)
        real = (words != 0).sum(1)
        assert words.shape[1] == int(real.max())  # no batch padded beyond its own longest
        seen += real.tolist()
        assert torch.equal((chars[..., 0] != 0), words != 0)
    assert sorted(seen) == sorted(lengths)


def test_bucket_order_depends_on_the_epoch_only():
    loader = common.bucketed_loader([samples(range(1, 41))], samples(range(1, 41)), batch_size=4, shuffle=True)
    first = [b[0].shape[1] for b in loader]
    loader.batch_sampler.epoch = 0
    assert [b[0].shape[1] for b in loader] == first
    loader.batch_sampler.epoch = 1
    assert [b[0].shape[1] for b in loader] != first


def test_word_dropout_replaces_only_real_words_by_the_unknown_id():
    torch.manual_seed(0)
    xs = [[np.full(50, 7)] * 8]
    (words), _ = next(iter(common.bucketed_loader(xs, [np.zeros(50)] * 8, batch_size=8, word_dropout=0.5)))
    frac = float((words == 1).float().mean())
    assert 0.4 < frac < 0.6 and set(words.unique().tolist()) == {1, 7}


def test_word_dropout_per_word_id_uses_each_words_own_rate():
    torch.manual_seed(0)
    xs = [[np.array([2, 3, 4, 5] * 25)] * 8]  # ids 2..5; rates 0, 1, 0.5, 0 (padding and unknown: 0)
    rates = np.array([0.0, 0.0, 0.0, 1.0, 0.5, 0.0], dtype=np.float32)
    (words), _ = next(iter(common.bucketed_loader(xs, [np.zeros(100)] * 8, batch_size=8, word_dropout=rates)))
    original = torch.tensor([2, 3, 4, 5] * 25).expand(8, 100)
    dropped = words == 1
    assert not dropped[original == 2].any() and not dropped[original == 5].any()
    assert dropped[original == 3].all()
    assert 0.4 < float(dropped[original == 4].float().mean()) < 0.6


def test_predict_grouped_returns_each_sample_cut_to_its_length():
    class Echo(torch.nn.Module):
        training = False

        def predict(self, x, batch_size=None, verbose=0):
            return [x[..., None] * 2.0, x.sum(1)]

    lengths = [3, 1, 2]
    seqs, totals = common.predict_grouped(Echo(), [samples(lengths)])
    assert [s.shape for s in seqs] == [(3, 1), (1, 1), (2, 1)]
    np.testing.assert_array_equal(seqs[0][:, 0], [2, 4, 6])
    assert [float(t) for t in totals] == [6.0, 1.0, 3.0]


def test_write_report_writes_json_and_a_markdown_table(tmp_path):
    common.write_report(tmp_path, {"task": "x", "acc": 95.123}, "Title", [("accuracy (%)", 95.123), ("epochs", 3)])
    assert json.loads((tmp_path / "report.json").read_text())["acc"] == 95.123
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("# Title") and "| accuracy (%) | 95.12 |" in md and "| epochs | 3 |" in md


def test_common_arguments_and_setup_create_the_output_folder(tmp_path):
    p = argparse.ArgumentParser()
    common.add_common_arguments(p, epochs=5, batch_size=16)
    args = p.parse_args(["--out", str(tmp_path / "o"), "--seed", "3", "--threads", "1"])
    assert (args.epochs, args.batch_size, args.learning_rate) == (5, 16, 1e-3)
    out = common.setup(args)
    assert out.is_dir() and torch.get_num_threads() == 1
