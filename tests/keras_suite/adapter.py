"""Run Keras's own layer unit tests (the ``*_test.py`` files inside the installed keras package)
against seqlayers.

A Keras test file is imported from the keras package itself (nothing of it is copied here) with
one change: its ``import`` statements are resolved by ``_keras_import`` below, which hands it
seqlayers in place of Keras where a name has a seqlayers meaning:

* ``keras.src.layers``: every name is looked up in ``seqlayers.layers`` / ``seqlayers`` (the
  ``RENAMES`` table for the few names that differ); a layer seqlayers does not have yet becomes a
  placeholder whose construction skips the test as "missing layer: NAME";
* ``keras.src.models``, ``saving``, ``initializers``, ``regularizers``, ``constraints``: the
  seqlayers counterparts;
* ``keras.src.testing``: ``TestCase`` below, Keras's own ``TestCase`` (its assertion helpers work
  on torch tensors) with ``run_layer_test`` and ``run_class_serialization_test`` mapped onto the
  seqlayers API (symbolic inputs are ``seqlayers.Input``, serialization is seqlayers's JSON config);
* ``keras.src.backend``: Keras's backend (KERAS_BACKEND=torch: its tensors are torch tensors), with
  the mask accessors (``get_keras_mask``) and ``KerasTensor`` pointing at seqlayers's;
* ``ops``, ``random``, ``tree``, ``dtype_policies``...: Keras's own (they compute on torch tensors).

The test bodies and their expected values stay Keras's. Which tests are skipped, and why, is
listed in ``skips.py`` (and nowhere else).
"""
from __future__ import annotations

import builtins
import importlib.util
import json
import re
import sys
import types
import unittest
from pathlib import Path

import keras  # noqa: F401  (the reference package, KERAS_BACKEND=torch)
import numpy as np
import torch
from keras.src import backend as keras_backend
from keras.src import tree
from keras.src.testing import test_case as keras_test_case

import seqlayers
import seqlayers.layers
from seqlayers.layers.base import get_mask, set_mask
from seqlayers.models.symbolic import Input, SymbolicTensor
from seqlayers.serialization import layer_from_config, layer_to_config, value_to_json

from .skips import known_failure, out_of_scope, skip_reason

KERAS_LAYERS_DIR = Path(keras.src.layers.__file__).parent

#: Keras names whose seqlayers object has another name
RENAMES: dict[str, str] = {}


# ---------------------------------------------------------------- missing layers
class MissingLayer(unittest.SkipTest):
    """Raised by the placeholder of a layer seqlayers does not have: the test is skipped."""


def _missing(name: str):
    if re.search(r"[23]D(Transpose)?$", name):  # a parameterized variant for images/volumes
        reason = f"out of scope: {name} (seqlayers ships the 1-D sequence layers)"
    else:
        reason = f"missing layer: {name}"

    def __init__(self, *args, **kwargs):
        raise MissingLayer(reason)

    return type(name, (), {"__init__": __init__, "__call__": __init__, "_missing_layer": True})


def _lookup(name: str, *namespaces):
    target = RENAMES.get(name, name)
    for ns in namespaces:
        if hasattr(ns, target):
            return getattr(ns, target)
    return None


class _Namespace(types.ModuleType):
    """A module whose attributes come from ``resolve(name)``, cached."""

    def __init__(self, name: str, resolve):
        super().__init__(name)
        self._resolve = resolve

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = self._resolve(name)
        setattr(self, name, value)
        return value


def _layer(name: str):
    found = _lookup(name, seqlayers.layers, seqlayers)
    return _missing(name) if found is None else found


layers_shim = _Namespace("keras.src.layers", _layer)


# ---------------------------------------------------------------- models, saving, backend
def _load_model(path, custom_objects=None, **kwargs):
    path = str(path)
    if path.endswith((".keras", ".h5")):
        return seqlayers.from_keras(path, custom_objects=custom_objects)
    return seqlayers.load_model(path, custom_objects=custom_objects)


def _models(name):
    if name == "load_model":
        return _load_model
    found = _lookup(name, seqlayers.models, seqlayers)
    return _missing(name) if found is None else found


models_shim = _Namespace("keras.src.models", _models)


def _saving(name):
    if name == "load_model":
        return _load_model
    if name == "register_keras_serializable":
        return lambda package=None, name=None: (lambda cls: seqlayers.register_layer(cls, name=name))
    return getattr(keras.src.saving, name)


