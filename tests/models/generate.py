#!/usr/bin/python3
"""Exports Tessel's test models with torch and checks them with onnx.

    /usr/bin/python3 tests/models/generate.py [--out DIR]
    /usr/bin/python3 tests/models/generate.py --gpt2-bench DIR [--layers 48 --width 1024 --vocab 1024]

Needs Debian's python3-torch (1.13) and python3-onnx, which `./setup.sh
--models` installs. The default writes the small test models into
tests/models/<name>/ (committed, so that tests never need torch;
--only NAME exports one):

  mlp     opset 9   Gemm, GELU (Erf), ReLU; batch dimension dynamic
  gpt2    opset 17  embeddings, LayerNormalization, causal multi-head
                    attention, tanh GELU, residuals, tied LM head;
                    batch and sequence dimensions dynamic
  resnet  opset 11  Conv, BatchNormalization (eval), Relu, MaxPool,
                    GlobalAveragePool, Flatten, Gemm; batch dynamic
  mobilenet opset 13  inverted residuals with depthwise Conv (groups =
                    channels), a depthwise Conv with a channel multiplier,
                    a grouped Conv (4 groups), Clip (ReLU6); batch dynamic
  moe     opset 14  a mixture of experts written with einsum (Einsum,
                    Softmax gate); batch and sequence dynamic
  switch  opset 14  two GShard-style mixture-of-experts layers, top-1 then
                    top-2 gating, a capacity per expert and token group
                    (tokens past it dropped), dispatch and combine as
                    one-hot einsums (ArgMax, OneHot, CumSum, Less, Einsum);
                    static shapes (the capacity depends on them)

Each directory holds model.onnx, one <input>.npy per input and output.npy
(torch's output for those inputs), and `shapes`: one `name=dims` line per
input, the --input-shape flags that pin the dynamic dimensions to the shapes
of the saved inputs.

--gpt2-bench writes a deep GPT-2-style model with its weights as ONNX external
data (for bench/import_gpt2.sh); --experts-bench a larger `switch` (for
bench/moe_experts.sh); neither is committed.
"""

import argparse
import math
import os
import tempfile

import numpy as np
import onnx
import torch
from torch import nn


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x):
        x = nn.functional.gelu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


class Attention(nn.Module):
    def __init__(self, width, heads, max_positions):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        mask = torch.tril(torch.ones(max_positions, max_positions))
        self.register_buffer("mask", mask.view(1, 1, max_positions, max_positions))

    def forward(self, x):
        batch, length, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=2)
        head = width // self.heads
        q = q.view(batch, length, self.heads, head).transpose(1, 2)
        k = k.view(batch, length, self.heads, head).transpose(1, 2)
        v = v.view(batch, length, self.heads, head).transpose(1, 2)
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(head))
        causal = self.mask[:, :, :length, :length]
        scores = scores.masked_fill(causal == 0, float("-inf"))
        y = torch.softmax(scores, dim=-1) @ v
        y = y.transpose(1, 2).contiguous().view(batch, length, width)
        return self.proj(y)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Block(nn.Module):
    def __init__(self, width, heads, max_positions):
        super().__init__()
        self.ln1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads, max_positions)
        self.ln2 = nn.LayerNorm(width)
        self.fc = nn.Linear(width, 4 * width)
        self.out = nn.Linear(4 * width, width)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.out(gelu_tanh(self.fc(self.ln2(x))))


class Gpt2(nn.Module):
    def __init__(self, vocab=96, width=64, heads=4, layers=2, max_positions=32):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(max_positions, width)
        self.blocks = nn.ModuleList(Block(width, heads, max_positions) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)

    def forward(self, ids):
        positions = torch.arange(ids.shape[1], dtype=torch.long).unsqueeze(0)
        x = self.wte(ids) + self.wpe(positions)
        for block in self.blocks:
            x = block(x)
        # The LM head shares the token embedding's weights.
        return self.ln_f(x) @ self.wte.weight.t()


class BasicBlock(nn.Module):
    def __init__(self, channels_in, channels_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.down = None
        if stride != 1 or channels_in != channels_out:
            self.down = nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride, bias=False),
                nn.BatchNorm2d(channels_out))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = BasicBlock(16, 16, 1)
        self.layer2 = BasicBlock(16, 32, 2)
        self.avg = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn(self.stem(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avg(x), 1))


class InvertedResidual(nn.Module):
    """MobileNetV2's block: expand (1x1), depthwise 3x3, project (1x1)."""

    def __init__(self, channels, expand, stride):
        super().__init__()
        hidden = channels * expand
        self.expand = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False),
                                    nn.BatchNorm2d(hidden), nn.ReLU6())
        self.depthwise = nn.Sequential(
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU6())
        self.project = nn.Sequential(nn.Conv2d(hidden, channels, 1, bias=False),
                                     nn.BatchNorm2d(channels))
        self.residual = stride == 1

    def forward(self, x):
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


