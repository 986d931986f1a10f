"""Bad input gets a typed error naming the argument, what was given and what was expected."""

import jax.numpy as jnp
import pytest

from jax2onnx import (
    ExportOptionError,
    InputSpecError,
    Jax2OnnxError,
    OutputSpecError,
    UnknownOptionError,
    allclose,
    save_onnx,
    to_onnx,
)


@pytest.mark.parametrize("spec, words", [
    ((-1, 3), ["input 0", "-1", "negative"]),
    ((2.5, 3), ["input 0", "2.5", "float", "non-negative int"]),
    (("", 3), ["input 0", "empty dim name"]),
    ((True, 3), ["input 0", "True", "bool"]),
    ((None, 3), ["input 0", "None"]),
])
def test_bad_dims(spec, words):
    with pytest.raises(InputSpecError) as info:
        to_onnx(lambda x: x + 1, [spec])
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("fn, path", [
    (lambda x: "hello", "(the whole result)"),
    (lambda x: (x, "label"), "[1]"),
    (lambda x: {"y": x, "name": object()}, "['name']"),
])
def test_non_array_outputs_name_their_path(fn, path):
    with pytest.raises(OutputSpecError) as info:
        to_onnx(fn, [("B", 3)])
    assert f"output {path}" in str(info.value) and "must be an array" in str(info.value)


def test_fn_that_is_not_callable():
    with pytest.raises(ExportOptionError, match="fn must be callable.*got ndarray"):
        to_onnx(jnp.ones(3).__array__(), [(3,)])


@pytest.mark.parametrize("inputs", [[(3,), (3,)], []])
def test_wrong_number_of_inputs(inputs):
    def one_input(x):
        return x

    with pytest.raises(InputSpecError, match=r"one_input\(x\) cannot be called with \d input"):
        to_onnx(one_input, inputs)


def test_unknown_input_param():
    with pytest.raises(InputSpecError, match="unexpected keyword argument 'flag'"):
        to_onnx(lambda x: x, [(3,)], input_params={"flag": True})


def test_every_error_is_a_jax2onnx_error():
    assert issubclass(OutputSpecError, Jax2OnnxError) and issubclass(InputSpecError, Jax2OnnxError)


@pytest.mark.parametrize("call, unknown, suggestion, accepted", [
    (lambda: to_onnx(lambda x: x, [(3,)], opeset=17), "opeset", "opset", "model_name"),
    (lambda: save_onnx(lambda x: x, [(3,)], "m.onnx", enable_double_precison=True), "enable_double_precison",
     "enable_double_precision", "external_data"),
    (lambda: allclose(lambda x: x, None, [(3,)], rtoll=1e-3), "rtoll", "rtol", "atol"),
    (lambda: to_onnx(lambda x: x, [(3,)], zzz=1), "zzz", None, "input_params"),
], ids=["to_onnx", "save_onnx", "allclose", "no-close-match"])
def test_unknown_keyword_option(call, unknown, suggestion, accepted):
    with pytest.raises(UnknownOptionError) as info:
        call()
    message = str(info.value)
    assert f"unknown option {unknown!r}" in message and "Accepted options:" in message and accepted in message
    assert (f"Did you mean {suggestion!r}?" in message) if suggestion else "Did you mean" not in message
    # Still what Python raises for an unexpected keyword, for code that catches that.
    assert isinstance(info.value, ExportOptionError) and isinstance(info.value, TypeError)


def test_save_onnx_options_exclude_what_it_sets_itself(tmp_path):
    with pytest.raises(UnknownOptionError, match="unknown option 'return_mode'"):
        save_onnx(lambda x: x, [(3,)], tmp_path / "m.onnx", return_mode="proto")
    assert not list(tmp_path.iterdir())
