//===- host_collectives.cpp - Host collective bandwidth against memcpy ----===//
//
//   bazel run //bench:host_collectives -- [--mib 64] [--runs 5]
//
// For 2, 4 and 8 device threads, the time of each collective over buffers
// of --mib MiB per device, against the peer measured in the same run: the
// same threads each memcpy the bytes the collective must at least read and
// write per member (the whole buffer for all_reduce and all_to_all, the
// gathered output for all_gather, the input for reduce_scatter). A ratio of
// 1 is memcpy speed. Also printed: nccl-tests' bus bandwidth.
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

namespace {

using tessel::CollectiveBuffer;
using tessel::HostGroup;
using tessel::Reduction;

/// Median wall time of `runs` rounds of body(rank) on `g` threads started
/// together.
double timeOnThreads(int g, int runs, const std::function<void(int)> &body) {
  std::vector<double> samples;
  for (int run = 0; run < runs + 1; ++run) {
    HostGroup start(g);
    std::vector<float> scratch(g * 2);
    std::vector<double> seconds(g);
    std::vector<std::thread> threads;
    for (int r = 0; r < g; ++r)
      threads.emplace_back([&, r] {
        // Line up with a tiny all_reduce, then time.
        CollectiveBuffer a{tessel::proto::F32, {1}, &scratch[2 * r]};
        CollectiveBuffer b{tessel::proto::F32, {1}, &scratch[2 * r + 1]};
        (void)start.allReduce(r, Reduction::Sum, a, b);
        auto begin = std::chrono::steady_clock::now();
        body(r);
        (void)start.allReduce(r, Reduction::Sum, a, b);
        seconds[r] = std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - begin)
                         .count();
      });
    for (std::thread &thread : threads)
      thread.join();
    if (run > 0) // The first run warms the pages.
      samples.push_back(*std::max_element(seconds.begin(), seconds.end()));
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

} // namespace

int main(int argc, char **argv) {
  int64_t mib = 64;
  int runs = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--mib")
      mib = std::stoll(argv[i + 1]);
    else if (flag == "--runs")
      runs = std::stoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  int64_t bytes = mib << 20;
  int64_t count = bytes / 4;
  std::printf("%u hardware threads; %lld MiB of f32 per device; median of "
              "%d runs\n",
              std::thread::hardware_concurrency(), static_cast<long long>(mib),
              runs);
  std::printf("%-15s %3s %10s %12s %8s %12s\n", "collective", "g", "time ms",
              "memcpy ms", "ratio", "busbw GB/s");
  for (int g : {2, 4, 8}) {
    std::vector<std::vector<float>> in(g), out(g), big(g);
    for (int r = 0; r < g; ++r) {
      in[r].assign(count, 1.0f + r);
      out[r].assign(count, 0.0f);
      big[r].assign(count * g, 0.0f);
    }
    auto buffer = [](std::vector<float> &data, int64_t n) {
      return CollectiveBuffer{tessel::proto::F32, {n}, data.data()};
    };
    auto memcpyTime = [&](int64_t copyBytes) {
      return timeOnThreads(g, runs, [&](int r) {
        // From the member's input into its own output buffer, as the
        // collective's writes are, `bytes` at a time.
        char *target = reinterpret_cast<char *>(big[r].data());
        const char *source = reinterpret_cast<const char *>(in[r].data());
        for (int64_t done = 0; done < copyBytes; done += bytes)
          std::memcpy(target + done, source, bytes);
      });
    };
    auto report = [&](const char *name, double seconds, double peer,
                      double busBytes) {
      std::printf("%-15s %3d %10.2f %12.2f %8.2f %12.2f\n", name, g,
                  seconds * 1e3, peer * 1e3, seconds / peer,
                  busBytes / seconds / 1e9);
    };
    HostGroup group(g);
    double peer = memcpyTime(bytes);
    report("all_reduce",
           timeOnThreads(g, runs,
                         [&](int r) {
                           (void)group.allReduce(r, Reduction::Sum,
                                                 buffer(in[r], count),
                                                 buffer(out[r], count));
                         }),
           peer, 2.0 * bytes * (g - 1) / g);
    report("reduce_scatter",
           timeOnThreads(g, runs,
                         [&](int r) {
                           (void)group.reduceScatter(r, Reduction::Sum, 0,
                                                     buffer(in[r], count),
                                                     buffer(out[r], count / g));
                         }),
           peer, 1.0 * bytes * (g - 1) / g);
    report("all_to_all",
           timeOnThreads(g, runs,
                         [&](int r) {
                           // [g, count / g] -> [1, count]: piece m of
                           // dimension 0 goes to member m.
                           (void)group.allToAll(
                               r, 0, 1,
                               CollectiveBuffer{tessel::proto::F32,
                                                {g, count / g},
                                                in[r].data()},
                               CollectiveBuffer{tessel::proto::F32,
                                                {1, count},
                                                out[r].data()});
                         }),
           peer, 1.0 * bytes * (g - 1) / g);
    double gatherPeer = memcpyTime(bytes * g);
    report("all_gather",
           timeOnThreads(g, runs,
                         [&](int r) {
                           (void)group.allGather(r, 0, buffer(in[r], count),
                                                 buffer(big[r], count * g));
                         }),
           gatherPeer, 1.0 * bytes * g * (g - 1) / g);
  }
  return 0;
}
