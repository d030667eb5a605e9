//===- mpi_collectives.cpp - MPI collective bandwidth against the host's --===//
//
//   mpirun -np 2 mpi_collectives [--mib 16] [--runs 5]
//   (bench/mpi_collectives.sh)
//
// On the ranks mpirun starts: the time of each collective over --mib MiB
// per rank through MpiGroup, against the peer measured in the same run on
// rank 0: the host collectives among as many threads in one process, same
// bytes. Rank 0 prints one line per collective with both times, the ratio
// MPI / host, and nccl-tests' bus bandwidth for the MPI run.
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

} // namespace

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, g;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g);
  int64_t mib = 16;
  int runs = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--mib")
      mib = std::stoll(argv[i + 1]);
    else if (flag == "--runs")
      runs = std::stoi(argv[i + 1]);
  }
  int64_t count = (mib << 20) / 4 / g * g;
  double bytes = static_cast<double>(count) * 4;
  std::vector<int> members(g);
  for (int r = 0; r < g; ++r)
    members[r] = r;
  std::unique_ptr<tessel::MpiGroup> group = *tessel::MpiGroup::create(members);
  std::vector<float> in(count, 1.0f), out(count), big(count * g);
  auto buffer = [](std::vector<float> &data, int64_t n) {
    return CollectiveBuffer{tessel::proto::F32, {n}, data.data()};
  };
  // Host peers: one process, g threads, their own buffers.
  std::vector<std::vector<float>> hostIn(g, std::vector<float>(count, 1.0f)),
      hostOut(g, std::vector<float>(count)),
      hostBig(g, std::vector<float>(count * g));

  struct Row {
    const char *name;
    double mpi, host, busFactor;
  };
  std::vector<Row> rows;
  rows.push_back(
      {"all_reduce",
       timeOnRanks(runs,
                   [&] {
                     (void)group->allReduce(Reduction::Sum, buffer(in, count),
                                            buffer(out, count));
                   }),
       rank == 0 ? timeOnThreads(g, runs,
                                 [&](tessel::HostGroup &h, int r) {
                                   (void)h.allReduce(r, Reduction::Sum,
                                                     buffer(hostIn[r], count),
                                                     buffer(hostOut[r], count));
                                 })
                 : 0,
       2.0 * (g - 1) / g});
  rows.push_back(
      {"reduce_scatter",
       timeOnRanks(runs,
                   [&] {
                     (void)group->reduceScatter(Reduction::Sum, 0,
                                                buffer(in, count),
                                                buffer(out, count / g));
                   }),
       rank == 0 ? timeOnThreads(g, runs,
                                 [&](tessel::HostGroup &h, int r) {
                                   (void)h.reduceScatter(
                                       r, Reduction::Sum, 0,
                                       buffer(hostIn[r], count),
                                       buffer(hostOut[r], count / g));
                                 })
                 : 0,
       1.0 * (g - 1) / g});
  rows.push_back({"all_gather",
                  timeOnRanks(runs,
                              [&] {
                                (void)group->allGather(0, buffer(in, count),
                                                       buffer(big, count * g));
                              }),
                  rank == 0
                      ? timeOnThreads(g, runs,
                                      [&](tessel::HostGroup &h, int r) {
                                        (void)h.allGather(
                                            r, 0, buffer(hostIn[r], count),
                                            buffer(hostBig[r], count * g));
                                      })
                      : 0,
                  1.0 * (g - 1)});
  if (rank == 0) {
    std::printf("%d ranks; %lld MiB of f32 per rank; median of %d runs\n", g,
                static_cast<long long>(mib), runs);
    std::printf("%-16s %10s %10s %8s %12s\n", "collective", "mpi ms", "host ms",
                "ratio", "busbw GB/s");
    for (const Row &row : rows)
      std::printf("%-16s %10.2f %10.2f %8.2f %12.2f\n", row.name, row.mpi * 1e3,
                  row.host * 1e3, row.mpi / row.host,
                  bytes * row.busFactor / row.mpi / 1e9);
  }
  group.reset();
  MPI_Finalize();
  return 0;
}
