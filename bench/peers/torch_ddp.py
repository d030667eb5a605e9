#!/usr/bin/python3
"""PyTorch's DistributedDataParallel (gloo) on the benchmark GPT-2-style
model: the peer of bench/train_step.sh.

    /usr/bin/python3 bench/peers/torch_ddp.py --processes 4 --layers 4 \
        --width 512 --vocab 4096 --batch 8 --sequence 32 --steps 6 --threads 1
        [--zero]

With --zero the optimizer is torch's ZeroRedundancyOptimizer around AdamW
(ZeRO stage 1: each process keeps and updates its share of the optimizer
state, then the parameters are broadcast), the peer of Tessel's ZeRO-1.

Each of `--processes` processes (torch.multiprocessing, gloo over
localhost) builds the same model (tests/models/generate.py's bench_gpt2,
seed 0), takes its share of the global batch, and trains with AdamW on
next-token cross entropy; rank 0 prints the time per step after the first
(as tessel-run --steps does) and its peak resident memory.
"""
import argparse
import os
import resource
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "models"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank, args, port):
    from generate import bench_gpt2
    torch.set_num_threads(args.threads)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=args.processes)
    model = bench_gpt2(args.layers, args.width, args.vocab).train()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    if args.zero:
        from torch.distributed.optim import ZeroRedundancyOptimizer
        optimizer = ZeroRedundancyOptimizer(
            ddp.parameters(), optimizer_class=torch.optim.AdamW, lr=1e-4)
    else:
        optimizer = torch.optim.AdamW(ddp.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, args.vocab, (args.batch, args.sequence),
                        generator=generator)
    labels = torch.randint(0, args.vocab, (args.batch, args.sequence),
                           generator=generator)
    share = args.batch // args.processes
    mine = slice(rank * share, (rank + 1) * share)
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        logits = ddp(ids[mine])
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels[mine].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    if rank == 0:
        later = times[1:] or times
        print("torch ddp%s: %.1f ms per step after the first (%d steps), peak "
              "memory %d MB" % (" zero" if args.zero else "",
                                1e3 * sum(later) / len(later), len(later),
                                resource.getrusage(resource.RUSAGE_SELF)
                                .ru_maxrss // 1024), flush=True)
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--sequence", type=int, default=32)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--zero", action="store_true",
                        help="ZeroRedundancyOptimizer (ZeRO-1) around AdamW")
    args = parser.parse_args()
    if args.batch % args.processes:
        sys.exit("--batch must split evenly over --processes")
    mp.spawn(worker, args=(args, free_port()), nprocs=args.processes)


if __name__ == "__main__":
    main()
