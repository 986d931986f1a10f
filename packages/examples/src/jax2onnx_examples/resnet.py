"""ResNet-18: basic residual blocks with BatchNorm (inference statistics), strided downsampling, global pooling."""

from __future__ import annotations

import dataclasses

from flax import nnx

from ._zoo import example


@dataclasses.dataclass(frozen=True)
class ResNetConfig:
    width: int = 8
    stages: tuple[int, ...] = (2, 2, 2, 2)
    image: int = 32
    classes: int = 10


class BasicBlock(nnx.Module):
    def __init__(self, cin: int, cout: int, stride: int, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(cin, cout, (3, 3), strides=stride, padding=1, use_bias=False, rngs=rngs)
        self.bn1 = nnx.BatchNorm(cout, rngs=rngs)
        self.conv2 = nnx.Conv(cout, cout, (3, 3), padding=1, use_bias=False, rngs=rngs)
        self.bn2 = nnx.BatchNorm(cout, rngs=rngs)
        project = stride != 1 or cin != cout
        self.shortcut = nnx.data(nnx.Sequential(
            nnx.Conv(cin, cout, (1, 1), strides=stride, use_bias=False, rngs=rngs),
            nnx.BatchNorm(cout, rngs=rngs)) if project else None)

    def __call__(self, x):
        y = self.bn2(self.conv2(nnx.relu(self.bn1(self.conv1(x)))))
        return nnx.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(nnx.Module):
    def __init__(self, cfg: ResNetConfig, *, rngs: nnx.Rngs):
        w = cfg.width
        self.stem = nnx.Conv(3, w, (7, 7), strides=2, padding=3, use_bias=False, rngs=rngs)
        self.bn = nnx.BatchNorm(w, rngs=rngs)
        blocks, cin = [], w
        for i, count in enumerate(cfg.stages):
            cout = w * 2**i
            for j in range(count):
                blocks.append(BasicBlock(cin, cout, 2 if (j == 0 and i > 0) else 1, rngs=rngs))
                cin = cout
        self.blocks = nnx.List(blocks)
        self.head = nnx.Linear(cin, cfg.classes, rngs=rngs)

    def __call__(self, x):
        x = nnx.relu(self.bn(self.stem(x)))
        x = nnx.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        for block in self.blocks:
            x = block(x)
        return self.head(x.mean(axis=(1, 2)))


def make_resnet(cfg: ResNetConfig) -> ResNet:
    model = ResNet(cfg, rngs=nnx.Rngs(0))
    model.eval()
    return model


example(
    "resnet18",
    description="ResNet-18: 7x7 stem, max-pool, four stages of two basic blocks (BatchNorm in inference mode, "
                "1x1 projection shortcuts), global average pooling, Linear head. Full size is 64 wide at 224x224.",
    components=["flax.nnx.Conv", "flax.nnx.BatchNorm", "flax.nnx.relu", "flax.nnx.max_pool", "flax.nnx.Sequential",
                "flax.nnx.Linear"],
    onnx=["Conv", "BatchNormalization", "Relu", "MaxPool", "Add", "ReduceMean", "Gemm"], since="0.1.0",
    build=make_resnet,
    inputs=lambda c: [("B", c.image, c.image, 3)],
    configs={"small": ResNetConfig(), "full": ResNetConfig(width=64, image=224, classes=1000)},
    module=__name__,
)