saving_shim = _Namespace("keras.src.saving", _saving)


class _KerasTensorMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, SymbolicTensor)


class KerasTensor(metaclass=_KerasTensorMeta):
    """``KerasTensor(shape, dtype)`` in a Keras test: a seqlayers symbolic tensor of that batch shape."""

    def __new__(cls, shape, dtype="float32", sparse=False, ragged=False, name=None, **kwargs):
        if sparse or ragged:
            raise unittest.SkipTest("sparse/ragged tensors are a Keras-only mechanism")
        return Input(batch_shape=tuple(shape), dtype=keras_backend.standardize_dtype(dtype), name=name)


def _set_keras_mask(x, mask):
    set_mask(x, mask)


def _backend(name):
    if name == "get_keras_mask":
        return get_mask
    if name == "set_keras_mask":
        return _set_keras_mask
    if name == "KerasTensor":
        return KerasTensor
    if name == "Variable":  # a Keras variable used as a value: a torch tensor here
        return lambda value, *args, **kwargs: torch.as_tensor(_to_numpy(value))
    return getattr(keras_backend, name)


backend_shim = _Namespace("keras.src.backend", _backend)


def _initializers(name):
    found = _lookup(name, seqlayers.initializers)
    if found is not None:
        return found
    keras_cls = getattr(keras.src.initializers, name)

    def make(*args, **kwargs):  # a Keras initializer (shape -> tensor) as a seqlayers one (fills in place)
        init = keras_cls(*args, **kwargs)
        return lambda t: t.copy_(torch.as_tensor(_to_numpy(init(tuple(t.shape), dtype="float32"))))

    return make


initializers_shim = _Namespace("keras.src.initializers", _initializers)


def _optional_module(modname: str, keras_name: str):
    """A seqlayers module named like Keras's (regularizers, constraints) once it exists."""

    def resolve(name):
        mod = sys.modules.get(modname) or _try_import(modname)
        if mod is not None and hasattr(mod, name):
            return getattr(mod, name)
        return _missing(f"{keras_name}.{name}")

    return _Namespace(f"keras.src.{keras_name}", resolve)


def _try_import(modname):
    try:
        return importlib.import_module(modname)
    except ImportError:
        return None


# ---------------------------------------------------------------- the TestCase
def _to_numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    return np.array(x)


def _variable_numpy(weight, *args, **kwargs):
    return torch.Tensor.numpy(weight.detach(), *args, **kwargs)


@torch.no_grad()
def _assign(weight, value):
    weight.copy_(torch.as_tensor(_to_numpy(value), dtype=weight.dtype).reshape(weight.shape))
    return weight


def _symbolic_inputs(shape, dtype):
    """Symbolic inputs of these shapes; a dict's ``x_shape`` keys become ``x`` (as Keras's helper)."""
    def make(s, d):
        return Input(batch_shape=tuple(s), dtype=keras_backend.standardize_dtype(d))

    if isinstance(shape, dict):
        return {k.removesuffix("_shape"): make(v, dtype[k]) for k, v in shape.items()}
    return keras_test_case.map_shape_dtype_structure(make, shape, dtype)


def _config_json(config) -> str:
    """A config as JSON text (seqlayers's serializer: layers nested, callables by name)."""
    return json.dumps(value_to_json(config, "config"), sort_keys=True)


def _call(layer, inputs, call_kwargs):
    if isinstance(inputs, dict):
        return layer(**inputs, **call_kwargs)
    return layer(inputs, **call_kwargs)


