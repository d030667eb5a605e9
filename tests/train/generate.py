#!/usr/bin/python3
"""PyTorch's training steps on the test models, the reference for tests/unit/train.

    /usr/bin/python3 tests/train/generate.py

Loads tests/models/mlp's weights (model.onnx) into the same torch module,
sets each optimizer's state to random values (as after some earlier steps,
so that one step exercises all of the optimizer's formula), takes one step
on tests/models/mlp/x.npy and writes to tests/train/mlp/<config>/:

  labels.npy or target.npy       the loss's second input
  <param>.<state>.npy            the optimizer state before the step
  optimizer.step.npy             Adam's step count before the step
  expected/loss.npy              the step's loss (before the update)
  expected/<param>.npy           the parameters after the step
  expected/<param>.<state>.npy   the state after it

And to tests/train/gpt2/sgd_mse/ one SGD step of the GPT-2-style model
(tests/models/gpt2) on an MSE loss of its logits, and to adamw_lm/ one
AdamW step (from random state) on next-token cross entropy over the
vocabulary (the last dimension), with the parameters
torch.onnx.export merged (identical at export: the layer norms' ones and
zeros) tied in torch as they are in the ONNX file, and its attention mask
(a buffer, a parameter of the ONNX file) written unchanged.

And runs of 20 steps from fresh optimizer state (RUNS below): the MLP
with momentum and AdamW, GPT-2 with AdamW, ResNet in eval mode with
momentum over 5 batches the steps cycle through, the mixture of experts
(tests/models/switch) with Adam.

Needs Debian's python3-torch and python3-onnx; the outputs are committed.
"""

import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "models"))
from generate import Gpt2, Mlp, ResNet, SwitchExperts  # noqa: E402

CONFIGS = {
    # name: (loss, optimizer factory, state names per parameter)
    "sgd_mse": ("mse", lambda p: torch.optim.SGD(p, lr=0.1), []),
    "sgd_wd": ("cross_entropy",
               lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.05), []),
    "momentum": ("cross_entropy",
                 lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
                 ["momentum_buffer"]),
    "adam": ("cross_entropy", lambda p: torch.optim.Adam(p, lr=1e-3),
             ["exp_avg", "exp_avg_sq"]),
    "adamw": ("cross_entropy",
              lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01),
              ["exp_avg", "exp_avg_sq"]),
}


def tie_merged(model, weights):
    """Ties the parameters the ONNX file merged into one initializer."""
    modules = dict(model.named_modules())
    for name, parameter in list(model.named_parameters()):
        if name in weights:
            continue
        value = parameter.detach().numpy()
        survivor = next(n for n, w in weights.items()
                        if w.shape == value.shape and np.array_equal(w, value))
        owner, _, attribute = name.rpartition(".")
        survivor_owner, _, survivor_attribute = survivor.rpartition(".")
        setattr(modules[owner], attribute,
                getattr(modules[survivor_owner], survivor_attribute))


def model_from_onnx(name, model):
    """`model` with the weights of tests/models/<name>/model.onnx (the
    parameters the file merged tied), and those weights by name."""
    onnx_model = onnx.load(os.path.join(HERE, "..", "models", name,
                                        "model.onnx"))
    weights = {i.name: onnx.numpy_helper.to_array(i)
               for i in onnx_model.graph.initializer}
    state = model.state_dict()
    model.load_state_dict({k: torch.from_numpy(weights[k].copy())
                           if k in weights else v for k, v in state.items()})
    tie_merged(model, weights)
    return model, weights


def model_input(name, input_name):
    return torch.from_numpy(np.load(os.path.join(HERE, "..", "models", name,
                                                 f"{input_name}.npy")))


def output_directory(model, config):
    out = os.path.join(HERE, model, config)
    os.makedirs(os.path.join(out, "expected"), exist_ok=True)
    return out


def step_and_save(out, loss, optimizer, tensors, state_names):
    """Takes the optimizer's step on `loss` and writes to out/expected the
    loss, each of `tensors` (name: tensor) after it, their optimizer state
    `state_names`, and Adam's step count if the optimizer keeps one."""
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    expected = os.path.join(out, "expected")
    np.save(os.path.join(expected, "loss.npy"),
            loss.detach().numpy().astype(np.float32))
    steps = set()
    for name, tensor in tensors.items():
        np.save(os.path.join(expected, f"{name}.npy"),
                tensor.detach().numpy())
        state = optimizer.state.get(tensor, {})
        for s in state_names:
            if s in state:
                np.save(os.path.join(expected, f"{name}.{s}.npy"),
                        state[s].numpy())
        if "step" in state:
            steps.add(float(state["step"]))
    if steps:
        np.save(os.path.join(expected, "optimizer.step.npy"),
                np.array(steps.pop(), dtype=np.float32))


