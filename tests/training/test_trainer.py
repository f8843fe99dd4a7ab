"""The Trainer contract: Keras's signatures, overridable train/test/predict steps, the progress channel."""
import ast
import copy
import inspect
import io
import pathlib

import numpy as np
import pytest
import torch

import seqlayers
from seqlayers import Dense, LambdaCallback, Sequential, TimeDistributed
from seqlayers.training.data_adapter import unpack_x_y_sample_weight
from seqlayers.training.progress import ProgressLogger

keras = pytest.importorskip("keras")

VERBS = ["compile", "fit", "evaluate", "predict", "train_on_batch", "test_on_batch", "predict_on_batch",
         "train_step", "test_step", "predict_step", "compute_loss", "compute_metrics"]


def _data(n=16, seed=0):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")


@pytest.mark.parametrize("verb", VERBS)
def test_verbs_have_keras_signatures(verb):
    """Every Keras argument exists with Keras's default; no *args delegation."""
    ours = inspect.signature(getattr(Sequential, verb)).parameters
    theirs = inspect.signature(getattr(keras.Model, verb)).parameters
    assert not any(p.kind == p.VAR_POSITIONAL for p in ours.values())
    for name, p in theirs.items():
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        assert name in ours, (verb, name)
        assert ours[name].default == p.default, (verb, name)
    assert list(ours)[:len([p for p in theirs.values() if p.kind == p.POSITIONAL_OR_KEYWORD])] == \
        [n for n, p in theirs.items() if p.kind == p.POSITIONAL_OR_KEYWORD]


# ---------------------------------------------------------------- a custom train_step with two optimizers
class TwoPart(Sequential):
    """A GAN-shaped model: 'encoder' and 'head' trained by two optimizers on two losses."""

    def compile(self, enc_optimizer, head_optimizer):
        super().compile(loss=None)
        self.enc_optimizer, self.head_optimizer = enc_optimizer, head_optimizer

    def train_step(self, data):
        x, y, _ = unpack_x_y_sample_weight(data)
        enc, head = self.layers
        # head step: fit y from the (frozen) encoding
        h = enc(x).detach()
        head_loss = ((head(h) - y) ** 2).mean()
        self.head_optimizer.zero_grad()
        head_loss.backward()
        self.head_optimizer.step()
        # encoder step: make the encoding's norm close to 1
        enc_loss = ((enc(x).norm(dim=-1) - 1.0) ** 2).mean()
        self.enc_optimizer.zero_grad()
        enc_loss.backward()
        self.enc_optimizer.step()
        return {"head_loss": head_loss.detach(), "enc_loss": enc_loss.detach()}


def _reference_two_part(enc, head, x, y, batch_size, epochs, lr_enc, lr_head):
    """The same two-optimizer procedure as a plain torch loop."""
    o_enc, o_head = torch.optim.SGD(enc.parameters(), lr=lr_enc), torch.optim.Adam(head.parameters(), lr=lr_head)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    last = {}
    for _ in range(epochs):
        for s in range(0, len(x), batch_size):
            xb, yb = x[s:s + batch_size], y[s:s + batch_size]
            hl = ((head(enc(xb).detach()) - yb) ** 2).mean()
            o_head.zero_grad()
            hl.backward()
            o_head.step()
            el = ((enc(xb).norm(dim=-1) - 1.0) ** 2).mean()
            o_enc.zero_grad()
            el.backward()
            o_enc.step()
            last = {"head_loss": hl.item(), "enc_loss": el.item()}
    return last


def test_custom_train_step_with_two_optimizers_trains_through_fit_with_callbacks():
    x, y = _data()
    model = TwoPart([Dense(4, activation="tanh", input_shape=(3,)), Dense(1)])
    model(torch.from_numpy(x[:2]))
    enc_ref, head_ref = copy.deepcopy(model.layers[0]), copy.deepcopy(model.layers[1])
    enc, head = model.layers
    model.compile(torch.optim.SGD(enc.parameters(), lr=0.1), torch.optim.Adam(head.parameters(), lr=0.01))
    seen, stepped = [], []
    cbs = [LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(sorted(logs))),
           LambdaCallback(on_train_batch_begin=lambda b, logs: stepped.append(b))]
    h = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0, callbacks=cbs)
    assert stepped == [0, 1, 2, 3] * 3 and seen[0] == ["enc_loss", "head_loss"]
    last = _reference_two_part(enc_ref, head_ref, x, y, 4, 3, 0.1, 0.01)
    assert h.history["head_loss"][-1] == pytest.approx(last["head_loss"], rel=1e-5)
    assert h.history["enc_loss"][-1] == pytest.approx(last["enc_loss"], rel=1e-5)
    for a, b in zip(list(enc.parameters()) + list(head.parameters()),
                    list(enc_ref.parameters()) + list(head_ref.parameters())):
        torch.testing.assert_close(a, b)


