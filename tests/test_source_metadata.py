"""Node metadata names the primitive, the plugin rule and the user's line, portably; it can be turned off."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax.numpy as jnp

from jax2onnx import to_onnx


def model(x):
    return jnp.tanh(x) * 2.0


def _props(node):
    return {p.key: p.value for p in node.metadata_props}


def test_nodes_name_primitive_rule_and_a_relative_line():
    onnx_model = to_onnx(model, [("B", 3)])
    tanh = next(n for n in onnx_model.graph.node if n.op_type == "Tanh")
    props = _props(tanh)
    assert props["jax2onnx.primitive"] == "tanh"
    assert props["jax2onnx.rule"].startswith("jax2onnx-plugins-lax: jax2onnx_lax.")
    source = props["jax2onnx.source"]
    assert source.startswith("tests/test_source_metadata.py:") or source.startswith("test_source_metadata.py:")
    assert not os.path.isabs(source.split(":")[0])


def test_source_metadata_off_leaves_nodes_bare():
    onnx_model = to_onnx(model, [("B", 3)], source_metadata=False)
    assert all(not _props(n).get("jax2onnx.source") and not _props(n).get("jax2onnx.rule")
               for n in onnx_model.graph.node)


SCRIPT = textwrap.dedent('''
    import sys
    import jax.numpy as jnp
    from jax2onnx import to_onnx

    def model(x):
        return jnp.tanh(x) @ x.T

    sys.stdout.buffer.write(to_onnx(model, [("B", 3)]).SerializeToString())
''')


def test_bytes_identical_from_two_checkouts(tmp_path):
    outputs = []
    for name in ("checkout_a", "deeper/checkout_b"):
        root = tmp_path / name
        (root / "pkg").mkdir(parents=True)
        (root / "pkg" / "export_me.py").write_text(SCRIPT)
        env = {**os.environ, "JAX_PLATFORMS": "cpu"}
        run = subprocess.run([sys.executable, "pkg/export_me.py"], cwd=root, env=env, capture_output=True,
                             timeout=300)
        assert run.returncode == 0, run.stderr.decode()
        outputs.append(run.stdout)
    assert b"export_me.py:7 (model)" in outputs[0]
    assert str(tmp_path).encode() not in outputs[0]
    assert outputs[0] == outputs[1]