def main():
    x = model_input("mlp", "x")
    for name, (loss_kind, make, state_names) in CONFIGS.items():
        out = output_directory("mlp", name)
        generator = torch.Generator().manual_seed(len(name))
        model, _ = model_from_onnx("mlp", Mlp())
        params = dict(model.named_parameters())
        optimizer = make(list(params.values()))
        for pname, p in params.items():
            state = optimizer.state[p]
            for s in state_names:
                value = torch.randn(p.shape, generator=generator) * 0.01
                if s == "exp_avg_sq":
                    value = value.abs() * 0.1
                state[s] = value
                np.save(os.path.join(out, f"{pname}.{s}.npy"), value.numpy())
            if state_names and state_names[0] == "exp_avg":
                state["step"] = torch.tensor(3.0)
        if state_names and state_names[0] == "exp_avg":
            np.save(os.path.join(out, "optimizer.step.npy"),
                    np.array(3.0, dtype=np.float32))

        logits = model(x)
        if loss_kind == "mse":
            target = torch.randn(logits.shape, generator=generator)
            np.save(os.path.join(out, "target.npy"), target.numpy())
            loss = torch.nn.functional.mse_loss(logits, target)
        else:
            labels = torch.randint(0, logits.shape[1], (logits.shape[0],),
                                   generator=generator)
            np.save(os.path.join(out, "labels.npy"), labels.numpy())
            loss = torch.nn.functional.cross_entropy(logits, labels)
        step_and_save(out, loss, optimizer, params, state_names)


def gpt2(name):
    out = output_directory("gpt2", name)
    model, weights = model_from_onnx("gpt2", Gpt2())
    ids = model_input("gpt2", "ids")
    generator = torch.Generator().manual_seed(9)
    params = dict(model.named_parameters())
    if name == "sgd_mse":
        optimizer = torch.optim.SGD(params.values(), lr=0.1)
    else:
        # A language model's step: next-token labels, AdamW from random
        # state, the attention mask (a buffer) frozen.
        optimizer = torch.optim.AdamW(params.values(), lr=1e-3,
                                      weight_decay=0.01)
        for pname, p in params.items():
            state = optimizer.state[p]
            state["step"] = torch.tensor(3.0)
            state["exp_avg"] = torch.randn(p.shape, generator=generator) * 0.01
            state["exp_avg_sq"] = (torch.randn(p.shape, generator=generator)
                                   * 0.001).abs()
            for s in ("exp_avg", "exp_avg_sq"):
                np.save(os.path.join(out, f"{pname}.{s}.npy"),
                        state[s].numpy())
        np.save(os.path.join(out, "optimizer.step.npy"),
                np.array(3.0, dtype=np.float32))
    logits = model(ids)
    if name == "sgd_mse":
        target = torch.randn(logits.shape, generator=generator)
        np.save(os.path.join(out, "target.npy"), target.numpy())
        loss = torch.nn.functional.mse_loss(logits, target)
    else:
        labels = torch.randint(0, logits.shape[-1], ids.shape,
                               generator=generator)
        np.save(os.path.join(out, "labels.npy"), labels.numpy())
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
    # Every weight of the ONNX file: the parameters after the step, the
    # mask (a buffer) as it was.
    tensors = dict(model.named_parameters())
    tensors.update(dict(model.named_buffers()))
    step_and_save(out, loss, optimizer,
                  {w: tensors[w] for w in weights},
                  ["exp_avg", "exp_avg_sq"])


def resnet():
    """One momentum step of the ResNet-style model in eval mode (batch norm
    with its running statistics, which stay as they are), cross entropy."""
    out = output_directory("resnet", "momentum_eval")
    model, _ = model_from_onnx("resnet", ResNet())
    model.eval()
    x = model_input("resnet", "x")
    generator = torch.Generator().manual_seed(11)
    params = dict(model.named_parameters())
    optimizer = torch.optim.SGD(params.values(), lr=0.05, momentum=0.9)
    for pname, p in params.items():
        buffer = torch.randn(p.shape, generator=generator) * 0.01
        optimizer.state[p]["momentum_buffer"] = buffer
        np.save(os.path.join(out, f"{pname}.momentum_buffer.npy"),
                buffer.numpy())
    logits = model(x)
    labels = torch.randint(0, logits.shape[1], (logits.shape[0],),
                           generator=generator)
    np.save(os.path.join(out, "labels.npy"), labels.numpy())
    loss = torch.nn.functional.cross_entropy(logits, labels)
    step_and_save(out, loss, optimizer, params, ["momentum_buffer"])


