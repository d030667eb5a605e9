"""The `tessel` package: every entry point, bad input as exceptions, and
partitioned programs that compute what torch computed on one device."""
import os
import threading

import numpy as np
import pytest

import tessel
from tessel import P, TesselError

MODELS = os.path.join(os.environ.get("TESSEL_MODELS", "tests/models"))
MLP = os.path.join(MODELS, "mlp", "model.onnx")
X = np.load(os.path.join(MODELS, "mlp", "x.npy"))
EXPECTED = np.load(os.path.join(MODELS, "mlp", "output.npy"))
SHAPES = {"x": [4, 64]}


def expect_like_torch(executable):
    outputs = executable.run({"x": X})
    assert list(outputs) == ["output"]
    np.testing.assert_allclose(outputs["output"], EXPECTED, rtol=1e-4,
                               atol=1e-5)
    # Positional calls and arrays in input order do the same.
    np.testing.assert_allclose(executable(X), EXPECTED, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(executable.run([X])["output"], EXPECTED,
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mesh,plan,devices", [
    (None, None, 1),
    ({"x": 2}, {"x": P("x", None)}, 2),
    ("x=3", {"x": P("x", None)}, 3),  # uneven: 4 rows over 3 devices
    (tessel.Mesh(x=4), {"fc1.weight": P("x", None)}, 4),
    (tessel.Mesh({"x": 2, "y": 2}),
     {"x": P("x", None), "fc2.weight": P(None, "y")}, 4),
])
def test_plans_run_like_torch(mesh, plan, devices):
    executable = tessel.compile(MLP, input_shapes=SHAPES, mesh=mesh,
                                plan=plan)
    assert executable.num_devices == devices
    assert executable.inputs == [tessel.TensorInfo("x", "float32", (4, 64))]
    assert executable.outputs == [
        tessel.TensorInfo("output", "float32", (4, 10))]
    for name, spec in (plan or {}).items():
        assert executable.plan[name] == spec
    expect_like_torch(executable)


@pytest.mark.parametrize("mesh", [{"x": 4}, {"x": 2, "y": 2}])
def test_auto_runs_like_torch(mesh):
    executable = tessel.compile(MLP, input_shapes=SHAPES, mesh=mesh,
                                auto=True, auto_seconds=2,
                                memory_budget="1GiB", explain="x")
    cost = executable.modeled_cost
    assert cost["compute_seconds"] > 0 and cost["peak_bytes"] > 0
    step = cost["compute_seconds"] + cost["communication_seconds"]
    # The solver counts whole picoseconds per node and edge; the report
    # sums the model's seconds.
    assert 0 <= cost["lower_bound_seconds"] <= step * (1 + 1e-4)
    if cost["optimal"]:
        assert cost["lower_bound_seconds"] == pytest.approx(step, rel=1e-4)
    assert "x" in executable.plan
    assert "'x'" in executable.explain("x")
    assert executable.plan_text.startswith("mesh")
    expect_like_torch(executable)


@pytest.mark.parametrize("mesh", ["x=4", "x=3"])
def test_price_models_the_plan_given(mesh):
    batch = tessel.compile(MLP, input_shapes=SHAPES, mesh=mesh,
                           plan={"x": P("x", None)})
    assert batch.modeled_cost is None
    costs = {}
    for name, plan in [("replicated", {}), ("batch", {"x": P("x", None)}),
                       ("weight", {"fc1.weight": P("x", None)})]:
        executable = tessel.compile(MLP, input_shapes=SHAPES, mesh=mesh,
                                    plan=plan, price=True)
        cost = executable.modeled_cost
        assert cost["priced"] and cost["feasible"]
        assert cost["compute_seconds"] > 0 and cost["peak_bytes"] > 0
        assert cost["runtime_bytes"] == 0  # The host profile measures none.
        assert cost["workspace_bytes"] == 0  # Nor collective workspace.
        for tensor, spec in plan.items():
            assert executable.plan[tensor] == spec
        expect_like_torch(executable)
        costs[name] = cost
    replicated, batch, weight = (costs[name] for name in
                                 ("replicated", "batch", "weight"))
    # The batch split: each device computes and holds part of the
    # activations, and nothing is communicated in a forward pass.
    assert replicated["communication_seconds"] == 0
    assert batch["communication_seconds"] == 0
    assert batch["compute_seconds"] < replicated["compute_seconds"]
    assert batch["peak_bytes"] < replicated["peak_bytes"]
    # The largest weight split: each device holds part of it, and the
    # partial results are combined.
    assert weight["peak_bytes"] < batch["peak_bytes"]
    assert weight["communication_seconds"] > 0
    with pytest.raises(TesselError, match="price"):
        tessel.compile(MLP, input_shapes=SHAPES, mesh=mesh, auto=True,
                       price=True)


