"""tessel.torch: torch modules compiled for 1, 2 and 4 host devices give
torch's numbers; plans address parameters by their torch names."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import tessel
import tessel.torch
from tessel import P, TesselError


class Block(torch.nn.Module):
    """A transformer MLP block with a residual and a classifier head."""

    def __init__(self, width=32, hidden=96, classes=10):
        super().__init__()
        self.norm = torch.nn.LayerNorm(width)
        self.fc1 = torch.nn.Linear(width, hidden)
        self.fc2 = torch.nn.Linear(hidden, width)
        self.head = torch.nn.Linear(width, classes)

    def forward(self, tokens):
        h = self.fc2(torch.nn.functional.gelu(self.fc1(self.norm(tokens))))
        return self.head(tokens + h)


class Stack(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.ModuleList([Block(), Block(classes=32)])

    def forward(self, tokens):
        return self.blocks[1](self.blocks[0](tokens)[..., :1] + tokens)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return Block().eval()


def inputs(batch=6):
    generator = torch.Generator().manual_seed(1)
    return torch.randn(batch, 5, 32, generator=generator)


def expect_like(compiled, module, tokens):
    with torch.no_grad():
        expected = module(tokens)
    got = compiled(tokens)
    assert isinstance(got, torch.Tensor) and got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("mesh,plan,devices", [
    (None, None, 1),
    ({"x": 2}, {"tokens": P("x", None, None)}, 2),
    ({"x": 4}, {"tokens": P("x", None, None)}, 4),  # uneven: 6 over 4
    ({"x": 4}, {"fc1.weight": P("x", None), "fc2.weight": P(None, "x")}, 4),
    ({"data": 2, "model": 2},
     {"tokens": P("data", None, None), "fc1.weight": P("model", None)}, 4),
])
def test_compile_matches_torch(model, mesh, plan, devices):
    tokens = inputs()
    compiled = tessel.torch.compile(model, (tokens,), mesh=mesh, plan=plan)
    assert compiled.executable.num_devices == devices
    for name, spec in (plan or {}).items():
        assert compiled.plan[name] == spec
    expect_like(compiled, model, tokens)
    # Other values of the same shape: the same program.
    expect_like(compiled, model, inputs() * 3 - 1)


@pytest.mark.parametrize("mesh", [{"x": 2}, {"x": 2, "y": 2}])
def test_auto_matches_torch(model, mesh):
    tokens = inputs()
    compiled = tessel.torch.compile(model, (tokens,), mesh=mesh, auto=True,
                                    auto_seconds=2)
    assert compiled.executable.modeled_cost["compute_seconds"] > 0
    expect_like(compiled, model, tokens)


@pytest.mark.parametrize("mesh", [{"tp": 2}, {"tp": 4}, {"dp": 2, "tp": 2}])
def test_parallelize_module_megatron(mesh):
    torch.manual_seed(2)
    stack = Stack().eval()
    tokens = inputs(4)
    plan = {"blocks.*.fc1": tessel.torch.ColwiseParallel(),
            "blocks.*.fc2": tessel.torch.RowwiseParallel()}
    extra = {"tokens": P("dp", None, None)} if "dp" in mesh else None
    compiled = tessel.torch.parallelize_module(stack, mesh, plan, (tokens,),
                                               plan=extra)
    assert compiled.plan["blocks.0.fc1.weight"] == P("tp", None)
    assert compiled.plan["blocks.1.fc2.weight"] == P(None, "tp")
    # Row-parallel partial sums are all-reduced.
    assert any(c.kind == "all_reduce" for c in compiled.collectives), \
        compiled.collectives
    expect_like(compiled, stack, tokens)


def test_bad_input_raises(model):
    tokens = inputs()
    with pytest.raises(TesselError, match="did you mean fc1.weight"):
        tessel.torch.compile(model, (tokens,), mesh={"x": 2},
                             plan={"blocks.fc1.weight": P("x", None)})
    with pytest.raises(TesselError, match="'norm' is a LayerNorm"):
        tessel.torch.parallelize_module(
            model, {"tp": 2}, {"norm": tessel.torch.ColwiseParallel()},
            (tokens,))
    with pytest.raises(TesselError, match="names no submodule"):
        tessel.torch.parallelize_module(
            model, {"tp": 2}, {"attn": tessel.torch.ColwiseParallel()},
            (tokens,))
    with pytest.raises(TesselError, match="axis 'q'"):
        tessel.torch.parallelize_module(
            model, {"tp": 2}, {"fc1": tessel.torch.ColwiseParallel("q")},
            (tokens,))
    with pytest.raises(TesselError, match="torch.nn.Module"):
        tessel.torch.compile(lambda t: t, (tokens,))
    with pytest.raises(TesselError, match="example input 0"):
        tessel.torch.compile(model, (tokens.numpy(),))
    compiled = tessel.torch.compile(model, (tokens,))
    with pytest.raises(TesselError, match="compiled with 1 inputs"):
        compiled(tokens, tokens)
    with pytest.raises(TesselError, match="shape"):
        compiled(tokens[:2])
    with pytest.raises(TesselError, match="must be float32"):
        compiled(tokens.double())


def test_training_keeps_equal_weights_apart():
    # Fresh LayerNorms' weights are all ones: torch.onnx.export would merge
    # them into one initializer, and training would tie them. Each stays
    # its own parameter, and three SGD steps on 2 devices give torch's.
    torch.manual_seed(0)
    module = Stack()
    tokens = inputs()
    target = torch.randn(6, 5, 32, generator=torch.Generator().manual_seed(2))
    compiled = tessel.torch.compile(
        module, (tokens,), mesh={"x": 2}, plan={"tokens": P("x", None, None)},
        loss="mse:output,target", optimizer="sgd:lr=0.5")
    executable = compiled.executable
    names = [t.name for t in executable.state]
    assert "blocks.0.norm.weight" in names and "blocks.1.norm.weight" in names
    optimizer = torch.optim.SGD(module.parameters(), lr=0.5)
    for _ in range(3):
        loss = executable.step({"tokens": tokens.numpy(),
                                "target": target.numpy()})["loss"]
        expected = torch.nn.functional.mse_loss(module(tokens), target)
        optimizer.zero_grad()
        expected.backward()
        optimizer.step()
        np.testing.assert_allclose(loss, expected.item(), rtol=1e-4)
    parameters = dict(module.named_parameters())
    for name in ("blocks.0.norm.weight", "blocks.1.norm.weight",
                 "blocks.1.fc1.weight"):
        np.testing.assert_allclose(executable.get_state(name),
                                   parameters[name].detach().numpy(),
                                   rtol=1e-4, atol=1e-5)
    assert not np.array_equal(executable.get_state("blocks.0.norm.weight"),
                              executable.get_state("blocks.1.norm.weight"))
