#!/usr/bin/env python3
"""Writes the graph of a GPT-style forward pass as MLIR (graph dialect),
weights as named arguments, for planning benchmarks on models too large to
export or hold: only shapes matter to auto-sharding.

    bench/gpt_graph.py --layers 24 --hidden 2048 --heads 32 --seq 1024 \\
        --batch 8 --vocab 51200 > gpt.mlir

Weights are named as tests/models/generate.py's GPT-2 names them
(blocks.<l>.attn.qkv.weight, ...), [out, in] like torch.nn.Linear, so that
the same Megatron plan applies.
"""
import argparse


def main():
    p = argparse.ArgumentParser()
    for name, default in [("layers", 24), ("hidden", 2048), ("heads", 32),
                          ("seq", 1024), ("batch", 8), ("vocab", 51200)]:
        p.add_argument("--" + name, type=int, default=default)
    a = p.parse_args()
    b, s, h, n, v = a.batch, a.seq, a.hidden, a.heads, a.vocab
    d = h // n
    args, body = [], []
    counter = [0]

    def t(*dims):
        return "tensor<%sxf32>" % "x".join(str(x) for x in dims)

    def arg(name, *dims):
        args.append('%%%s: %s {graph.name = "%s"}' % (
            name.replace(".", "_"), t(*dims), name))
        return "%" + name.replace(".", "_")

    def op(text):
        counter[0] += 1
        value = "%%v%d" % counter[0]
        body.append("  %s = %s" % (value, text))
        return value

    def linear(x, in_dims, w, out):
        # x [..., in] . w[out, in]^T -> [..., out]
        rank = len(in_dims)
        return op("graph.dot_general %s, %s, batching_dims = [] x [], "
                  "contracting_dims = [%d] x [1] : (%s, %s) -> %s" % (
                      x, w, rank - 1, t(*in_dims), t(out, in_dims[-1]),
                      t(*(in_dims[:-1] + [out]))))

    def layer_norm(x, g, beta):
        return op("graph.layer_norm %s, %s, %s {axis = 2, epsilon = 1.0e-5 "
                  ": f64} : (%s, %s, %s) -> %s" % (
                      x, g, beta, t(b, s, h), t(h), t(h), t(b, s, h)))

    x = arg("hidden_in", b, s, h)
    for l in range(a.layers):
        pre = "blocks.%d." % l
        y = layer_norm(x, arg(pre + "ln1.weight", h), arg(pre + "ln1.bias", h))
        qkv = linear(y, [b, s, h], arg(pre + "attn.qkv.weight", 3 * h, h), 3 * h)
        heads = op("graph.reshape %s : (%s) -> %s" % (
            qkv, t(b, s, 3 * h), t(b, s, 3, n, d)))
        perm = op("graph.transpose %s, perm = [2, 0, 3, 1, 4] : (%s) -> %s" % (
            heads, t(b, s, 3, n, d), t(3, b, n, s, d)))
        parts = []
        for k in range(3):
            sl = op("graph.slice %s [%d:%d, 0:%d, 0:%d, 0:%d, 0:%d] : (%s) -> %s"
                    % (perm, k, k + 1, b, n, s, d, t(3, b, n, s, d),
                       t(1, b, n, s, d)))
            parts.append(op("graph.reshape %s : (%s) -> %s" % (
                sl, t(1, b, n, s, d), t(b, n, s, d))))
        q, kk, vv = parts
        scores = op("graph.dot_general %s, %s, batching_dims = [0, 1] x [0, 1], "
                    "contracting_dims = [3] x [3] : (%s, %s) -> %s" % (
                        q, kk, t(b, n, s, d), t(b, n, s, d), t(b, n, s, s)))
        probs = op("graph.softmax %s, dim = 3 : %s" % (scores, t(b, n, s, s)))
        ctx = op("graph.dot_general %s, %s, batching_dims = [0, 1] x [0, 1], "
                 "contracting_dims = [3] x [2] : (%s, %s) -> %s" % (
                     probs, vv, t(b, n, s, s), t(b, n, s, d), t(b, n, s, d)))
        back = op("graph.transpose %s, perm = [0, 2, 1, 3] : (%s) -> %s" % (
            ctx, t(b, n, s, d), t(b, s, n, d)))
        merged = op("graph.reshape %s : (%s) -> %s" % (
            back, t(b, s, n, d), t(b, s, h)))
        attn = linear(merged, [b, s, h], arg(pre + "attn.proj.weight", h, h), h)
        x = op("graph.add %s, %s : %s" % (x, attn, t(b, s, h)))
        y = layer_norm(x, arg(pre + "ln2.weight", h), arg(pre + "ln2.bias", h))
        up = linear(y, [b, s, h], arg(pre + "fc.weight", 4 * h, h), 4 * h)
        act = op("graph.tanh %s : %s" % (up, t(b, s, 4 * h)))
        down = linear(act, [b, s, 4 * h], arg(pre + "out.weight", h, 4 * h), h)
        x = op("graph.add %s, %s : %s" % (x, down, t(b, s, h)))
    logits = linear(x, [b, s, h], arg("lm_head.weight", v, h), v)
    print("func.func @main(%s) -> (%s {graph.name = \"output\"}) {" % (
        ", ".join(args), t(b, s, v)))
    print("\n".join(body))
    print("  return %s : %s" % (logits, t(b, s, v)))
    print("}")


if __name__ == "__main__":
    main()