def test_auto_lists_next_best_plans():
    executable = tessel.compile(MLP, input_shapes=SHAPES, mesh={"x": 4},
                                auto=True, auto_seconds=1, alternatives=2)
    cost = executable.modeled_cost
    best = cost["compute_seconds"] + cost["communication_seconds"]
    decisions = cost["decisions"]
    assert decisions and all(name in executable.plan for name in decisions)
    assert 1 <= len(cost["alternatives"]) <= 2
    seen = [decisions]
    for alternative in cost["alternatives"]:
        assert alternative["seconds"] >= best * 0.999
        assert alternative["plan"].keys() == decisions.keys()
        assert alternative["plan"] not in seen
        seen.append(alternative["plan"])
        # Each is a plan: compiled with it, the MLP still runs like torch.
        expect_like_torch(tessel.compile(MLP, input_shapes=SHAPES,
                                         mesh={"x": 4},
                                         plan=alternative["plan"]))


def test_sources_bytes_modelproto_and_mlir():
    with open(MLP, "rb") as f:
        data = f.read()
    expect_like_torch(tessel.compile(data, input_shapes=SHAPES))
    onnx = pytest.importorskip("onnx")
    expect_like_torch(tessel.compile(onnx.load(MLP), input_shapes=SHAPES,
                                     mesh={"x": 2},
                                     plan={"x": P("x", None)}))
    with open(os.path.join(MODELS, "dot", "model.mlir")) as f:
        text = f.read()
    a = np.arange(32, dtype=np.float32).reshape(4, 8) / 7
    b = np.arange(24, dtype=np.float32).reshape(8, 3) / 5
    for mesh in (None, {"x": 2}):
        executable = tessel.compile_str(
            text, mesh=mesh, plan={"a": P("x", None)} if mesh else None)
        (result,) = executable.run([a, b]).values()
        np.testing.assert_allclose(result, a @ b, rtol=1e-5)


def test_save_and_load(tmp_path):
    executable = tessel.compile(MLP, input_shapes=SHAPES, mesh={"x": 2},
                                plan={"x": P("x", None)})
    path = tmp_path / "mlp.tessel"
    executable.save(path)
    assert (tmp_path / "mlp.tessel.params").exists()
    loaded = tessel.load(path)
    assert loaded.num_devices == 2
    assert loaded.plan == {}
    assert loaded.collectives == executable.collectives
    expect_like_torch(loaded)
    assert executable.device_memory(1) > 0


def test_collectives_of_a_split_contraction():
    # fc1's input features split over x: partial sums, all-reduced.
    executable = tessel.compile(
        MLP, input_shapes=SHAPES, mesh={"x": 2},
        plan={"x": P(None, "x"), "fc1.weight": P(None, "x")})
    kinds = {c.kind: c for c in executable.collectives}
    assert kinds, executable.collectives
    assert all(c.count > 0 and c.bytes_per_device > 0 for c in kinds.values())
    expect_like_torch(executable)
    # Why: fc1's product leaves partial sums over x that its bias add
    # needs reduced.
    why = executable.explain_collectives()
    assert "all_reduce (sum), 1 group of 2" in why, why
    assert "partial sum over x" in why, why
    # ... and where the split came from: the plan's entry for x.
    assert "is split over x: the plan's entry for tensor 'x'" in why, why
    # The layout drawn, and the same page tessel-compile --report writes.
    drawn = executable.layout("fc1.weight")
    assert "[null, \"x\"]" in drawn and "dev 0" in drawn and "dev 1" in drawn, drawn
    page = executable.report_html("mlp", memory_budget="1MiB")
    assert page.startswith("<!DOCTYPE html>") and "all_reduce" in page, page[:200]
    with pytest.raises(KeyError, match="fc1.weigh"):
        executable.layout("fc1.weigh")


def test_memory_estimate_adds_up():
    executable = tessel.compile(MLP, input_shapes=SHAPES, mesh={"x": 2},
                                plan={"x": P("x", None)})
    for device in (0, 1):
        memory = executable.memory_estimate(device)
        parts = sum(memory[k] for k in ("parameters", "state", "inputs",
                                        "arena", "load_time"))
        assert memory["total"] == parts == executable.device_memory(device)
        # The batch's half (2x64 floats), the whole weights, no state.
        assert memory["inputs"] == 2 * 64 * 4
        assert memory["parameters"] > 0 and memory["state"] == 0
        assert 0 < memory["peak_live"] <= memory["arena"]
        assert memory["largest_live"] and all(
            0 < b <= memory["peak_live"] for _, b in memory["largest_live"])
    with pytest.raises(TesselError, match="device 2 is not one of"):
        executable.memory_estimate(2)


