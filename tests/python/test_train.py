"""Training through the `tessel` package: compile with a loss and an
optimizer, step with the state on the devices, checkpoints and trained
parameters, against PyTorch's 20 steps (tests/train/generate.py)."""
import os

import numpy as np
import pytest

import tessel
from tessel import P, TesselError

MODELS = os.environ.get("TESSEL_MODELS", "tests/models")
MLP = os.path.join(MODELS, "mlp", "model.onnx")
RUN = os.path.join(os.path.dirname(MODELS), "train", "mlp", "adamw_20")
X = np.load(os.path.join(RUN, "x.npy"))
LABELS = np.load(os.path.join(RUN, "labels.npy"))


def load_expected(name):
    return np.load(os.path.join(RUN, "expected", f"{name}.npy"))


def compile_step(mesh=None, plan=None, overlap_collectives=0):
    return tessel.compile(MLP, input_shapes={"x": [4, 64]}, mesh=mesh,
                          plan=plan, loss="cross_entropy:output,labels",
                          optimizer="adamw:lr=1e-2,weight_decay=0.01",
                          overlap_collectives=overlap_collectives)


def train(executable, first, last):
    return [float(executable.step({"x": X[i], "labels": LABELS[i]})["loss"])
            for i in range(first, last)]


@pytest.mark.parametrize("mesh,plan", [
    (None, None),
    ({"x": 2}, {"x": P("x", None)}),
    ("x=3", {"x": P("x", None)}),  # uneven: 4 rows over 3 devices
    ({"x": 2, "y": 2}, {"x": P("x", None), "fc1.weight": P("y", None)}),
])
def test_twenty_steps_like_torch(mesh, plan):
    executable = compile_step(mesh, plan)
    assert executable.step_inputs == [
        tessel.TensorInfo("x", "float32", (4, 64)),
        tessel.TensorInfo("labels", "int64", (4,))]
    assert executable.step_outputs == [
        tessel.TensorInfo("loss", "float32", ())]
    names = [t.name for t in executable.state]
    assert "fc1.weight" in names and "fc1.weight.exp_avg_sq" in names
    losses = train(executable, 0, 20)
    assert executable.steps_taken == 20
    np.testing.assert_allclose(losses, load_expected("losses"), rtol=1e-4)
    for name in ("fc1.weight", "fc3.bias", "fc2.weight.exp_avg"):
        expected = load_expected(name)
        np.testing.assert_allclose(executable.get_state(name), expected,
                                   rtol=1e-3,
                                   atol=3e-3 * np.abs(expected).max())


@pytest.mark.parametrize("mesh,plan", [
    ({"x": 2}, {"x": P("x", None)}),
    ({"x": 2, "y": 2}, {"x": P("x", None), "fc1.weight": P("y", None)}),
])
def test_overlapped_collectives_change_no_number(mesh, plan):
    """The gradient all-reduces overlapped with the backward pass: the
    same losses, to the bit, as run in line, and torch's."""
    inline = train(compile_step(mesh, plan), 0, 20)
    overlapped = train(compile_step(mesh, plan, overlap_collectives=2), 0, 20)
    assert overlapped == inline
    np.testing.assert_allclose(overlapped, load_expected("losses"), rtol=1e-4)
    with pytest.raises(TesselError, match="must be 0 or more"):
        compile_step(mesh, plan, overlap_collectives=-1)


def test_checkpoint_resumes_bit_identically(tmp_path):
    plan = {"x": P("x", None)}
    whole = compile_step({"x": 2}, plan)
    train(whole, 0, 20)
    halves = compile_step({"x": 2}, plan)
    train(halves, 0, 10)
    halves.save_checkpoint(tmp_path / "ten.ckpt")
    resumed = compile_step({"x": 2}, plan)
    resumed.load_checkpoint(tmp_path / "ten.ckpt")
    assert resumed.steps_taken == 10
    train(resumed, 10, 20)
    for state in whole.state:
        assert np.array_equal(resumed.get_state(state.name),
                              whole.get_state(state.name)), state.name

    # The trained parameters, as the forward model takes them.
    whole.save_params(tmp_path / "trained.params")
    forward = tessel.compile(MLP, input_shapes={"x": [4, 64]})
    forward.save(tmp_path / "forward.tessel")
    trained = tessel.load(tmp_path / "forward.tessel",
                          params=tmp_path / "trained.params")
    np.testing.assert_allclose(trained(np.load(os.path.join(RUN, "x0.npy"))),
                               load_expected("output"), rtol=1e-3, atol=1e-4)


def test_zero_stages_shrink_device_memory():
    # Each ZeRO stage splits more over the batch axis: the optimizer state,
    # then the gradients, then the parameters. (ZeRO-2 holds no less than
    # ZeRO-1 where the peak is the updated parameters' all-gather, after
    # every gradient is reduce-scattered: as on this MLP.)
    memory = []
    for stage in range(4):
        plan = ('mesh { axes { name: "x" size: 4 } }\n'
                'tensors { name: "x" spec: \'["x", null]\' }\n')
        if stage:
            plan += f'zero {{ stage: {stage} axis: "x" }}\n'
        executable = compile_step(plan=plan)
        memory.append(executable.device_memory(0))
        losses = train(executable, 0, 3)
        np.testing.assert_allclose(losses, load_expected("losses")[:3],
                                   rtol=1e-4)
    assert memory[0] > memory[1] >= memory[2] > memory[3], memory


def test_state_can_be_set():
    executable = compile_step()
    zeros = np.zeros((128, 64), np.float32)
    executable.set_state("fc1.weight", zeros)
    assert np.array_equal(executable.get_state("fc1.weight"), zeros)


def test_bad_training_use_raises(tmp_path):
    forward = tessel.compile(MLP, input_shapes={"x": [4, 64]})
    with pytest.raises(TesselError, match="step\\(\\) trains"):
        forward.step({"x": X[0]})
    executable = compile_step()
    with pytest.raises(TesselError, match="input 'labels' is missing"):
        executable.step({"x": X[0]})
    with pytest.raises(TesselError, match="'fc9.weight' is no state"):
        executable.get_state("fc9.weight")
    with pytest.raises(TesselError, match="no such|cannot open"):
        executable.load_checkpoint(tmp_path / "missing.ckpt")
    with pytest.raises(TesselError, match="needs a learning rate"):
        tessel.compile(MLP, input_shapes={"x": [4, 64]},
                       loss="cross_entropy:output,labels", optimizer="sgd")