class MobileNet(nn.Module):
    """Depthwise convolutions, a depthwise one with a channel multiplier,
    and a grouped one (4 groups), as MobileNet- and PaddleOCR-style
    networks have them."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False),
                                  nn.BatchNorm2d(16), nn.ReLU6())
        self.block1 = InvertedResidual(16, 4, 1)
        self.block2 = InvertedResidual(16, 2, 2)
        self.multiplier = nn.Conv2d(16, 32, 3, 1, 1, groups=16)
        self.grouped = nn.Conv2d(32, 32, 3, 1, 1, groups=4)
        self.avg = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = self.block2(self.block1(self.stem(x)))
        x = torch.relu(self.grouped(torch.relu(self.multiplier(x))))
        return self.fc(torch.flatten(self.avg(x), 1))


class MixtureOfExperts(nn.Module):
    """Every token through every expert, weighted by a softmax gate, written
    with einsum as mixture-of-experts layers often are."""

    def __init__(self, width=16, hidden=32, experts=4):
        super().__init__()
        self.gate = nn.Linear(width, experts)
        self.w1 = nn.Parameter(torch.randn(experts, width, hidden) * 0.1)
        self.w2 = nn.Parameter(torch.randn(experts, hidden, width) * 0.1)

    def forward(self, x):
        gate = torch.softmax(self.gate(x), -1)
        hidden = torch.relu(torch.einsum("bsd,edh->bseh", x, self.w1))
        y = torch.einsum("bseh,ehd->bsed", hidden, self.w2)
        return torch.einsum("bsed,bse->bsd", y, gate)


class TopKExperts(nn.Module):
    """A mixture-of-experts layer as GShard writes it. Tokens come in groups
    ([groups, tokens, width]); each expert takes at most `capacity` tokens
    of a group, ceil(k * tokens * capacity_factor / experts). Each of the k
    rounds routes every token to its best expert not yet chosen; a token's
    place in its expert's buffer is the running count (CumSum) of the
    tokens routed there before it, earlier rounds first, and a token past
    the capacity is dropped (it contributes nothing; the residual carries
    it). Dispatch [groups, tokens, experts, capacity] is one-hot in the
    slot; combine is dispatch times the gate (top-2: the two gates
    normalised to sum to one)."""

    def __init__(self, width, hidden, experts, k, capacity_factor):
        super().__init__()
        self.experts, self.k, self.capacity_factor = experts, k, capacity_factor
        self.gate = nn.Linear(width, experts, bias=False)
        self.w1 = nn.Parameter(torch.randn(experts, width, hidden) * width ** -0.5)
        self.w2 = nn.Parameter(torch.randn(experts, hidden, width) * hidden ** -0.5)

    def capacity(self, tokens):
        return math.ceil(self.k * tokens * self.capacity_factor / self.experts)

    def route(self, x):
        groups, tokens = int(x.shape[0]), int(x.shape[1])
        capacity = self.capacity(tokens)
        probs = torch.softmax(self.gate(x), -1)
        remaining, filled = probs, torch.zeros(groups, 1, self.experts)
        slots, gates = [], []
        for _ in range(self.k):
            mask = nn.functional.one_hot(torch.argmax(remaining, -1), self.experts).to(x.dtype)
            position = torch.cumsum(mask, 1) - 1 + filled
            filled = filled + mask.sum(1, keepdim=True)
            keep = mask * (position < capacity).to(x.dtype)
            slot = nn.functional.one_hot((position * keep).long(), capacity).to(x.dtype)
            slots.append(slot * keep.unsqueeze(-1))
            gates.append((probs * mask).sum(-1, keepdim=True))
            remaining = remaining * (1 - mask)
        total = sum(gates) if self.k > 1 else 1
        dispatch = sum(slots)
        combine = sum(s * (g / total).unsqueeze(-1) for s, g in zip(slots, gates))
        return dispatch, combine

    def forward(self, x):
        dispatch, combine = self.route(x)
        expert_in = torch.einsum("gsec,gsd->egcd", dispatch, x)
        hidden = torch.relu(torch.einsum("egcd,edh->egch", expert_in, self.w1))
        expert_out = torch.einsum("egch,ehd->egcd", hidden, self.w2)
        return torch.einsum("gsec,egcd->gsd", combine, expert_out)


class SwitchExperts(nn.Module):
    """A top-1 (Switch) then a top-2 (GShard) experts layer with residuals."""

    def __init__(self, width=16, hidden=32, experts=4, capacity_factor=1.0):
        super().__init__()
        self.top1 = TopKExperts(width, hidden, experts, 1, capacity_factor)
        self.top2 = TopKExperts(width, hidden, experts, 2, capacity_factor)

    def forward(self, x):
        x = x + self.top1(x)
        return x + self.top2(x)


def randomize_batch_norm(model):
    """Non-trivial running statistics, so that eval-mode BN does real work."""
    generator = torch.Generator().manual_seed(7)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.1)


def export(model, name, inputs, input_names, dynamic_axes, opset, out_dir):
    model.eval()
    out_dir = os.path.join(out_dir, name)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.onnx")
    with torch.no_grad():
        torch.onnx.export(
            model, tuple(inputs), path, input_names=input_names,
            output_names=["output"], dynamic_axes=dynamic_axes,
            opset_version=opset,
            # Keep BatchNormalization as its own node rather than folded into
            # the convolution: the importer must handle it.
            training=torch.onnx.TrainingMode.PRESERVE,
            do_constant_folding=False)
        outputs = model(*inputs)
    onnx.checker.check_model(onnx.load(path))
    for n, t in zip(input_names, inputs):
        np.save(os.path.join(out_dir, n + ".npy"), t.numpy())
    np.save(os.path.join(out_dir, "output.npy"), outputs.numpy())
    with open(os.path.join(out_dir, "shapes"), "w") as shapes:
        for n, t in zip(input_names, inputs):
            shapes.write("%s=%s\n" % (n, "x".join(str(d) for d in t.shape)))
    ops = sorted({node.op_type for node in onnx.load(path).graph.node})
    print("%s: %d bytes, opset %d, ops: %s" % (path, os.path.getsize(path), opset, " ".join(ops)))


def small_models(out_dir, only=None):
    """Exports the test models (`only`: just that one; each seeds itself,
    so one model's export does not change another's)."""
    def wanted(name):
        return only is None or only == name

    if wanted("mlp"):
        torch.manual_seed(0)
        export(Mlp(), "mlp", [torch.randn(4, 64)], ["x"],
               {"x": {0: "batch"}, "output": {0: "batch"}}, 9, out_dir)
    if wanted("gpt2"):
        torch.manual_seed(1)
        ids = torch.randint(0, 96, (2, 16), generator=torch.Generator().manual_seed(3))
        export(Gpt2(), "gpt2", [ids], ["ids"],
               {"ids": {0: "batch", 1: "sequence"}, "output": {0: "batch", 1: "sequence"}},
               17, out_dir)
    if wanted("resnet"):
        torch.manual_seed(2)
        resnet = ResNet()
        randomize_batch_norm(resnet)
        export(resnet, "resnet", [torch.randn(2, 3, 32, 32)], ["x"],
               {"x": {0: "batch"}, "output": {0: "batch"}}, 11, out_dir)
    if wanted("moe"):
        torch.manual_seed(5)
        export(MixtureOfExperts(), "moe", [torch.randn(2, 8, 16)], ["x"],
               {"x": {0: "batch", 1: "sequence"},
                "output": {0: "batch", 1: "sequence"}}, 14, out_dir)
    if wanted("switch"):
        torch.manual_seed(6)
        switch, x = SwitchExperts(), torch.randn(4, 8, 16)
        with torch.no_grad():
            kept = [layer.route(h)[0].sum().item() for layer, h in
                    ((switch.top1, x), (switch.top2, x + switch.top1(x)))]
        # The test needs tokens dropped at capacity in both layers.
        assert kept[0] < 32 and kept[1] < 64, kept
        export(switch, "switch", [x], ["x"], {}, 14, out_dir)
    if wanted("mobilenet"):
        torch.manual_seed(4)
        mobilenet = MobileNet()
        randomize_batch_norm(mobilenet)
        export(mobilenet, "mobilenet", [torch.randn(2, 3, 32, 32)], ["x"],
               {"x": {0: "batch"}, "output": {0: "batch"}}, 13, out_dir)


class ResNetBench(nn.Module):
    """The benchmarks' ResNet-style network: ResNet-18's layout (two basic
    blocks per stage) at widths 32 to 256."""

    def __init__(self, classes=100):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 7, 2, 3, bias=False),
                                  nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        stages, channels = [], 32
        for width, stride in [(32, 1), (64, 2), (128, 2), (256, 2)]:
            stages += [BasicBlock(channels, width, stride), BasicBlock(width, width, 1)]
            channels = width
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class MobileBlock(nn.Module):
    """MobileNetV2's inverted residual with any input and output widths."""

    def __init__(self, channels_in, channels_out, expand, stride):
        super().__init__()
        hidden = channels_in * expand
        self.body = nn.Sequential(
            nn.Conv2d(channels_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU6(),
            nn.Conv2d(hidden, channels_out, 1, bias=False), nn.BatchNorm2d(channels_out))
        self.residual = stride == 1 and channels_in == channels_out

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetBench(nn.Module):
    """The benchmarks' MobileNetV2-style network (depthwise convolutions)."""

    def __init__(self, classes=100):
        super().__init__()
        layers = [nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6()]
        channels = 16
        for width, stride, repeats in [(24, 2, 2), (32, 2, 3), (64, 2, 3), (96, 1, 2), (160, 2, 2)]:
            for r in range(repeats):
                layers.append(MobileBlock(channels, width, 4, stride if r == 0 else 1))
                channels = width
        layers += [nn.Conv2d(channels, 640, 1, bias=False), nn.BatchNorm2d(640), nn.ReLU6()]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(640, classes)

    def forward(self, x):
        x = self.features(x)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


CONV_BENCH = {"resnet_bench": (ResNetBench, 112), "mobilenet_bench": (MobileNetBench, 160)}


def conv_bench_model(name):
    """A benchmark network and its input; the same seed gives the same
    weights (bench/peers/torch_models.py rebuilds them)."""
    cls, size = CONV_BENCH[name]
    torch.manual_seed(0)
    model = cls()
    randomize_batch_norm(model)
    return model.eval(), torch.randn(1, 3, size, size)


def conv_bench(out_dir):
    """The benchmarks' convolutional networks at batch 1, BatchNormalization
    kept as its own node (as models exported by other frameworks have it)."""
    for name in CONV_BENCH:
        model, x = conv_bench_model(name)
        export(model, name, [x], ["x"], {}, 13, out_dir)


def bench_gpt2(layers, width, vocab, positions=128):
    """The benchmarks' GPT-2-style model; the same seed gives the same weights."""
    torch.manual_seed(0)
    return Gpt2(vocab=vocab, width=width, heads=width // 64, layers=layers,
                max_positions=positions).eval()


def gpt2_bench(out_dir, layers, width, vocab, positions=128):
    os.makedirs(out_dir, exist_ok=True)
    model = bench_gpt2(layers, width, vocab, positions)
    path = os.path.join(out_dir, "gpt2_bench.onnx")
    ids = torch.zeros(1, 128, dtype=torch.long)
    # Exports over 2 GB write one external file per tensor; the model is
    # re-saved with all weights in one file, as large models usually ship.
    with tempfile.TemporaryDirectory() as scratch:
        exported = os.path.join(scratch, "exported.onnx")
        with torch.no_grad():
            torch.onnx.export(model, (ids,), exported, input_names=["ids"],
                              output_names=["output"],
                              dynamic_axes={"ids": {0: "batch", 1: "sequence"}},
                              opset_version=17, do_constant_folding=False)
        model_proto = onnx.load(exported, load_external_data=True)
    onnx.save_model(model_proto, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="gpt2_bench.onnx.data", size_threshold=1024)
    print("%s: %d layers, width %d, %d parameters" % (
        path, layers, width, sum(p.numel() for p in model.parameters())))


def experts_bench(out_dir, groups, tokens, width, hidden, experts):
    """The benchmarks' mixture of experts: SwitchExperts at a larger size,
    for `groups` groups of `tokens` tokens (static: the capacity depends on
    them); writes experts_bench.onnx and x.npy."""
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(12)
    model = SwitchExperts(width, hidden, experts).eval()
    x = torch.randn(groups, tokens, width)
    path = os.path.join(out_dir, "experts_bench.onnx")
    with torch.no_grad():
        torch.onnx.export(model, (x,), path, input_names=["x"],
                          output_names=["output"], opset_version=14,
                          do_constant_folding=False)
    np.save(os.path.join(out_dir, "x.npy"), x.numpy())
    print("%s: %d experts, width %d, hidden %d, %d parameters" % (
        path, experts, width, hidden, sum(p.numel() for p in model.parameters())))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=here)
    parser.add_argument("--only", choices=["mlp", "gpt2", "resnet", "mobilenet", "moe", "switch"],
                        help="export just this test model")
    parser.add_argument("--gpt2-bench", metavar="DIR")
    parser.add_argument("--conv-bench", metavar="DIR",
                        help="export the benchmarks' ResNet- and MobileNet-style networks")
    parser.add_argument("--experts-bench", metavar="DIR",
                        help="export the benchmarks' mixture of experts "
                        "(--groups --tokens --width --hidden --experts)")
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--experts", type=int, default=8)
    parser.add_argument("--layers", type=int, default=48)
    parser.add_argument("--positions", type=int, default=128,
                        help="--gpt2-bench: the longest sequence")
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--vocab", type=int, default=1024)
    args = parser.parse_args()
    if args.gpt2_bench:
        gpt2_bench(args.gpt2_bench, args.layers, args.width, args.vocab,
                   args.positions)
    elif args.experts_bench:
        experts_bench(args.experts_bench, args.groups, args.tokens, args.width,
                      args.hidden, args.experts)
    elif args.conv_bench:
        conv_bench(args.conv_bench)
    else:
        small_models(args.out, args.only)


if __name__ == "__main__":
    main()
