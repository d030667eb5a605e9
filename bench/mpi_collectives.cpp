//===- mpi_collectives.cpp - MPI collectives vs Open MPI and the host -----===//
//
//   mpirun -np 2 mpi_collectives [--sizes 4k,64k,1m,16m,64m] [--runs 5]
//   (bench/mpi_collectives.sh)
//
// On the ranks mpirun starts, for each size per rank (--sizes, default
// 4 KiB to 64 MiB; --mib N for one) and each collective (all_reduce,
// reduce_scatter, all_gather, all_to_all, collective_permute as a ring
// shift), the time per call of:
// Tessel's MpiGroup (trusting shapes, as the MPI backend's groups do);
// the engine under it, Open MPI's own call on the same bytes, the faster
// of blocking and non-blocking (MPI_Wait); and, on rank 0, the host
// backend's collectives among as many threads in one process. Rank 0
// prints the three times and the ratios Tessel / Open MPI and Tessel /
// host. Small sizes repeat the call within a run to fill 1 MiB.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/host/Collectives.h"
#include "runtime/mpi/MpiCollectives.h"

namespace {

using tessel::CollectiveBuffer;
using tessel::Reduction;

double median(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

/// Median over `runs` of the slowest rank's time of `body`.
double timeOnRanks(int runs, const std::function<void()> &body) {
  std::vector<double> samples;
  for (int run = 0; run < runs + 1; ++run) {
    MPI_Barrier(MPI_COMM_WORLD);
    auto begin = std::chrono::steady_clock::now();
    body();
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin)
            .count();
    double slowest = 0;
    MPI_Allreduce(&seconds, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (run > 0)
      samples.push_back(slowest);
  }
  return median(samples);
}

/// The same on `g` threads of this process, with a host group.
double
timeOnThreads(int g, int runs,
              const std::function<void(tessel::HostGroup &, int)> &body) {
  std::vector<double> samples;
  for (int run = 0; run < runs + 1; ++run) {
    tessel::HostGroup group(g);
    auto begin = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int r = 0; r < g; ++r)
      threads.emplace_back([&, r] { body(group, r); });
    for (std::thread &thread : threads)
      thread.join();
    if (run > 0)
      samples.push_back(std::chrono::duration<double>(
                            std::chrono::steady_clock::now() - begin)
                            .count());
  }
  return median(samples);
}

/// "4k", "16m": bytes.
int64_t parseSize(const std::string &text) {
  int64_t value = std::stoll(text);
  char unit = text.empty() ? ' ' : text.back();
  return value << (unit == 'k' || unit == 'K'   ? 10
                   : unit == 'm' || unit == 'M' ? 20
                                                : 0);
}

std::string sizeName(int64_t bytes) {
  return bytes >= (1 << 20) ? std::to_string(bytes >> 20) + " MiB"
                            : std::to_string(bytes >> 10) + " KiB";
}

} // namespace

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, g;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g);
  std::vector<int64_t> sizes;
  int runs = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--sizes") {
      std::string list = argv[i + 1];
      for (size_t at = 0; at < list.size();) {
        size_t comma = list.find(',', at);
        sizes.push_back(parseSize(list.substr(at, comma - at)));
        at = comma == std::string::npos ? list.size() : comma + 1;
      }
    } else if (flag == "--mib") {
      sizes = {std::stoll(argv[i + 1]) << 20};
    } else if (flag == "--runs") {
      runs = std::stoi(argv[i + 1]);
    }
  }
  if (sizes.empty())
    sizes = {4 << 10, 64 << 10, 1 << 20, 16 << 20, 64 << 20};
  std::vector<int> members(g);
  for (int r = 0; r < g; ++r)
    members[r] = r;
  std::unique_ptr<tessel::MpiGroup> group = *tessel::MpiGroup::create(members);
  group->trustShapes(); // As the MPI backend's groups are (same program).
  if (rank == 0) {
    std::printf("%d ranks; f32 per rank; median of %d runs (small sizes: "
                "each run repeats the call to fill 1 MiB)\n",
                g, runs);
    std::printf("%-8s %-16s %10s %12s %12s %10s %9s\n", "size", "collective",
                "tessel ms", "open mpi ms", "tessel/ompi", "host ms",
                "tessel/host");
  }
  for (int64_t size : sizes) {
    int64_t count = std::max<int64_t>(size / 4 / g * g, g);
    int reps = static_cast<int>(std::max<int64_t>(1, (1 << 20) / (count * 4)));
    std::vector<float> in(count, 1.0f), out(count), big(count * g);
    auto buffer = [](std::vector<float> &data, int64_t n) {
      return CollectiveBuffer{tessel::proto::F32, {n}, data.data()};
    };
    std::vector<std::vector<float>> hostIn(g, std::vector<float>(count, 1.0f)),
        hostOut(g, std::vector<float>(count)),
        hostBig(g, std::vector<float>(count * g));
    auto repeated = [&](const std::function<void()> &body) {
      return [&, body] {
        for (int i = 0; i < reps; ++i)
          body();
      };
    };
    // Tessel's MPI group, Open MPI's own call on the same bytes (the faster
    // of blocking and non-blocking, waited for with MPI_Wait), and the host
    // backend's threads; per call.
    auto row = [&](const char *name, const std::function<void()> &tessel,
                   const std::function<void()> &blocking,
                   const std::function<void(MPI_Request *)> &start,
                   const std::function<void(tessel::HostGroup &, int)> &host) {
      double ours = timeOnRanks(runs, repeated(tessel)) / reps;
      double engine =
          std::min(timeOnRanks(runs, repeated(blocking)),
                   timeOnRanks(runs, repeated([&] {
                                 MPI_Request request;
                                 start(&request);
                                 MPI_Wait(&request, MPI_STATUS_IGNORE);
                               }))) /
          reps;
      double threads = rank == 0
                           ? timeOnThreads(g, runs,
                                           [&](tessel::HostGroup &h, int r) {
                                             for (int i = 0; i < reps; ++i)
                                               host(h, r);
                                           }) /
                                 reps
                           : 0;
      if (rank == 0)
        std::printf("%-8s %-16s %10.3f %12.3f %12.2f %10.3f %9.2f\n",
                    sizeName(size).c_str(), name, ours * 1e3, engine * 1e3,
                    ours / engine, threads * 1e3, ours / threads);
    };
    int n = static_cast<int>(count);
    row(
        "all_reduce",
        [&] {
          (void)group->allReduce(Reduction::Sum, buffer(in, count),
                                 buffer(out, count));
        },
        [&] {
          MPI_Allreduce(in.data(), out.data(), n, MPI_FLOAT, MPI_SUM,
                        MPI_COMM_WORLD);
        },
        [&](MPI_Request *request) {
          MPI_Iallreduce(in.data(), out.data(), n, MPI_FLOAT, MPI_SUM,
                         MPI_COMM_WORLD, request);
        },
        [&](tessel::HostGroup &h, int r) {
          (void)h.allReduce(r, Reduction::Sum, buffer(hostIn[r], count),
                            buffer(hostOut[r], count));
        });
    row(
        "reduce_scatter",
        [&] {
          (void)group->reduceScatter(Reduction::Sum, 0, buffer(in, count),
                                     buffer(out, count / g));
        },
        [&] {
          MPI_Reduce_scatter_block(in.data(), out.data(), n / g, MPI_FLOAT,
                                   MPI_SUM, MPI_COMM_WORLD);
        },
        [&](MPI_Request *request) {
          MPI_Ireduce_scatter_block(in.data(), out.data(), n / g, MPI_FLOAT,
                                    MPI_SUM, MPI_COMM_WORLD, request);
        },
        [&](tessel::HostGroup &h, int r) {
          (void)h.reduceScatter(r, Reduction::Sum, 0, buffer(hostIn[r], count),
                                buffer(hostOut[r], count / g));
        });
    row(
        "all_gather",
        [&] {
          (void)group->allGather(0, buffer(in, count), buffer(big, count * g));
        },
        [&] {
          MPI_Allgather(in.data(), n, MPI_FLOAT, big.data(), n, MPI_FLOAT,
                        MPI_COMM_WORLD);
        },
        [&](MPI_Request *request) {
          MPI_Iallgather(in.data(), n, MPI_FLOAT, big.data(), n, MPI_FLOAT,
                         MPI_COMM_WORLD, request);
        },
        [&](tessel::HostGroup &h, int r) {
          (void)h.allGather(r, 0, buffer(hostIn[r], count),
                            buffer(hostBig[r], count * g));
        });
    // all_to_all as MPI_Alltoall lays it out: [g, k] split along 0 (row m
    // to rank m), the rows received joined along 1 into [1, g * k].
    auto split = [&](std::vector<float> &data) {
      return CollectiveBuffer{tessel::proto::F32, {g, count / g}, data.data()};
    };
    auto joined = [&](std::vector<float> &data) {
      return CollectiveBuffer{tessel::proto::F32, {1, count}, data.data()};
    };
    row(
        "all_to_all",
        [&] { (void)group->allToAll(0, 1, split(in), joined(out)); },
        [&] {
          MPI_Alltoall(in.data(), n / g, MPI_FLOAT, out.data(), n / g,
                       MPI_FLOAT, MPI_COMM_WORLD);
        },
        [&](MPI_Request *request) {
          MPI_Ialltoall(in.data(), n / g, MPI_FLOAT, out.data(), n / g,
                        MPI_FLOAT, MPI_COMM_WORLD, request);
        },
        [&](tessel::HostGroup &h, int r) {
          (void)h.allToAll(r, 0, 1, split(hostIn[r]), joined(hostOut[r]));
        });
    // collective_permute: a ring shift, each rank's tensor to the next.
    std::vector<int> sources(g);
    for (int r = 0; r < g; ++r)
      sources[r] = (r + g - 1) % g;
    int next = (rank + 1) % g, previous = (rank + g - 1) % g;
    row(
        "permute (ring)",
        [&] {
          (void)group->collectivePermute(sources, buffer(in, count),
                                         buffer(out, count));
        },
        [&] {
          MPI_Sendrecv(in.data(), n, MPI_FLOAT, next, 0, out.data(), n,
                       MPI_FLOAT, previous, 0, MPI_COMM_WORLD,
                       MPI_STATUS_IGNORE);
        },
        [&](MPI_Request *request) {
          MPI_Request pair[2];
          MPI_Irecv(out.data(), n, MPI_FLOAT, previous, 0, MPI_COMM_WORLD,
                    &pair[0]);
          MPI_Isend(in.data(), n, MPI_FLOAT, next, 0, MPI_COMM_WORLD, &pair[1]);
          MPI_Waitall(2, pair, MPI_STATUSES_IGNORE);
          *request = MPI_REQUEST_NULL;
        },
        [&](tessel::HostGroup &h, int r) {
          (void)h.collectivePermute(r, sources, buffer(hostIn[r], count),
                                    buffer(hostOut[r], count));
        });
  }
  group.reset();
  MPI_Finalize();
  return 0;
}
