"""Example models for jax2onnx; each is a testcase of the testing kit and a row of the examples table."""

from jax2onnx.plugin import PluginIndex

plugin_index = PluginIndex(
    distribution="jax2onnx-examples",
    modules={},
    coverage_modules=[f"jax2onnx_examples.{m}" for m in (
        "mlp", "cnn", "transformer", "autoencoder", "vit", "llm",
        "moe", "rl", "rnn", "mixer", "resnet", "clip", "unet", "beyond_nnx",
    )],
)
