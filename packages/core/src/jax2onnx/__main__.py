"""``python -m jax2onnx`` runs the ``jax2onnx`` command."""

import sys

from .cli import main

sys.exit(main())
