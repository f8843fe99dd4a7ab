"""The one list of Keras tests that do not run against seqlayers, each with its reason.

A test may be skipped only for a Keras-only mechanism. Layers seqlayers does not have yet are not
listed here: their placeholder skips the test as "missing layer: NAME" (see adapter.py), so the
test runs as soon as the layer exists.
"""
from __future__ import annotations

import fnmatch

#: the Keras test files that run (paths under keras/src/layers/)
FILES = [
    "rnn/simple_rnn_test.py", "rnn/lstm_test.py", "rnn/gru_test.py", "rnn/rnn_test.py",
    "rnn/bidirectional_test.py", "rnn/time_distributed_test.py", "rnn/stacked_rnn_cells_test.py",
    "core/dense_test.py", "core/embedding_test.py", "core/masking_test.py", "core/lambda_layer_test.py",
    "reshaping/flatten_test.py", "reshaping/reshape_test.py", "reshaping/repeat_vector_test.py",
    "reshaping/permute_test.py", "reshaping/cropping1d_test.py", "reshaping/up_sampling1d_test.py",
    "reshaping/zero_padding1d_test.py",
    "merging/merging_test.py",
    "activations/activation_test.py", "activations/elu_test.py", "activations/leaky_relu_test.py",
    "activations/prelu_test.py", "activations/relu_test.py", "activations/softmax_test.py",
    "convolutional/conv_test.py", "convolutional/separable_conv_test.py",
    "pooling/max_pooling_test.py", "pooling/average_pooling_test.py", "pooling/global_max_pooling_test.py",
    "pooling/global_average_pooling_test.py",
    "normalization/layer_normalization_test.py", "normalization/batch_normalization_test.py",
    "attention/attention_test.py", "attention/additive_attention_test.py",
    "attention/multi_head_attention_test.py",
    "regularization/dropout_test.py", "regularization/spatial_dropout_test.py",
    "regularization/gaussian_noise_test.py", "regularization/gaussian_dropout_test.py",
]

QUANTIZATION = "quantization is a Keras-only mechanism"
LORA = "LoRA is a Keras-only mechanism"
ASSIGN = "Variable.assign is a Keras-only mechanism"
FLAGS = "a Keras backend flag"
PRIVATE = "a Keras private method"
SPARSE = "sparse/ragged tensors are a Keras-only mechanism"
CODE = ("Keras rebuilds a Lambda from its marshalled bytecode (safe_mode=False); seqlayers never runs "
        "code from a config (functions are looked up by registered name)")

#: (file pattern, "Class.test" pattern, reason); patterns are fnmatch-style, parameterized
#: variants (test_x0, test_x_name) are matched by their base name followed by "*".
SKIPS: list[tuple[str, str, str]] = [
    ("*", "*.test_*quantiz*", QUANTIZATION),
    ("*", "*.test_*int4*", QUANTIZATION),
    ("*", "*.test_*int8*", QUANTIZATION),
    ("*", "*.test_*gptq*", QUANTIZATION),
    ("*", "*.test_*awq*", QUANTIZATION),
    ("*", "*.test_*lora*", LORA),
    ("*", "*.test_legacy_load_own_variables*", PRIVATE),
    ("attention/attention_test.py", "*.test_attention_calculate_score*", PRIVATE),  # _calculate_score(s|_mask)
    ("rnn/bidirectional_test.py", "*.test_fused_*_eligibility", PRIVATE),  # _can_attempt_fused_lstm/gru
    # MultiHeadAttention: a subclass overriding Keras's private _compute_attention, and reads of private
    # attributes/sublayers (_flash_attention, _sliding_window, _query_dense...). The behaviour each one
    # checks is pinned in tests/layers/test_multi_head_attention.py: a causal mask together with an
    # attention mask on both paths (vs Keras), each projection's own initial kernel and constraints,
    # sliding_window/flash_attention through the config, the flash-attention argument errors.
    ("attention/multi_head_attention_test.py", "*.test_causal_only_skipped_for_subclass", PRIVATE),
    ("attention/multi_head_attention_test.py", "*.test_compute_attention_combines_causal_and_explicit_mask_*",
     PRIVATE),
    ("attention/multi_head_attention_test.py", "*.test_flash_attention_with_errors", PRIVATE),
    ("attention/multi_head_attention_test.py", "*.test_initializer", PRIVATE),
    ("attention/multi_head_attention_test.py", "*.test_mha_constraints", PRIVATE),
    ("attention/multi_head_attention_test.py", "*.test_sliding_window_serialization", PRIVATE),
    ("attention/multi_head_attention_test.py", "*.test_dtype_policy_map", QUANTIZATION),  # QuantizedDTypePolicy
    ("*", "*.test_*sparse*", SPARSE),
    ("core/lambda_layer_test.py", "*.test_correctness*", CODE),
    ("core/lambda_layer_test.py", "*.test_from_config_fails_closed*", CODE),
    ("*", "*.test_*ragged*", SPARSE),
]

#: tests of 2-D/3-D layers in the convolutional, pooling and reshaping files: outside the 1-D
#: sequence layers that seqlayers ships, so not collected (neither run nor counted)
OUT_OF_SCOPE = ["*.test_*2d*", "*.test_*3d*", "*.test_*_2d*", "*.test_*_3d*"]


def out_of_scope(relpath: str, cls: str, test: str) -> bool:
    key = f"{cls}.{test}".lower()
    return any(fnmatch.fnmatch(key, pat) for pat in OUT_OF_SCOPE)


#: Keras tests that fail today, each with the bug and who fixes it (issue 15). They run as expected
#: failures: a fix makes the test pass, the suite then reports an unexpected success, and the entry
#: must be deleted here. The list only shrinks.
KNOWN_FAILURES: dict[str, str] = {
}


def known_failure(relpath: str, cls: str, test: str) -> str | None:
    """The bug that makes ``cls.test`` fail today, or None."""
    key = f"{relpath}::{cls}.{test}"
    for pat, reason in KNOWN_FAILURES.items():
        if fnmatch.fnmatch(key, pat):
            return reason
    return None


def skip_reason(relpath: str, cls: str, test: str) -> str | None:
    """Why ``cls.test`` of ``relpath`` does not run, or None when it runs."""
    key = f"{cls}.{test}"
    for file_pat, test_pat, reason in SKIPS:
        if fnmatch.fnmatch(relpath, file_pat) and fnmatch.fnmatch(key, test_pat):
            return reason
    return None
