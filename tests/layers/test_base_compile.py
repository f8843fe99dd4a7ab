"""A compiled model is compiled once per mode, not at every call (layers/base.py's call bookkeeping)."""
import torch

from seqlayers.layers import LSTM, Bidirectional, Dense, Embedding
from seqlayers.models import Sequential


def test_a_compiled_model_is_not_recompiled_by_later_calls_or_by_eager_calls_in_between():
    torch.manual_seed(0)
    model = Sequential([Embedding(20, 4, mask_zero=True), Bidirectional(LSTM(3)), Dense(2)]).eval()
    ids = torch.randint(1, 20, (3, 6))
    ids[0, 4:] = 0
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        expected = model(ids)
        compiled(ids)  # the one compilation
        with torch.compiler.set_stance("fail_on_recompile"):
            for _ in range(3):
                model(ids)  # an eager call in between used to move a guarded call counter
                torch.testing.assert_close(compiled(ids), expected)