def test_bad_input_raises(tmp_path):
    executable = tessel.compile(MLP, input_shapes=SHAPES, mesh={"x": 2},
                                plan={"x": P("x", None)})
    with pytest.raises(TesselError, match="no input named 'y'"):
        executable.run({"y": X})
    with pytest.raises(TesselError, match="input 'x' is missing"):
        executable.run({})
    with pytest.raises(TesselError, match="shape"):
        executable.run({"x": X[:3]})
    with pytest.raises(TesselError, match="must be float32"):
        executable.run({"x": X.astype(np.float64)})
    with pytest.raises(TesselError, match="takes 1 inputs"):
        executable.run([X, X])
    # Not contiguous: read through one copy, same numbers.
    wide = np.zeros((4, 128), np.float32)
    wide[:, ::2] = X
    np.testing.assert_allclose(executable.run({"x": wide[:, ::2]})["output"],
                               EXPECTED, rtol=1e-4, atol=1e-5)
    with pytest.raises(TesselError, match="not a tensor of the plan"):
        executable.explain("nonexistent")

    with pytest.raises(TesselError, match="garbage.onnx|model"):
        tessel.compile(b"not a model")
    with pytest.raises(TesselError, match="/nonexistent.onnx"):
        tessel.compile("/nonexistent.onnx")
    with pytest.raises(TesselError, match="no_such_tensor"):
        tessel.compile(MLP, input_shapes=SHAPES, mesh={"x": 2},
                       plan={"no_such_tensor": P("x")})
    with pytest.raises(TesselError, match='unknown axis "z"'):
        tessel.compile(MLP, input_shapes=SHAPES, mesh={"x": 2},
                       plan={"x": P("z", None)})
    with pytest.raises(TesselError, match="x"):  # spec rank != tensor rank
        tessel.compile(MLP, input_shapes=SHAPES, mesh={"x": 2},
                       plan={"x": P("x", None, None)})
    with pytest.raises(TesselError, match="needs a mesh"):
        tessel.compile(MLP, input_shapes=SHAPES, auto=True)
    with pytest.raises(TesselError, match="sizes are positive"):
        tessel.Mesh(x=0)
    with pytest.raises(TesselError, match="name=size"):
        tessel.Mesh("x=two")
    with pytest.raises(TesselError, match="axis name"):
        P(3)
    with pytest.raises(TesselError, match="not a size"):
        tessel.compile(MLP, input_shapes=SHAPES, mesh={"x": 2}, auto=True,
                       memory_budget="lots")
    with pytest.raises(TesselError, match="ring_attention is 'auto'"):
        tessel.compile(MLP, input_shapes=SHAPES, ring_attention="sometimes")
    with pytest.raises(TesselError, match="model is a path"):
        tessel.compile(42)
    with pytest.raises(TesselError, match="broken.mlir|error"):
        tessel.compile_str("func.func @main( {")
    with pytest.raises(TesselError):
        tessel.load(tmp_path / "missing.tessel")
    (tmp_path / "junk.tessel").write_bytes(b"junk")
    with pytest.raises(TesselError):
        tessel.load(tmp_path / "junk.tessel")


def test_two_threads_compile_and_run():
    results, errors = {}, []

    def work(index, mesh):
        try:
            executable = tessel.compile(
                MLP, input_shapes=SHAPES, mesh=mesh,
                plan={"x": P("x", None)} if mesh else None)
            for _ in range(20):
                results[index] = executable.run({"x": X})["output"]
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(0, None)),
               threading.Thread(target=work, args=(1, {"x": 2}))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
        assert not thread.is_alive(), "a thread did not finish in 300 s"
    assert not errors, errors
    for index in (0, 1):
        np.testing.assert_allclose(results[index], EXPECTED, rtol=1e-4,
                                   atol=1e-5)


def test_ring_attention_is_a_choice():
    """GPT-2 with its sequence split over 4 devices: keys and values
    gathered by default, passed around a ring with "always"; both give the
    single device's numbers (torch's)."""
    gpt2 = os.path.join(MODELS, "gpt2", "model.onnx")
    ids = np.load(os.path.join(MODELS, "gpt2", "ids.npy"))
    expected = np.load(os.path.join(MODELS, "gpt2", "output.npy"))
    kinds = {}
    for choice in ("auto", "always", "never"):
        executable = tessel.compile(gpt2, input_shapes={"ids": [2, 16]},
                                    mesh={"x": 4}, plan={"ids": P(None, "x")},
                                    ring_attention=choice)
        np.testing.assert_allclose(executable(ids), expected, rtol=1e-4,
                                   atol=1e-4)
        kinds[choice] = {c.kind for c in executable.collectives}
    assert kinds["always"] == {"collective_permute"}
    assert kinds["auto"] == kinds["never"] == {"all_gather"}
