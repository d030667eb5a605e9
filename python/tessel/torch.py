"""PyTorch entry points: compile a torch.nn.Module for a mesh of devices.

    import torch, tessel.torch
    from tessel import P

    model = MyModel().eval()
    x = torch.randn(8, 64)
    fast = tessel.torch.compile(model, (x,), mesh={"x": 4},
                                plan={"fc1.weight": P("x", None)})
    y = fast(x)                       # a torch tensor, as model(x) is

    tp = tessel.torch.parallelize_module(
        model, {"tp": 4}, {"fc1": tessel.torch.ColwiseParallel(),
                           "fc2": tessel.torch.RowwiseParallel()}, (x,))

The module is exported with torch.onnx.export (Debian's torch 1.13 has no
torch.compile) without constant folding, so that its parameters keep their
names ("blocks.0.attn.qkv.weight") and a plan can address them. Export and
compilation are separate steps (export_onnx, then tessel.compile): a
torch.compile backend would hand its GraphModule to the same two steps.
"""

import fnmatch
import inspect
import io
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

import tessel
from tessel import Mesh, P, PartitionSpec, TesselError

__all__ = [
    "ColwiseParallel",
    "CompiledModule",
    "RowwiseParallel",
    "compile",
    "export_onnx",
    "parallelize_module",
    "tensor_parallel_plan",
]


