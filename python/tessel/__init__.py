"""Tessel: compile a single-device model for a mesh of devices, and run it.

    import numpy as np
    import tessel
    from tessel import P

    exe = tessel.compile("model.onnx", input_shapes={"x": [8, 64]},
                         mesh={"x": 2, "y": 4}, auto=True)
    outputs = exe.run({"x": np.ones((8, 64), np.float32)})
    print(exe.plan["x"], exe.collectives)
    exe.save("model.tessel")
    same = tessel.load("model.tessel")

Models are ONNX files, ONNX bytes or onnx.ModelProto objects, MLIR files,
or MLIR text (compile_str). A plan maps tensor names to partition specs
spelled as JAX spells them (P("x", None)); with auto=True the cost model
chooses what the plan leaves open. Executables run on this machine's
threads, one per device. Errors raise TesselError with the compiler's
diagnostics. tessel.torch compiles torch modules.
"""

import json
import os
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np

from . import _tessel
from ._tessel import TesselError

__all__ = [
    "Collective",
    "Executable",
    "Mesh",
    "P",
    "PartitionSpec",
    "TensorInfo",
    "TesselError",
    "compile",
    "compile_str",
    "load",
]

__version__ = "0.1.0"


class Mesh:
    """A device mesh: named axes and their sizes, major to minor.

    Mesh({"x": 2, "y": 4}), Mesh(x=2, y=4) or Mesh("x=2,y=4").
    """

    def __init__(self, axes: Union[None, str, Mapping[str, int]] = None,
                 **sizes: int):
        if isinstance(axes, str):
            parsed = {}
            for part in filter(None, axes.split(",")):
                name, _, size = part.partition("=")
                if not size.strip().isdigit():
                    raise TesselError(
                        f"mesh '{axes}': '{part}' is not of the form name=size")
                parsed[name.strip()] = int(size)
            axes = parsed
        merged = dict(axes or {})
        merged.update(sizes)
        for name, size in merged.items():
            if not isinstance(name, str) or not name:
                raise TesselError(f"mesh axis names are strings, got {name!r}")
            if not isinstance(size, (int, np.integer)) or size < 1:
                raise TesselError(
                    f"mesh axis '{name}' has size {size!r}; sizes are "
                    "positive integers")
        self.axes: Dict[str, int] = {k: int(v) for k, v in merged.items()}

    @property
    def size(self) -> int:
        """The number of devices."""
        total = 1
        for size in self.axes.values():
            total *= size
        return total

    @property
    def shape(self) -> Dict[str, int]:
        return dict(self.axes)

    def __str__(self) -> str:
        return ",".join(f"{name}={size}" for name, size in self.axes.items())

    def __repr__(self) -> str:
        return f"Mesh({self.axes!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Mesh) and list(self.axes.items()) == list(
            other.axes.items())


class PartitionSpec(tuple):
    """How a tensor is split over the mesh, one entry per dimension: None
    (not split), an axis name, or a tuple of axis names (major to minor).
    P("x", None) splits rows over x; P(None, ("x", "y")) splits columns
    over both axes."""

    def __new__(cls, *entries):
        for entry in entries:
            names = entry if isinstance(entry, tuple) else (entry,)
            if entry is not None and not all(
                    isinstance(name, str) for name in names):
                raise TesselError(
                    f"a partition spec entry is None, an axis name or a "
                    f"tuple of them, got {entry!r}")
        return super().__new__(cls, entries)

    def to_json(self) -> str:
        """The plan format's form: '["x", null]'."""
        return json.dumps(
            [list(e) if isinstance(e, tuple) else e for e in self])

    @classmethod
    def from_json(cls, text: str) -> "PartitionSpec":
        entries = json.loads(text)
        return cls(*[tuple(e) if isinstance(e, list) else e
                     for e in entries])

    def __repr__(self) -> str:
        return "P(" + ", ".join(repr(e) for e in self) + ")"


P = PartitionSpec


class TensorInfo(NamedTuple):
    """An input or output of the program, as it takes or makes it."""
    name: str
    dtype: str
    shape: tuple


class Collective(NamedTuple):
    """Collectives of one kind in a step: how many, and their bytes per
    device (the largest of operand and result, summed)."""
    kind: str
    count: int
    bytes_per_device: int