class Halved(Sequential):
    def test_step(self, data):
        logs = super().test_step(data)
        return {k: v / 2 for k, v in logs.items()}

    def predict_step(self, data):
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x) * 0 + 7.0


def test_test_step_and_predict_step_overrides_drive_evaluate_validation_and_predict():
    x, y = _data()
    model = Halved([Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")
    plain = Sequential([Dense(1, input_shape=(3,))])
    plain.compile("sgd", "mse")
    plain.set_weights(model.get_weights())
    assert model.evaluate(x, y, verbose=0) == pytest.approx(plain.evaluate(x, y, verbose=0) / 2)
    h = model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y), shuffle=False)
    assert h.history["val_loss"][0] == pytest.approx(model.evaluate(x, y, verbose=0) * 1.0)
    assert (model.predict(x, verbose=0) == 7.0).all()


def test_compute_loss_and_compute_metrics_are_the_compiled_ones():
    x, y = _data()
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse", metrics=["mae"])
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    pred = model(xt)
    loss = model.compute_loss(xt, yt, pred)
    assert loss.item() == pytest.approx(((pred - yt) ** 2).mean().item(), rel=1e-6)
    logs = dict(model.compute_metrics(xt, yt, pred))
    assert logs["mae"] == pytest.approx(float((pred - yt).abs().mean()), rel=1e-6)


# ---------------------------------------------------------------- the progress channel
class _FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_evaluate_and_predict_report_through_the_progress_channel(capsys):
    x, y = _data()
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")
    out = io.StringIO()
    model.evaluate(x, y, verbose=1, callbacks=[ProgressLogger(1, stream=out)])
    assert out.getvalue().startswith("loss: ") and capsys.readouterr().out == ""
    model.evaluate(x, y, verbose=1)
    assert capsys.readouterr().out.startswith("loss: ")
    model.evaluate(x, y, verbose=0)
    assert capsys.readouterr().out == ""
    tty = _FakeTTY()
    model.predict(x, batch_size=4, verbose=1, callbacks=[ProgressLogger(1, stream=tty)])
    assert "predict" in tty.getvalue() and "4/4" in tty.getvalue() and capsys.readouterr().out == ""


def test_training_code_prints_only_through_progress():
    root = pathlib.Path(seqlayers.__file__).parent / "training"
    offenders = []
    for path in root.glob("*.py"):
        if path.name == "progress.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{path.name}:{node.lineno}")
            if isinstance(node, (ast.Import, ast.ImportFrom)) and "tqdm" in ast.dump(node):
                offenders.append(f"{path.name}:{node.lineno} tqdm")
    assert offenders == []


def test_train_step_sees_sequence_target_masks_and_class_weights_already_assembled():
    """Ragged targets arrive padded with their mask on the tensor; class_weight arrives as sample_weight."""
    seen = {}

    class Spy(Sequential):
        def train_step(self, data):
            seen["data"] = data
            return super().train_step(data)

    model = Spy([TimeDistributed(Dense(2, activation="softmax"), input_shape=(None, 1))])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = [np.ones((3, 1), "float32"), np.ones((2, 1), "float32")]
    y = [[0, 1, 1], [1, 0]]
    model.fit(x, y, batch_size=2, epochs=1, verbose=0, class_weight={0: 1.0, 1: 3.0}, shuffle=False)
    _, yb, sw = seen["data"]
    assert seqlayers.get_mask(yb).tolist() == [[True, True, True], [True, True, False]]
    assert sw.tolist() == [[1.0, 3.0, 3.0], [3.0, 1.0, 1.0]]