class TestCase(keras_test_case.TestCase):
    """Keras's ``testing.TestCase`` with its layer checks run through the seqlayers API."""

    def setUp(self):
        super().setUp()
        torch.manual_seed(0)
        np.random.seed(0)
        # Keras tests set a weight with ``variable.assign(value)``: on a seqlayers weight (a torch
        # tensor) that is an in-place copy, available only while a Keras test runs
        torch.Tensor.assign = _assign
        torch.Tensor.value = property(lambda w: w)  # Keras's variable.value: the tensor itself
        torch.nn.Parameter.numpy = _variable_numpy  # Keras's variable.numpy(): the value, without its grad
        self.addCleanup(delattr, torch.Tensor, "assign")
        self.addCleanup(delattr, torch.Tensor, "value")
        self.addCleanup(delattr, torch.nn.Parameter, "numpy")

    def convert_to_numpy(self, x):
        return _to_numpy(x)

    # Exception types ValueError/TypeError and message wording may differ from Keras's (issue 15):
    # a Keras check for either error passes on either, whatever the message says.
    def assertRaisesRegex(self, expected_exception, expected_regex, *args, **kwargs):
        return self.assertRaises(expected_exception, *args, **kwargs)

    def assertRaises(self, expected_exception, *args, **kwargs):
        if expected_exception in (ValueError, TypeError):
            expected_exception = (ValueError, TypeError)
        return super().assertRaises(expected_exception, *args, **kwargs)

    def run_class_serialization_test(self, instance, custom_objects=None):
        """``from_config(get_config())`` gives the same config and attributes; the JSON file format too."""
        cls = type(instance)
        config = instance.get_config()
        config_json = _config_json(config)
        ref_dir = set(dir(instance))
        revived = cls.from_config(config)
        self.assertEqual(config_json, _config_json(revived.get_config()))
        self.assertEqual(ref_dir, set(dir(revived)))
        text = json.dumps(layer_to_config(instance))
        revived = layer_from_config(json.loads(text), custom_objects)
        self.assertEqual(config_json, _config_json(revived.get_config()))
        self.assertEqual(ref_dir, set(dir(revived)))
        return revived

    def run_layer_test(self, layer_cls, init_kwargs, input_shape=None, input_dtype=None, input_sparse=False,
                       input_ragged=False, input_data=None, call_kwargs=None, expected_output_shape=None,
                       expected_output_dtype=None, expected_output_sparse=False, expected_output_ragged=False,
                       expected_output=None, expected_num_trainable_weights=None,
                       expected_num_non_trainable_weights=None, expected_num_non_trainable_variables=None,
                       expected_num_seed_generators=None, expected_num_losses=None, supports_masking=None,
                       expected_mask_shape=None, custom_objects=None, run_training_check=True,
                       run_mixed_precision_check=True, assert_built_after_instantiation=False,
                       tpu_atol=None, tpu_rtol=None):
        """Keras's ``run_layer_test`` steps on a seqlayers layer.

        Keras-only parts are left out: seed-generator and non-trainable-*variable* counts (Keras
        keeps a dropout seed as a variable; seqlayers uses torch's generator), sparse/ragged inputs,
        mixed precision (Keras itself skips it on torch without CUDA).
        """
        if input_sparse or input_ragged or expected_output_sparse or expected_output_ragged:
            raise unittest.SkipTest("sparse/ragged tensors are a Keras-only mechanism")
        init_kwargs = init_kwargs or {}
        call_kwargs = call_kwargs or {}
        if input_shape is not None and input_dtype is None:
            input_dtype = tree.map_shape_structure(lambda _: "float32", input_shape)
        if input_data is None and input_shape is not None:
            input_data = keras_test_case.create_eager_tensors(input_shape, input_dtype, False, False)
        has_input = input_data is not None

        if has_input:  # counts the test does not give are taken from an eager call
            layer = layer_cls(**init_kwargs)
            _call(layer, input_data, call_kwargs)
            if expected_num_trainable_weights is None:
                expected_num_trainable_weights = len(layer.trainable_weights)
            if expected_num_non_trainable_weights is None:
                expected_num_non_trainable_weights = len(layer.non_trainable_weights)

        layer = layer_cls(**init_kwargs)
        self.run_class_serialization_test(layer, custom_objects)
        if supports_masking is not None:
            self.assertEqual(layer.supports_masking, supports_masking, msg="Unexpected supports_masking value")

        def build_asserts(layer):
            self.assertTrue(layer.built)
            if expected_num_trainable_weights is not None:
                self.assertLen(layer.trainable_weights, expected_num_trainable_weights,
                               msg="Unexpected number of trainable_weights")
            if expected_num_non_trainable_weights is not None:
                self.assertLen(layer.non_trainable_weights, expected_num_non_trainable_weights,
                               msg="Unexpected number of non_trainable_weights")

        def output_asserts(layer, output, eager):
            if expected_output_shape is not None:
                def same(expected, x):
                    shape = tuple(x.shape)
                    return len(shape) == len(expected) and all(
                        e is None or e == d for e, d in zip(expected, shape))

                ok = tree.map_structure_up_to(output, same, expected_output_shape, output)
                self.assertTrue(all(tree.flatten(ok)), msg=f"Expected output shapes {expected_output_shape} "
                                f"but received {tree.map_structure(lambda x: tuple(x.shape), output)}")
            if expected_output_dtype is not None:
                ok = tree.map_structure(
                    lambda e, x: e == keras_backend.standardize_dtype(x.dtype), expected_output_dtype, output)
                self.assertTrue(all(tree.flatten(ok)), msg=f"Expected output dtypes {expected_output_dtype} "
                                f"but received {tree.map_structure(lambda x: x.dtype, output)}")
            if eager:
                if expected_output is not None:
                    self.assertEqual(type(expected_output), type(output))
                    for ref, v in zip(tree.flatten(expected_output), tree.flatten(output)):
                        self.assertAllClose(ref, v, msg="Unexpected output value")
                if expected_num_losses is not None:
                    self.assertLen(layer.losses, expected_num_losses)

        if has_input:
            build_shape = input_shape if input_shape is not None else \
                tree.map_structure(lambda x: tuple(x.shape), input_data)
            layer = layer_cls(**init_kwargs)
            if isinstance(build_shape, dict):
                layer.build(**build_shape)
            else:
                layer.build(build_shape)
            build_asserts(layer)

            if input_shape is None:
                sym = tree.map_structure(lambda x: _symbolic_inputs(tuple(x.shape), str(x.dtype).split(".")[-1]),
                                         input_data)
            else:
                sym = _symbolic_inputs(input_shape, input_dtype)
            layer = layer_cls(**init_kwargs)
            sym_out = _call(layer, sym, call_kwargs)
            build_asserts(layer)
            output_asserts(layer, sym_out, eager=False)
            if expected_mask_shape is not None:  # seqlayers masks live on real tensors: the eager mask
                mask = layer.compute_mask(input_data)
                self.assertEqual(tuple(expected_mask_shape), tuple(mask.shape))
            if assert_built_after_instantiation:
                self.assertTrue(layer_cls(**init_kwargs).built,
                                msg=f"{layer_cls} is stateless, so it should be built after instantiation.")

                class ModifiedBuildLayer(layer_cls):
                    def build(self, *args, **kwargs):
                        pass

                self.assertFalse(ModifiedBuildLayer(**init_kwargs).built,
                                 msg=f"The `build` of {layer_cls} is overridden, so it should not be built "
                                     f"after instantiation.")

            layer = layer_cls(**init_kwargs)
            output = _call(layer, input_data, call_kwargs)
            output_asserts(layer, output, eager=True)
            if run_training_check:
                _training_step(layer, input_data, call_kwargs)