Model = Union[str, "os.PathLike[str]", bytes, object]
Plan = Union[None, str, Mapping[str, Union[PartitionSpec, Sequence, str]]]


class Executable:
    """A compiled model: run it, inspect what the compiler chose, save it.

    Runs on host threads, one device per thread; one run at a time per
    Executable (two Executables may run in parallel)."""

    def __init__(self, native: "_tessel.Executable"):
        self._native = native
        self.inputs: List[TensorInfo] = [
            TensorInfo(i["name"], i["dtype"], tuple(i["shape"]))
            for i in native.inputs
        ]
        self.outputs: List[TensorInfo] = [
            TensorInfo(o["name"], o["dtype"], tuple(o["shape"]))
            for o in native.outputs
        ]

    @property
    def num_devices(self) -> int:
        return self._native.num_devices

    def run(self, inputs: Union[Mapping[str, np.ndarray],
                                Sequence[np.ndarray]]) -> Dict[str, np.ndarray]:
        """Runs one step. `inputs`: {name: array} (as onnxruntime takes
        them) or arrays in the program's input order, each of the input's
        dtype and global shape. Returns {output name: array}. C-contiguous
        arrays are read in place; outputs are written into new arrays."""
        return dict(zip((o.name for o in self.outputs),
                        self._native.run(self._ordered(inputs))))

    def step(self, inputs: Union[Mapping[str, np.ndarray],
                                 Sequence[np.ndarray]]) -> Dict[str, np.ndarray]:
        """Takes one training step (an executable compiled with loss= and
        optimizer=): `inputs` are the step's (step_inputs: the batch and
        the labels), by name or in order; the parameters and optimizer
        state stay on the devices and are updated in place. Returns the
        step's outputs ({"loss": array})."""
        if not self.state:
            raise TesselError(
                "step() trains, but no output of this executable updates a "
                "parameter or an input: compile with loss= and optimizer=")
        return dict(zip((o.name for o in self.step_outputs),
                        self._native.step(
                            self._ordered(inputs, self.step_inputs))))

    @property
    def step_inputs(self) -> List[TensorInfo]:
        """The inputs a training step takes (the optimizer state is kept
        on the devices)."""
        return [TensorInfo(i["name"], i["dtype"], tuple(i["shape"]))
                for i in self._native.step_inputs]

    @property
    def step_outputs(self) -> List[TensorInfo]:
        """The outputs a training step returns (the loss)."""
        return [TensorInfo(o["name"], o["dtype"], tuple(o["shape"]))
                for o in self._native.step_outputs]

    @property
    def state(self) -> List[TensorInfo]:
        """What the devices keep between steps: the trained parameters and
        the optimizer state (empty for a forward executable)."""
        return [TensorInfo(t["name"], t["dtype"], tuple(t["shape"]))
                for t in self._native.state]

    @property
    def steps_taken(self) -> int:
        """Steps taken, counting those of a loaded checkpoint."""
        return self._native.steps_taken

    def get_state(self, name: str) -> np.ndarray:
        """The current value of state tensor `name` (a parameter as
        trained so far, or optimizer state), whole."""
        return self._native.read_state(name)

    def set_state(self, name: str, value: np.ndarray) -> None:
        """Sets state tensor `name` on the devices."""
        self._native.write_state(name, np.asarray(value))

    def save_checkpoint(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the state and steps_taken at `path`, atomically (a
        process killed while writing leaves the previous file whole);
        tessel-run --resume reads it too."""
        self._native.save_checkpoint(os.fspath(path))

    def load_checkpoint(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Sets the state and steps_taken from a checkpoint of this
        training step (save_checkpoint, tessel-run --checkpoint)."""
        self._native.load_checkpoint(os.fspath(path))

    def save_params(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the model's parameters as trained so far: a parameter
        file the forward model runs with (tessel.load(..., params=path))."""
        self._native.save_params(os.fspath(path))

    def __call__(self, *arrays: np.ndarray):
        """Positional inputs; one output alone, several as a tuple."""
        results = self._native.run(self._ordered(list(arrays)))
        return results[0] if len(results) == 1 else tuple(results)

    def _ordered(self, inputs, specs=None) -> List[np.ndarray]:
        specs = self.inputs if specs is None else specs
        if isinstance(inputs, Mapping):
            names = [t.name for t in specs]
            unknown = [name for name in inputs if name not in names]
            if unknown:
                raise TesselError(
                    f"no input named {unknown[0]!r}; the inputs are {names}")
            missing = [name for name in names if name not in inputs]
            if missing:
                raise TesselError(f"input {missing[0]!r} is missing")
            inputs = [inputs[name] for name in names]
        arrays = []
        for info, value in zip(specs, inputs):
            array = np.asarray(value)
            if array.shape != info.shape:
                raise TesselError(
                    f"input '{info.name}' has shape {array.shape}, the "
                    f"program takes {info.shape}")
            arrays.append(array)
        if len(arrays) != len(inputs) or len(arrays) != len(specs):
            raise TesselError(
                f"the program takes {len(specs)} inputs, got {len(inputs)}")
        return arrays

    @property
    def mesh(self) -> Optional[Mesh]:
        """The mesh the plan is over (None on one device)."""
        axes = self._native.mesh()
        return Mesh(dict(axes)) if axes else None

    @property
    def plan(self) -> Dict[str, PartitionSpec]:
        """The partition spec of every named tensor (empty on one device,
        or for an executable loaded from a file)."""
        return {name: PartitionSpec.from_json(spec)
                for name, spec in self._native.plan_specs().items()}

    @property
    def plan_text(self) -> str:
        """The plan as tessel-compile --emit=plan prints it: a plan file
        that reproduces this compilation."""
        return self._native.plan_text()

    @property
    def collectives(self) -> List[Collective]:
        """The collectives of one step, per kind."""
        return [Collective(*c) for c in self._native.collectives()]

    def device_memory(self, device: int = 0) -> int:
        """Bytes `device` holds while it runs: its arena (activations and
        collective buffers), its inputs and its parameters."""
        return self._native.device_memory(device)

    def memory_estimate(self, device: int = 0) -> dict:
        """device_memory in parts, bytes: parameters, state (inputs a
        step updates), inputs, arena (temporaries), load_time (results
        computed once at load from the weights), total; and the arena's
        peak: peak_live bytes at instruction peak_instruction (tensor
        peak_at), largest_live [(tensor, bytes)] there."""
        return self._native.memory_estimate(device)

    def explain_collectives(self) -> str:
        """Each collective of a step with why the partitioner made it
        (as tessel-compile --explain-collectives prints it)."""
        return self._native.explain_collectives()

    def layout(self, tensor: str) -> str:
        """Which device holds which block of `tensor` (a plan name), drawn
        as text, with where each split came from (as tessel-compile
        --emit=layout --tensor prints it)."""
        return self._native.layout(tensor)

    def report_html(self, title: str = "model",
                    device_profile: str = "host",
                    memory_budget: Union[None, int, str] = None) -> str:
        """The plan as one self-contained HTML page (as tessel-compile
        --report writes it): mesh, layouts, a step's timeline priced by
        device_profile, the memory curve against memory_budget (default:
        the profile's memory), the collectives and why each is there."""
        if isinstance(memory_budget, str):
            memory_budget = _tessel.parse_byte_size(memory_budget)
        return self._native.report_html(title, device_profile,
                                        int(memory_budget or 0))

    @property
    def modeled_cost(self) -> Optional[dict]:
        """What the cost model said of an auto plan, or of the plan given
        with price=True (compute_seconds, communication_seconds, peak_bytes,
        runtime_bytes: the part of peak_bytes the device profile says the
        runtime itself takes, lower_bound_seconds: no plan that fits models
        below it, ...); None without auto or price."""
        return self._native.report()

    def explain(self, tensor: str) -> str:
        """How `tensor` is laid out: its partition spec over the mesh, the
        part of it each device holds (for inputs and outputs), and for a
        tensor compiled with explain=tensor, the cost of each candidate
        layout the cost model weighed."""
        plan = self.plan
        if tensor not in plan:
            known = sorted(plan)
            raise TesselError(
                f"'{tensor}' is not a tensor of the plan" +
                (f"; it has {', '.join(known[:10])}" +
                 (", ..." if len(known) > 10 else "") if known else
                 " (the executable has no plan: one device, or loaded "
                 "from a file)"))
        spec = plan[tensor]
        mesh = self.mesh
        lines = [f"'{tensor}': {spec!r} over mesh {mesh}"]
        shapes = {t.name: t.shape for t in self.inputs + self.outputs}
        if tensor in shapes and mesh is not None:
            shape = shapes[tensor]
            local, padded = [], False
            for dim, entry in zip(shape, list(spec) + [None] * len(shape)):
                names = () if entry is None else (
                    entry if isinstance(entry, tuple) else (entry,))
                parts = 1
                for name in names:
                    parts *= mesh.axes.get(name, 1)
                local.append(-(-dim // parts))
                padded = padded or dim % parts != 0
            lines.append(f"each device holds {tuple(local)} of {shape}" +
                         (" (uneven: the last parts are padded)"
                          if padded else ""))
        report = self.modeled_cost
        if report and report.get("explanation"):
            lines.append(report["explanation"].rstrip())
        return "\n".join(lines)

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the executable at `path` and its parameters at
        `path`.params (tessel-run runs it; tessel.load reads it)."""
        self._native.save(os.fspath(path))

    def __repr__(self) -> str:
        return (f"<tessel.Executable {self.num_devices} device(s), inputs "
                f"{[(t.name, t.shape) for t in self.inputs]}>")


def _plan_arguments(plan: Plan):
    """(plan text, [(tensor, spec json)]) from a plan argument."""
    if plan is None:
        return "", []
    if isinstance(plan, (str, os.PathLike)):
        text = os.fspath(plan)
        if os.path.isfile(text):
            with open(text) as f:
                return f.read(), []
        return text, []
    if not isinstance(plan, Mapping):
        raise TesselError(
            f"plan is a {{tensor: P(...)}} dict, plan text or a plan file, "
            f"got {type(plan).__name__}")
    specs = []
    for name, spec in plan.items():
        if isinstance(spec, str):
            specs.append((name, spec))
            continue
        if not isinstance(spec, PartitionSpec):
            spec = PartitionSpec(*spec)
        specs.append((name, spec.to_json()))
    return "", specs


def _compile(kind: str, data: bytes, input_shapes, mesh, plan, auto,
             auto_seconds, device_profile, memory_budget, explain,
             alternatives, threads, loss, optimizer, frozen,
             batch_norm, ring_attention, overlap_collectives,
             price) -> Executable:
    shapes = {}
    for name, dims in (input_shapes or {}).items():
        try:
            shapes[name] = [int(d) for d in dims]
        except (TypeError, ValueError):
            raise TesselError(
                f"input_shapes['{name}'] is a list of sizes, got {dims!r}")
    if mesh is None:
        mesh_text = ""
    elif isinstance(mesh, Mesh):
        mesh_text = str(mesh)
    else:
        mesh_text = str(Mesh(mesh))
    text, specs = _plan_arguments(plan)
    if isinstance(memory_budget, str):
        memory_budget = _tessel.parse_byte_size(memory_budget)
    return Executable(
        _tessel.compile(kind, data, shapes, mesh_text, text, specs,
                        bool(auto), float(auto_seconds), device_profile,
                        int(memory_budget or 0), explain or "",
                        int(alternatives or 0), int(threads), loss or "", optimizer or "",
                        list(frozen or ()), batch_norm or "eval",
                        ring_attention, int(overlap_collectives),
                        bool(price)))


def compile(model: Model,
            input_shapes: Optional[Mapping[str, Sequence[int]]] = None,
            mesh: Union[None, Mesh, Mapping[str, int], str] = None,
            plan: Plan = None,
            auto: bool = False,
            auto_seconds: float = 10.0,
            device_profile: str = "host",
            memory_budget: Union[None, int, str] = None,
            explain: Optional[str] = None,
            alternatives: int = 0,
            threads: int = 0,
            loss: Optional[str] = None,
            optimizer: Optional[str] = None,
            frozen: Sequence[str] = (),
            batch_norm: str = "eval",
            ring_attention: str = "auto",
            overlap_collectives: int = 0,
            price: bool = False) -> Executable:
    """Compiles `model` for `mesh`.

    model: a path (.onnx or .mlir), the bytes of an ONNX model, or an
      onnx.ModelProto.
    input_shapes: pins inputs' shapes ({"x": [8, 64]}), for an ONNX model's
      dynamic dimensions.
    mesh: {"x": 2, "y": 4}, Mesh(...) or "x=2,y=4"; None for one device.
    plan: {tensor: P(...)}, or a plan in protobuf text (or its file), as
      tessel-compile --plan takes it.
    auto: let the cost model choose what the plan leaves open, searching
      for at most auto_seconds, for device_profile ("host", "h100_sxm",
      "a100_sxm" or a profile file), within memory_budget bytes per device
      (an int or "40GiB").
    explain: with auto, a tensor whose candidate layouts
      Executable.explain() reports.
    alternatives: with auto, how many next-best plans modeled_cost lists
      ("alternatives": each the best under another layout of the largest
      inputs and parameters, with its "seconds", "peak_bytes" and "plan",
      the layouts of those tensors; "decisions": the best plan's).
    threads: cores the executable's kernels use in all (0: all of them).
    loss, optimizer: compile one training step instead of the forward pass,
      as tessel-compile --train takes them ("cross_entropy:logits,labels",
      "adamw:lr=1e-3,weight_decay=0.01"); `frozen` names parameters it
      leaves as they are; `batch_norm="train"` normalizes with the batch's
      statistics and updates the running ones (torch's model.train()),
      "eval" (the default) with the running ones. Executable.step() then
      trains.
    ring_attention: with an attention's sequence split, "always" passes
      keys and values around a ring of devices in blocks (each holds 1/n
      of them; a causal attention's work balanced across the ring),
      "unbalanced" the ring with every device scoring every block under
      the mask, "never" gathers them whole, "auto" gathers them unless a
      device then needs more than memory_budget (tessel-compile
      --ring-attention).
    overlap_collectives: start each collective as soon as its operand is
      ready and wait for it just before its result is read, at most this
      many in flight, the work between running meanwhile (tessel-compile
      --overlap-collectives); 0: each runs where it stands.
    price: without auto, price the plan as given (the mesh and plan as
      propagation completes them) with device_profile's cost model:
      modeled_cost then holds its modeled step and peak memory per device,
      the figures auto gives the plan it chooses (tessel-compile --price).
    """
    if isinstance(model, (bytes, bytearray, memoryview)):
        kind, data = "onnx", bytes(model)
    elif isinstance(model, (str, os.PathLike)):
        kind, data = "file", os.fsencode(model)
    elif hasattr(model, "SerializeToString"):
        kind, data = "onnx", model.SerializeToString()
    else:
        raise TesselError(
            f"model is a path, ONNX bytes or an onnx.ModelProto, got "
            f"{type(model).__name__}")
    return _compile(kind, data, input_shapes, mesh, plan, auto, auto_seconds,
                    device_profile, memory_budget, explain, alternatives,
                    threads, loss, optimizer, frozen, batch_norm,
                    ring_attention, overlap_collectives, price)


def compile_str(text: str, input_shapes=None, mesh=None, plan: Plan = None,
                auto: bool = False, auto_seconds: float = 10.0,
                device_profile: str = "host",
                memory_budget: Union[None, int, str] = None,
                explain: Optional[str] = None,
                alternatives: int = 0,
                threads: int = 0,
                loss: Optional[str] = None,
                optimizer: Optional[str] = None,
                frozen: Sequence[str] = (),
                batch_norm: str = "eval",
                ring_attention: str = "auto",
                overlap_collectives: int = 0,
                price: bool = False) -> Executable:
    """Compiles MLIR text in Tessel's dialects; the options are compile()'s."""
    return _compile("mlir", text.encode(), input_shapes, mesh, plan, auto,
                    auto_seconds, device_profile, memory_budget, explain,
                    alternatives, threads, loss, optimizer, frozen,
                    batch_norm, ring_attention, overlap_collectives, price)


def load(path: Union[str, "os.PathLike[str]"], params: Optional[str] = None,
         threads: int = 0) -> Executable:
    """Reads an executable tessel-compile or Executable.save wrote, with its
    parameter file (`params`, else the one it names, else path.params)."""
    return Executable(
        _tessel.read(os.fspath(path), os.fspath(params or ""), int(threads)))