def _input_names(module: torch.nn.Module, count: int):
    """The names of forward's first `count` parameters (input0... for
    *args)."""
    try:
        parameters = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    names = [p.name for p in parameters
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(names) < count:
        return [f"input{i}" for i in range(count)]
    return names[:count]


def export_onnx(module: torch.nn.Module,
                example_inputs: Sequence[torch.Tensor],
                opset_version: int = 17) -> Tuple[bytes, list]:
    """The module as ONNX bytes, and its input names (forward's parameter
    names). Parameters keep their torch names, each its own initializer
    (equal weights are not merged, so that training keeps them apart); the
    first output is called "output" (what a loss names)."""
    if not isinstance(module, torch.nn.Module):
        raise TesselError(
            f"expected a torch.nn.Module, got {type(module).__name__}")
    example_inputs = tuple(example_inputs)
    for i, value in enumerate(example_inputs):
        if not isinstance(value, torch.Tensor):
            raise TesselError(
                f"example input {i} is a {type(value).__name__}; inputs are "
                "torch tensors")
    names = _input_names(module, len(example_inputs))
    buffer = io.BytesIO()
    # torch.onnx.export merges weights of equal value into one initializer
    # (two LayerNorms' weights, all ones when fresh), which would tie them
    # for training. Exported with distinct stand-in values, every weight
    # keeps its own initializer; the true values are put back after.
    tensors = dict(module.named_parameters())
    tensors.update(module.named_buffers())
    originals = {name: t.detach().clone() for name, t in tensors.items()}
    generator = torch.Generator().manual_seed(0)
    try:
        with torch.no_grad():
            for t in tensors.values():
                if t.is_floating_point():
                    t.copy_(torch.rand(t.shape, generator=generator,
                                       dtype=t.dtype) + 0.5)
            torch.onnx.export(module, example_inputs, buffer,
                              input_names=names, output_names=["output"],
                              opset_version=opset_version,
                              do_constant_folding=False)
    except Exception as error:  # torch's exporter raises many kinds
        raise TesselError(f"torch.onnx.export failed: {error}") from error
    finally:
        with torch.no_grad():
            for name, t in tensors.items():
                t.copy_(originals[name])
    return _with_values(buffer.getvalue(), originals), names


def _with_values(onnx_bytes: bytes, values: Mapping[str, torch.Tensor]):
    """The ONNX model with each initializer named as a tensor of `values`
    holding that tensor's data."""
    import onnx
    import onnx.numpy_helper
    model = onnx.load_from_string(onnx_bytes)
    for initializer in model.graph.initializer:
        value = values.get(initializer.name)
        if value is not None:
            initializer.CopyFrom(onnx.numpy_helper.from_array(
                value.cpu().numpy(), initializer.name))
    return model.SerializeToString()


class CompiledModule:
    """A module compiled by Tessel: call it with torch tensors as the module
    is called (the example inputs' shapes and dtypes); returns torch
    tensors. `executable` is the tessel.Executable under it."""

    def __init__(self, executable: "tessel.Executable", input_names):
        self.executable = executable
        self.input_names = list(input_names)

    def __call__(self, *inputs: torch.Tensor):
        if len(inputs) != len(self.input_names):
            raise TesselError(
                f"the module was compiled with {len(self.input_names)} "
                f"inputs ({', '.join(self.input_names)}), got {len(inputs)}")
        arrays = []
        for name, value in zip(self.input_names, inputs):
            if not isinstance(value, torch.Tensor):
                raise TesselError(
                    f"input '{name}' is a {type(value).__name__}, not a "
                    "torch tensor")
            # CPU tensors share their memory with the array; no torch op
            # runs (one would wake torch's own thread pool).
            if value.device.type != "cpu":
                value = value.cpu()
            arrays.append(value.detach().numpy() if value.requires_grad
                          else value.numpy())
        results = self.executable._native.run(self.executable._ordered(arrays))
        outputs = tuple(torch.from_numpy(r) for r in results)
        return outputs[0] if len(outputs) == 1 else outputs

    @property
    def plan(self) -> Dict[str, PartitionSpec]:
        return self.executable.plan

    @property
    def collectives(self):
        return self.executable.collectives


def compile(module: torch.nn.Module,
            example_inputs: Sequence[torch.Tensor],
            mesh: Union[None, Mesh, Mapping[str, int], str] = None,
            plan: Optional[Mapping[str, PartitionSpec]] = None,
            auto: bool = False,
            **options) -> CompiledModule:
    """Exports `module` on `example_inputs` and compiles it for `mesh`.

    plan: {name: P(...)} where a name is a parameter's
      ("blocks.0.attn.qkv.weight", in torch's layout: a Linear weight is
      (out_features, in_features)) or an input's (forward's parameter
      names). auto and the other options are tessel.compile's.
    """
    onnx_bytes, names = export_onnx(module, example_inputs)
    if plan is not None and isinstance(plan, Mapping):
        _check_plan_names(module, names, plan)
    shapes = {name: list(value.shape)
              for name, value in zip(names, example_inputs)}
    executable = tessel.compile(onnx_bytes, input_shapes=shapes, mesh=mesh,
                                plan=plan, auto=auto, **options)
    return CompiledModule(executable, names)


def _check_plan_names(module, input_names, plan):
    known = set(input_names) | {n for n, _ in module.named_parameters()} | {
        n for n, _ in module.named_buffers()}
    for name in plan:
        if ":" not in name and name not in known:
            close = [k for k in sorted(known)
                     if name.split(".")[-1] == k.split(".")[-1]][:5]
            raise TesselError(
                f"the plan names '{name}', which is no parameter, buffer or "
                f"input of the module" +
                (f" (did you mean {', '.join(close)}?)" if close else ""))


class ColwiseParallel:
    """A Linear layer split by output features (Megatron's first matmul):
    weight P(axis, None), bias P(axis). axis=None: the mesh's last axis."""

    def __init__(self, axis: Optional[str] = None):
        self.axis = axis

    def specs(self, axis: str):
        return {"weight": P(axis, None), "bias": P(axis)}


class RowwiseParallel:
    """A Linear layer split by input features (Megatron's second matmul,
    whose partial sums are all-reduced): weight P(None, axis), bias
    whole. axis=None: the mesh's last axis."""

    def __init__(self, axis: Optional[str] = None):
        self.axis = axis

    def specs(self, axis: str):
        return {"weight": P(None, axis), "bias": P(None)}


def tensor_parallel_plan(module: torch.nn.Module,
                         mesh: Union[Mesh, Mapping[str, int], str],
                         parallelize_plan: Mapping[str, Union[
                             ColwiseParallel, RowwiseParallel]]
                         ) -> Dict[str, PartitionSpec]:
    """The plan {parameter name: P(...)} that `parallelize_plan` means:
    module-name patterns (fnmatch: "blocks.*.mlp.fc1") to a style."""
    mesh = mesh if isinstance(mesh, Mesh) else Mesh(mesh)
    if not mesh.axes:
        raise TesselError("parallelize_module needs a mesh with an axis")
    modules = dict(module.named_modules())
    plan: Dict[str, PartitionSpec] = {}
    for pattern, style in parallelize_plan.items():
        if not isinstance(style, (ColwiseParallel, RowwiseParallel)):
            raise TesselError(
                f"'{pattern}': the style is ColwiseParallel() or "
                f"RowwiseParallel(), got {type(style).__name__}")
        axis = style.axis or list(mesh.axes)[-1]
        if axis not in mesh.axes:
            raise TesselError(
                f"'{pattern}': axis '{axis}' is not an axis of mesh {mesh}")
        matched = [name for name in modules if name and
                   fnmatch.fnmatchcase(name, pattern)]
        if not matched:
            raise TesselError(
                f"'{pattern}' names no submodule; the module has "
                f"{', '.join(list(n for n in modules if n)[:10])}")
        for name in matched:
            layer = modules[name]
            if not isinstance(layer, torch.nn.Linear):
                raise TesselError(
                    f"'{name}' is a {type(layer).__name__}; "
                    f"{type(style).__name__} splits torch.nn.Linear layers")
            for parameter, spec in style.specs(axis).items():
                if getattr(layer, parameter, None) is not None:
                    plan[f"{name}.{parameter}"] = spec
    return plan


def parallelize_module(module: torch.nn.Module,
                       mesh: Union[Mesh, Mapping[str, int], str],
                       parallelize_plan: Mapping[str, Union[
                           ColwiseParallel, RowwiseParallel]],
                       example_inputs: Sequence[torch.Tensor],
                       plan: Optional[Mapping[str, PartitionSpec]] = None,
                       **options) -> CompiledModule:
    """Megatron-style tensor parallelism as torch's parallelize_module
    spells it, compiled by Tessel: Linear layers matched by name pattern
    split column- or row-wise over an axis of `mesh`; `plan` adds specs
    (inputs split over a data axis, say); auto=True lets the cost model
    choose the rest."""
    specs = tensor_parallel_plan(module, mesh, parallelize_plan)
    specs.update(plan or {})
    return compile(module, example_inputs, mesh=mesh, plan=specs, **options)
