//===- mpi_collectives.cpp - MPI collectives vs Open MPI and the host -----===//
//
//   mpirun -np 2 mpi_collectives [--sizes 4k,64k,1m,16m,64m] [--runs 5]
//                                [--only halo]
//   (bench/mpi_collectives.sh)
//
// On the ranks mpirun starts, for each size per rank (--sizes, default
// 4 KiB to 64 MiB; --mib N for one) and each collective (all_reduce,
// reduce_scatter, all_gather, all_to_all, collective_permute as a ring
// shift, halo_exchange along the outermost dimension and inside), the
// time per call of: Tessel's MpiGroup (trusting shapes, as the MPI
// backend's groups do); the engine under it, Open MPI's own call on the
// same bytes, blocking and non-blocking (MPI_Wait), the faster of the two
// the peer; and, on rank 0, the host backend's collectives among
// as many threads in one process. The three take turns within each run.
// Rank 0 prints the times and the ratios Tessel / Open MPI and Tessel /
// host. Small sizes repeat the call within a run to fill 1 MiB.
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
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

/// Per body, the median over `runs` of the slowest rank's time. The bodies
/// take turns within each run, so a change in the machine's load between
/// runs weighs on all of them alike; the first turn rotates, and each
/// timed call follows one of the same body.
std::vector<double>
timeOnRanks(int runs, const std::vector<std::function<void()>> &bodies) {
  std::vector<std::vector<double>> samples(bodies.size());
  for (int run = 0; run < runs + 1; ++run)
    for (size_t turn = 0; turn < bodies.size(); ++turn) {
      // Each run starts with the next body, and each body's timed call
      // follows an untimed one of its own: a call right after another
      // body's non-blocking one on the same buffers was measured up to 2x
      // slower (an all_gather of 1 MiB on 2 ranks), whichever it was.
      size_t b = (turn + static_cast<size_t>(run)) % bodies.size();
      bodies[b]();
      MPI_Barrier(MPI_COMM_WORLD);
      auto begin = std::chrono::steady_clock::now();
      bodies[b]();
      double seconds = std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - begin)
                           .count();
      double slowest = 0;
      MPI_Allreduce(&seconds, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      if (run > 0)
        samples[b].push_back(slowest);
    }
  std::vector<double> medians;
  for (std::vector<double> &s : samples)
    medians.push_back(median(std::move(s)));
  return medians;
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
  std::string only; // Rows whose name begins so (for a profile).
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
    } else if (flag == "--only") {
      only = argv[i + 1];
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
    std::printf("%-8s %-16s %10s %11s %11s %12s %10s %12s\n", "size",
                "collective", "tessel ms", "ompi b ms", "ompi nb ms",
                "tessel/ompi", "host ms", "tessel/host");
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
      if (std::string(name).rfind(only, 0) != 0)
        return;
      std::vector<double> times = timeOnRanks(
          runs, {repeated(tessel), repeated(blocking), repeated([&] {
                   MPI_Request request;
                   start(&request);
                   MPI_Wait(&request, MPI_STATUS_IGNORE);
                 })});
      double ours = times[0] / reps, blockingTime = times[1] / reps,
             startedTime = times[2] / reps;
      double engine = std::min(blockingTime, startedTime);
      double threads = rank == 0
                           ? timeOnThreads(g, runs,
                                           [&](tessel::HostGroup &h, int r) {
                                             for (int i = 0; i < reps; ++i)
                                               host(h, r);
                                           }) /
                                 reps
                           : 0;
      if (rank == 0)
        std::printf("%-8s %-16s %10.3f %11.3f %11.3f %12.2f %10.3f %12.2f\n",
                    sizeName(size).c_str(), name, ours * 1e3,
                    blockingTime * 1e3, startedTime * 1e3, ours / engine,
                    threads * 1e3, ours / threads);
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
    // halo_exchange of [outer, n, inner] along 1, h rows each side (n / 16,
    // as a convolution's window takes a few rows of a tall part): along
    // the outermost dimension (outer 1), then inside (outer 16). Open MPI
    // moves the halos with a vector datatype straight between the tensors,
    // the rows kept copied while they travel.
    auto halo = [&](const char *name, int64_t outer, int64_t inner) {
      int64_t n = count / (outer * inner), h = std::max<int64_t>(1, n / 16);
      int64_t m = n + 2 * h;
      std::vector<float> haloOut(outer * m * inner);
      std::vector<std::vector<float>> hostHalo(g, haloOut);
      auto part = [&](std::vector<float> &data) {
        return CollectiveBuffer{
            tessel::proto::F32, {outer, n, inner}, data.data()};
      };
      auto whole = [&](std::vector<float> &data) {
        return CollectiveBuffer{
            tessel::proto::F32, {outer, m, inner}, data.data()};
      };
      MPI_Datatype rowsOfIn, rowsOfOut;
      MPI_Type_vector(static_cast<int>(outer), static_cast<int>(h * inner),
                      static_cast<int>(n * inner), MPI_FLOAT, &rowsOfIn);
      MPI_Type_vector(static_cast<int>(outer), static_cast<int>(h * inner),
                      static_cast<int>(m * inner), MPI_FLOAT, &rowsOfOut);
      MPI_Type_commit(&rowsOfIn);
      MPI_Type_commit(&rowsOfOut);
      int previous = rank > 0 ? rank - 1 : MPI_PROC_NULL,
          next = rank + 1 < g ? rank + 1 : MPI_PROC_NULL;
      float *lastRows = in.data() + (n - h) * inner,
            *highHalo = haloOut.data() + (h + n) * inner;
      auto keepAndPad = [&] {
        for (int64_t o = 0; o < outer; ++o) {
          float *target = haloOut.data() + o * m * inner;
          std::memcpy(target + h * inner, in.data() + o * n * inner,
                      n * inner * sizeof(float));
          if (rank == 0)
            std::fill(target, target + h * inner, 0.0f);
          if (rank + 1 == g)
            std::fill(target + (h + n) * inner, target + m * inner, 0.0f);
        }
      };
      row(
          name,
          [&] {
            (void)group->haloExchange(1, h, h, 0.0, part(in), whole(haloOut));
          },
          [&] {
            MPI_Sendrecv(lastRows, 1, rowsOfIn, next, 0, haloOut.data(), 1,
                         rowsOfOut, previous, 0, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE);
            MPI_Sendrecv(in.data(), 1, rowsOfIn, previous, 1, highHalo, 1,
                         rowsOfOut, next, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            keepAndPad();
          },
          [&](MPI_Request *request) {
            MPI_Request four[4];
            MPI_Irecv(haloOut.data(), 1, rowsOfOut, previous, 0, MPI_COMM_WORLD,
                      &four[0]);
            MPI_Irecv(highHalo, 1, rowsOfOut, next, 1, MPI_COMM_WORLD,
                      &four[1]);
            MPI_Isend(lastRows, 1, rowsOfIn, next, 0, MPI_COMM_WORLD, &four[2]);
            MPI_Isend(in.data(), 1, rowsOfIn, previous, 1, MPI_COMM_WORLD,
                      &four[3]);
            keepAndPad();
            MPI_Waitall(4, four, MPI_STATUSES_IGNORE);
            *request = MPI_REQUEST_NULL;
          },
          [&](tessel::HostGroup &host, int r) {
            (void)host.haloExchange(r, 1, h, h, 0.0, part(hostIn[r]),
                                    whole(hostHalo[r]));
          });
      MPI_Type_free(&rowsOfIn);
      MPI_Type_free(&rowsOfOut);
    };
    halo("halo (outer)", 1, 256);
    halo("halo (inner)", 16, 16);
  }
  group.reset();
  MPI_Finalize();
  return 0;
}