# Runs of 20 steps from fresh optimizer state (tessel-run --steps,
# LoadedExecutable::step): name: (model, its input, optimizer factory, state
# names, the class dimension of the cross entropy, distinct batches (the
# steps cycle through them), eval mode, frozen weights).
RUNS = {
    ("mlp", "momentum_20"): (
        Mlp, "x", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
        ["momentum_buffer"], 1, 20, False),
    ("mlp", "adamw_20"): (
        Mlp, "x",
        lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.01),
        ["exp_avg", "exp_avg_sq"], 1, 20, False),
    # eps 1e-6: the key bias has no gradient (softmax does not see a shift
    # of every score), and at the default 1e-8 Adam makes of rounding noise
    # in it a step of about lr, different in every implementation.
    ("gpt2", "adamw_lm_20"): (
        Gpt2, "ids",
        lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01, eps=1e-6),
        ["exp_avg", "exp_avg_sq"], -1, 20, False),
    ("resnet", "momentum_eval_20"): (
        ResNet, "x", lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
        ["momentum_buffer"], 1, 5, True),
    # Training mode: batch norm with the batch's statistics, its running
    # statistics updated by every step (tessel-compile --batch-norm train).
    ("resnet", "momentum_train_20"): (
        ResNet, "x", lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
        ["momentum_buffer"], 1, 5, False),
    # Mixture of experts (top-1 then top-2 routing with tokens dropped at
    # capacity): the routing is learned through the gates, cross entropy
    # over the output's features.
    ("switch", "adam_20"): (
        SwitchExperts, "x", lambda p: torch.optim.Adam(p, lr=1e-2),
        ["exp_avg", "exp_avg_sq"], -1, 20, False),
}

STEPS = 20


def run(model_name, name):
    """Trains `model_name` STEPS steps and writes to
    tests/train/<model>/<name>/: <input>.npy and labels.npy (a batch per
    step along a leading dimension, or fewer batches the steps cycle
    through), expected/losses.npy (the loss of every step, before its
    update), expected/<weight>.npy (every weight of the ONNX file after the
    last step), expected/<param>.<state>.npy (the optimizer state), and
    <input>0.npy and expected/output.npy (the first batch, and the trained
    model's output on it)."""
    make_model, input_name, make, state_names, class_dim, batches, eval_mode = (
        RUNS[(model_name, name)])
    out = output_directory(model_name, name)
    model, weights = model_from_onnx(model_name, make_model())
    if eval_mode:
        model.eval()
    generator = torch.Generator().manual_seed(20)
    one = model_input(model_name, input_name)
    if one.dtype == torch.int64:
        vocab = model.wte.weight.shape[0]
        inputs = torch.randint(0, vocab, (batches,) + tuple(one.shape),
                               generator=generator)
    else:
        inputs = torch.randn((batches,) + tuple(one.shape),
                             generator=generator)
    training = model.training
    model.eval()  # Not a step: the running statistics stay.
    with torch.no_grad():
        logits_shape = model(one).shape
    model.train(training)
    label_shape = (logits_shape[:-1] if class_dim == -1
                   else logits_shape[:1])
    labels = torch.randint(0, logits_shape[class_dim],
                           (batches,) + tuple(label_shape),
                           generator=generator)
    np.save(os.path.join(out, f"{input_name}.npy"), inputs.numpy())
    np.save(os.path.join(out, "labels.npy"), labels.numpy())
    params = dict(model.named_parameters())
    optimizer = make(list(params.values()))
    losses = []
    for step in range(STEPS):
        logits = model(inputs[step % batches])
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]) if class_dim == -1
            else logits,
            labels[step % batches].reshape(-1) if class_dim == -1
            else labels[step % batches])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    expected = os.path.join(out, "expected")
    np.save(os.path.join(expected, "losses.npy"),
            np.array(losses, dtype=np.float32))
    # The trained model's output on the first batch (the forward model run
    # with the parameters tessel-run --save-params writes).
    np.save(os.path.join(out, f"{input_name}0.npy"), inputs[0].numpy())
    model.eval()  # Inference: the running statistics, left as they are.
    with torch.no_grad():
        np.save(os.path.join(expected, "output.npy"), model(inputs[0]).numpy())
    tensors = dict(model.named_parameters())
    tensors.update(dict(model.named_buffers()))
    for w in weights:
        np.save(os.path.join(expected, f"{w}.npy"), tensors[w].detach().numpy())
        state = optimizer.state.get(tensors[w], {})
        for s in state_names:
            if s in state:
                np.save(os.path.join(expected, f"{w}.{s}.npy"),
                        state[s].numpy())


if __name__ == "__main__":
    main()
    gpt2("sgd_mse")
    gpt2("adamw_lm")
    resnet()
    for model_name, name in RUNS:
        run(model_name, name)
