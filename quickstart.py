"""The quickstart: export a small Flax NNX MLP with a symbolic batch dim, then check it in ONNX Runtime.

The export is the inference graph (Dropout off, BatchNorm on its running averages) without a
``model.eval()``: ``training="eval"`` is the default of ``save_onnx``/``to_onnx`` and of ``allclose``.
Pass ``training="preserve"`` to export the model's current mode, or ``training="train"``.
"""

import numpy as np
import onnx
from flax import nnx

from jax2onnx import allclose, save_onnx


class MLP(nnx.Module):
    def __init__(self, din, dmid, dout, *, rngs):
        self.linear1 = nnx.Linear(din, dmid, rngs=rngs)
        self.dropout = nnx.Dropout(rate=0.1, rngs=rngs)
        self.bn = nnx.BatchNorm(dmid, rngs=rngs)
        self.linear2 = nnx.Linear(dmid, dout, rngs=rngs)

    def __call__(self, x):
        x = nnx.gelu(self.dropout(self.bn(self.linear1(x))))
        return self.linear2(x)


my_model = MLP(din=30, dmid=20, dout=10, rngs=nnx.Rngs(0))

save_onnx(my_model, [("B", 30)], "my_model.onnx")  # 'B' is a symbolic batch dim

model = onnx.load("my_model.onnx")
print("ops:", [node.op_type for node in model.graph.node])
for batch in (2, 7):
    x = np.random.default_rng(batch).standard_normal((batch, 30)).astype(np.float32)
    ok, message = allclose(my_model, "my_model.onnx", [x])
    print(f"batch {batch}: {'OK' if ok else 'MISMATCH'} ({message})")
    if not ok:
        raise SystemExit(1)