def _training_step(layer, input_data, call_kwargs):
    """One SGD step on ``sum(outputs)`` (plus the layer's losses), as Keras's check fits one batch."""
    from seqlayers.constraints import apply_constraints

    layer.train()
    inputs = tree.map_structure(lambda x: torch.as_tensor(_to_numpy(x)), input_data)
    params = [p for p in layer.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.01) if params else None
    out = _call(layer, inputs, {**call_kwargs, "training": True} if "training" in layer._call_params
                else call_kwargs)
    loss = sum(o.float().sum() for o in tree.flatten(out) if isinstance(o, torch.Tensor))
    loss = loss + sum(layer.losses) if layer.losses else loss
    if opt is not None and isinstance(loss, torch.Tensor) and loss.requires_grad:
        opt.zero_grad()
        loss.backward()
        opt.step()
        apply_constraints(layer)


testing_shim = types.ModuleType("keras.src.testing")
testing_shim.TestCase = TestCase
testing_shim.test_case = types.ModuleType("keras.src.testing.test_case")
testing_shim.test_case.TestCase = TestCase
testing_shim.test_case.uses_gpu = keras_test_case.uses_gpu
testing_shim.test_case.uses_tpu = keras_test_case.uses_tpu
for _n in ("uses_gpu", "uses_tpu", "jax_uses_gpu", "tensorflow_uses_gpu", "torch_uses_gpu"):
    setattr(testing_shim, _n, getattr(keras_test_case, _n))


# ---------------------------------------------------------------- the import hook
def _skip_if_backend(given_backend, reason):
    """Keras's repository conftest helper: skip when the backend is ``given_backend``."""
    import pytest

    return pytest.mark.skipif(keras_backend.backend() == given_backend, reason=reason)


conftest_shim = types.SimpleNamespace(skip_if_backend=_skip_if_backend)

