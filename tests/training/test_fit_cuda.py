"""fit / predict on CUDA (issue 17 item 6): skipped without a GPU; `make gpu-check` runs it."""
import copy

import numpy as np
import pytest
import torch

from seqlayers import LSTM, Bidirectional, Dense, Embedding, Sequential

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (run with `make gpu-check`)")


@needs_cuda
def test_fit_on_cuda_trains_like_the_cpu():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 20, size=(16, 6))
    y = rng.integers(0, 3, size=(16,))
    torch.manual_seed(0)
    model = Sequential([Embedding(20, 8, mask_zero=True), Bidirectional(LSTM(6)), Dense(3)])
    model.build((None, 6))
    gpu = copy.deepcopy(model)
    for m in (model, gpu):
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    cpu_hist = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, device="cpu")
    gpu_hist = gpu.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, device="cuda")
    assert next(gpu.parameters()).is_cuda
    np.testing.assert_allclose(gpu_hist.history["loss"], cpu_hist.history["loss"], rtol=1e-4)
    np.testing.assert_allclose(gpu.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
