"""Optional native (C++) kernels, compiled on this machine against the installed torch.

Three kernels, one library: the SimpleRNN inference loop (``rnn_loop.cpp``, used by ``rnn_fused.py``),
the LSTM/GRU inference loops (``gated_loop.cpp``, used by ``layers/rnn_native.py``) for float32 CPU
inference with no gradient, and the LSTM/GRU/SimpleRNN training passes (``rnn_train.cpp``, forward and
backward, used by ``layers/rnn_train.py``) for float32 CPU training, all sharing ``loop_math.h``; everything works
without it (the TorchScript loop and torch's fused kernels run instead). Nothing is compiled
implicitly during a forward pass unless asked:

* ``python -m seqlayers.native`` (run by ``make install``) compiles it once (~1 minute; needs a C++
  compiler and ninja) into ``~/.cache/seqlayers/native/<key>`` (``SEQLAYERS_CACHE`` moves it); the
  key hashes the sources, the torch version and the Python ABI, so a torch upgrade or a changed
  source gets a fresh build and never loads a stale one.
* ``SEQLAYERS_NATIVE`` chooses the policy: ``auto`` (default): load it if it was built, else use the
  TorchScript loop; ``build``: compile it on first use if missing; ``0``: never use it.

``status()`` says whether it is loaded and, if not, why; ``last_loop()`` which LSTM/GRU loop the last
inference call ran.
"""
from .loader import BLAS_ONLY, blas_only, build, disabled, last_loop, status, use_native

__all__ = ["BLAS_ONLY", "blas_only", "build", "disabled", "last_loop", "status", "use_native"]
