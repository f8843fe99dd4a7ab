"""Every layer added for issue 15 saves and loads in seqlayers's own format (JSON + safetensors) with the
same outputs: each is registered, its config round-trips and its weights (BatchNormalization's moving
statistics included) travel."""
import numpy as np
import torch

import seqlayers as sl


def test_a_model_of_the_new_layers_saves_and_loads_with_the_same_outputs(tmp_path):
    ids = sl.Input(shape=(7,), dtype="int64")
    e = sl.Embedding(11, 6, mask_zero=True,
                     weights=[np.random.default_rng(0).normal(size=(11, 6)).astype("float32")])(ids)
    h = sl.MultiHeadAttention(2, 3, use_gate=True)(e, e, use_causal_mask=True)
    h = sl.LayerNormalization()(sl.add([e, h]))
    h = sl.BatchNormalization()(sl.PReLU(shared_axes=[1])(sl.LeakyReLU(0.1)(h)))
    c = sl.Conv1D(4, 3, padding="causal", dilation_rate=2)(sl.SpatialDropout1D(0.2)(h))
    c = sl.SeparableConv1D(4, 2, padding="same")(sl.GaussianNoise(0.1)(c))
    c = sl.MaxPooling1D(2, padding="same")(sl.ELU()(c))
    c = sl.UpSampling1D(2)(sl.ZeroPadding1D(1)(sl.Cropping1D((1, 1))(c)))
    p = sl.Permute((2, 1))(sl.ReLU(max_value=3.0)(c))
    a = sl.GlobalAveragePooling1D()(h)
    m = sl.GlobalMaxPooling1D()(sl.AveragePooling1D(2)(sl.GaussianDropout(0.1)(h)))
    d = sl.Dot(axes=1, normalize=True)([a, m])
    out = sl.concatenate([sl.multiply([a, m]), sl.subtract([a, m]), sl.maximum([a, m]), sl.minimum([a, m]),
                          sl.average([a, m]), d])
    model = sl.Model(ids, [sl.Softmax()(out), sl.Flatten(data_format="channels_first")(p)])
    x = torch.tensor([[1, 2, 3, 4, 0, 0, 0], [5, 6, 7, 8, 9, 10, 1]])
    model.train()
    model(x)  # moves BatchNormalization's statistics away from their initial values
    model.eval()
    expected = model(x)
    path = model.save(tmp_path / "new_layers.seqlayers") or tmp_path / "new_layers.seqlayers"
    loaded = sl.load_model(path)
    for a_, b_ in zip(loaded(x), expected):
        torch.testing.assert_close(a_, b_)