SHIMS = {
    "layers": layers_shim,
    "models": models_shim,
    "saving": saving_shim,
    "backend": backend_shim,
    "testing": testing_shim,
    "initializers": initializers_shim,
    "regularizers": _optional_module("seqlayers.regularizers", "regularizers"),
    "constraints": _optional_module("seqlayers.constraints", "constraints"),
    "Sequential": seqlayers.Sequential,
}


class _From:
    """What ``from keras.src.X import a, b`` receives: a, b resolved by ``resolve``."""

    def __init__(self, resolve):
        self._resolve = resolve

    def __getattr__(self, name):
        return self._resolve(name)


def _resolve_in(dotted: str):
    """Attribute resolver for ``from <dotted> import name`` inside a Keras test file."""
    parts = dotted.split(".")[2:]  # after keras.src

    def resolve(name):
        if not parts:
            return SHIMS[name] if name in SHIMS else getattr(keras.src, name)
        head = parts[0]
        if head == "layers":
            if name.endswith("_test"):
                return load_test_module(f"{'/'.join(parts[1:])}/{name}.py")
            if len(parts) > 1 and parts[-1].endswith("_test"):
                return getattr(load_test_module("/".join(parts[1:]) + ".py"), name)
            if len(parts) > 1:  # e.g. keras.src.layers.activations.relu: a module of layer classes
                return layers_shim if name[0].islower() else _layer(name)
            return _layer(name)
        if head == "testing":
            return getattr(testing_shim, name)
        if head in ("models", "saving", "backend") and len(parts) == 1:
            return getattr(SHIMS[head], name)
        if dotted == "keras.src.backend.common.keras_tensor" and name == "KerasTensor":
            return KerasTensor
        if dotted == "keras.src.backend.common" and name == "keras_tensor":
            return types.SimpleNamespace(KerasTensor=KerasTensor)
        return getattr(importlib.import_module(dotted), name)

    return resolve


def _keras_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and name.startswith("keras.src") and fromlist:
        return _From(_resolve_in(name))
    if level == 0 and name == "conftest":  # Keras's repository conftest (not in the package)
        return conftest_shim
    return builtins.__import__(name, globals, locals, fromlist, level)


_LOADED: dict[str, types.ModuleType] = {}


def load_test_module(relpath: str) -> types.ModuleType:
    """Import ``keras/src/layers/<relpath>`` with its imports resolved to seqlayers (cached)."""
    if relpath in _LOADED:
        return _LOADED[relpath]
    path = KERAS_LAYERS_DIR / relpath
    modname = "keras_suite." + relpath[:-3].replace("/", ".")
    spec = importlib.util.spec_from_file_location(modname, path)
    module = importlib.util.module_from_spec(spec)
    module.__dict__["__builtins__"] = dict(vars(builtins), __import__=_keras_import)
    _LOADED[relpath] = module
    sys.modules[modname] = module
    spec.loader.exec_module(module)
    return module


def _same(method):
    def run(self, *args, **kwargs):
        return method(self, *args, **kwargs)

    run.__name__ = method.__name__
    return run


def _skipping(method, reason):
    def skipped(self, *args, **kwargs):
        raise unittest.SkipTest(reason)

    skipped.__name__ = method.__name__
    skipped.__qualname__ = getattr(method, "__qualname__", method.__name__)
    return skipped


def keras_test_classes(relpath: str) -> dict[str, type]:
    """The file's TestCase classes, renamed ``<dir>__<file>__<Class>``, with the listed skips applied."""
    module = load_test_module(relpath)
    stem = relpath[:-3].replace("/", "__")
    out = {}
    for cname, cls in vars(module).items():
        if not (isinstance(cls, type) and issubclass(cls, TestCase) and cls.__module__ == module.__name__):
            continue
        attrs = {}
        for attr in dir(cls):
            if attr.startswith("test"):
                if out_of_scope(relpath, cname, attr):
                    attrs[attr] = None  # not a test of this class any more (unittest collects callables)
                    continue
                reason = skip_reason(relpath, cname, attr)
                if reason is not None:
                    attrs[attr] = _skipping(getattr(cls, attr), reason)
                elif known_failure(relpath, cname, attr) is not None:
                    attrs[attr] = unittest.expectedFailure(_same(getattr(cls, attr)))
        sub = type(f"{stem}__{cname}", (cls,), attrs)
        sub.__module__ = __name__
        out[sub.__name__] = sub
    return out
