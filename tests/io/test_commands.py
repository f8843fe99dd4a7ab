"""`seqlayers convert` and `seqlayers export`: the CLI wires from_keras, save/load, to_keras, export_onnx."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import seqlayers as sl  # noqa: E402
from seqlayers.cli import build_parser, main  # noqa: E402


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    keras = pytest.importorskip("keras")
    pytest.importorskip("h5py")
    model = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4, return_sequences=True),
                              keras.layers.TimeDistributed(keras.layers.Dense(2))])
    path = tmp_path_factory.mktemp("cli") / "model.keras"
    model.save(path)
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    return path, x, model(x).detach().cpu().numpy()


def test_convert_keras_to_folder_then_export_onnx(tmp_path, keras_file, capsys):
    ort = pytest.importorskip("onnxruntime")
    path, x, expected = keras_file
    out = tmp_path / "out"
    assert main(["convert", str(path), str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    assert "Sequential (2 layers" in capsys.readouterr().out
    model = sl.load_model(out)
    np.testing.assert_allclose(model(torch.as_tensor(x)).detach().numpy(), expected, atol=1e-5, rtol=0)

    onnx_path = tmp_path / "model.onnx"
    assert main(["export", str(out), str(onnx_path)]) == 0
    assert "checked with onnxruntime" in capsys.readouterr().out
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x7 = np.random.default_rng(1).normal(size=(3, 7, 3)).astype("float32")  # another batch and length
    (got,) = session.run(None, {session.get_inputs()[0].name: x7})
    np.testing.assert_allclose(got, model(torch.as_tensor(x7)).detach().numpy(), atol=1e-5, rtol=0)


def test_convert_back_to_keras_and_to_one_file(tmp_path, keras_file):
    path, x, expected = keras_file
    assert main(["convert", str(path), str(tmp_path / "m.seqlayers")]) == 0
    assert main(["convert", str(tmp_path / "m.seqlayers"), str(tmp_path / "again.keras")]) == 0
    again = sl.from_keras(tmp_path / "again.keras")
    np.testing.assert_allclose(again(torch.as_tensor(x)).detach().numpy(), expected, atol=1e-5, rtol=0)


def test_errors_are_reported_not_raised(tmp_path, capsys):
    bad = tmp_path / "bad.seqlayers"
    bad.write_bytes(b"PK\x03\x04 truncated")
    assert main(["convert", str(bad), str(tmp_path / "out")]) == 2
    assert "not a readable seqlayers model file" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing"), str(tmp_path / "m.onnx")]) == 2


def test_help_describes_the_real_options(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["export", "--help"])
    text = capsys.readouterr().out
    for option in ("--opset", "--fixed-time", "--no-verify", "source", "dest"):
        assert option in text
    with pytest.raises(SystemExit):
        parser.parse_args(["convert", "--help"])
    assert ".keras" in capsys.readouterr().out
