//===- ChannelsLast.cpp - Channels-last buffers chosen at load ------------===//

#include "runtime/host/ChannelsLast.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <optional>
#include <set>

#include "runtime/kernels/KernelContext.h"

namespace tessel {
namespace {

kernels::TensorView logicalView(const proto::Buffer &buffer) {
  kernels::TensorView view;
  view.type = buffer.element_type();
  view.dims.assign(buffer.dims().begin(), buffer.dims().end());
  return view;
}

/// `instruction`'s kernel context over logical views without data.
kernels::KernelContext logicalContext(const proto::Instruction &instruction,
                                      const proto::DeviceProgram &program,
                                      ThreadPool &pool) {
  std::vector<kernels::TensorView> operands, results;
  for (int64_t id : instruction.operands())
    operands.push_back(logicalView(program.buffers(id)));
  for (int64_t id : instruction.results())
    results.push_back(logicalView(program.buffers(id)));
  return kernels::KernelContext(instruction, std::move(operands),
                                std::move(results), pool);
}

const kernels::ChannelsLastRule *ruleOf(const proto::Instruction &instruction) {
  return instruction.op() == "collective"
             ? nullptr
             : kernels::findChannelsLast(instruction.op());
}

class UnionFind {
public:
  explicit UnionFind(int64_t n) : parent(n) {
    std::iota(parent.begin(), parent.end(), 0);
  }
  int64_t find(int64_t x) {
    while (parent[x] != x)
      x = parent[x] = parent[parent[x]];
    return x;
  }
  void join(int64_t a, int64_t b) { parent[find(a)] = find(b); }

private:
  std::vector<int64_t> parent;
};

} // namespace

std::vector<int64_t> channelsLastDims(const std::vector<int64_t> &dims) {
  std::vector<int64_t> order =
      kernels::channelsLastOrder(static_cast<int64_t>(dims.size()));
  std::vector<int64_t> memory(dims.size());
  for (size_t p = 0; p < dims.size(); ++p)
    memory[p] = dims[order[p]];
  return memory;
}

std::vector<bool> chooseChannelsLast(const proto::DeviceProgram &program,
                                     ThreadPool &pool) {
  return chooseChannelsLast(program, pool, bufferLiveness(program));
}

std::vector<bool> chooseChannelsLast(const proto::DeviceProgram &program,
                                     ThreadPool &pool,
                                     const BufferLiveness &live) {
  int64_t n = program.buffers_size();
  int64_t count = program.instructions_size();
  auto inArena = [&](int64_t b) {
    return program.buffers(b).storage() == proto::Buffer::ARENA;
  };
  std::vector<bool> allowed(n), prefers(n, false);
  for (int64_t b = 0; b < n; ++b)
    allowed[b] = inArena(b) && program.buffers(b).dims_size() == 4;
  for (int64_t o : program.output_buffers())
    allowed[o] = false;
  UnionFind sameLayout(n);
  std::set<std::pair<int64_t, int64_t>> inPlace; // (operand, result)
  for (int64_t i = 0; i < count; ++i) {
    const proto::Instruction &instruction = program.instructions(i);
    const kernels::ChannelsLastRule *rule = ruleOf(instruction);
    std::vector<bool> operands(instruction.operands_size(), false),
        results(instruction.results_size(), false);
    if (rule)
      rule->slots(logicalContext(instruction, program, pool), operands,
                  results);
    auto mark = [&](const google::protobuf::RepeatedField<int64_t> &ids,
                    const std::vector<bool> &takes) {
      for (int k = 0; k < ids.size(); ++k) {
        if (!takes[k])
          allowed[ids[k]] = false;
        else if (rule->prefers)
          prefers[ids[k]] = true;
      }
    };
    mark(instruction.operands(), operands);
    mark(instruction.results(), results);
    if (!rule)
      continue;
    // Results share one layout (a fusion's share one index space); one
    // written over an operand (same bytes, same shape: a fusion in place)
    // must read it in its own order.
    for (int k = 1; k < instruction.results_size(); ++k)
      sameLayout.join(instruction.results(0), instruction.results(k));
    for (int64_t r : instruction.results())
      for (int64_t o : instruction.operands())
        if (inArena(o) && inArena(r) &&
            program.buffers(o).offset() == program.buffers(r).offset() &&
            std::equal(program.buffers(o).dims().begin(),
                       program.buffers(o).dims().end(),
                       program.buffers(r).dims().begin(),
                       program.buffers(r).dims().end())) {
          sameLayout.join(o, r);
          inPlace.insert({o, r});
        }
  }
  // Buffers sharing bytes while both live: row-major both, unless a fusion
  // writes one over the other.
  const std::vector<int64_t> &first = live.first, &last = live.last;
  for (int64_t a = 0; a < n; ++a) {
    if (!allowed[a] || last[a] < 0)
      continue;
    for (int64_t b = 0; b < n; ++b) {
      if (b == a || last[b] < 0 || !arenaOverlap(program, a, b) ||
          first[a] > last[b] || first[b] > last[a] || inPlace.count({a, b}) ||
          inPlace.count({b, a}))
        continue;
      allowed[a] = false;
      allowed[b] = false;
    }
  }
  std::vector<bool> classAllowed(n, true), classPrefers(n, false);
  for (int64_t b = 0; b < n; ++b) {
    int64_t root = sameLayout.find(b);
    classAllowed[root] = classAllowed[root] && allowed[b];
    classPrefers[root] = classPrefers[root] || prefers[b];
  }
  std::vector<bool> layouts(n);
  for (int64_t b = 0; b < n; ++b) {
    int64_t root = sameLayout.find(b);
    layouts[b] = allowed[b] && classAllowed[root] && classPrefers[root];
  }
  return layouts;
}

std::vector<std::optional<proto::Instruction>>
instructionsForLayouts(const proto::DeviceProgram &program,
                       const std::vector<bool> &layouts, ThreadPool &pool) {
  std::vector<std::optional<proto::Instruction>> rewritten(
      program.instructions_size());
  for (int i = 0; i < program.instructions_size(); ++i) {
    const proto::Instruction &instruction = program.instructions(i);
    std::vector<bool> operands, results;
    for (int64_t id : instruction.operands())
      operands.push_back(layouts[id]);
    for (int64_t id : instruction.results())
      results.push_back(layouts[id]);
    if (std::none_of(operands.begin(), operands.end(),
                     [](bool b) { return b; }) &&
        std::none_of(results.begin(), results.end(), [](bool b) { return b; }))
      continue;
    // chooseChannelsLast picks only buffers every toucher's rule takes.
    const kernels::ChannelsLastRule *rule = ruleOf(instruction);
    rewritten[i] = instruction;
    rule->rewrite(logicalContext(instruction, program, pool), operands, results,
                  *rewritten[i]);
  }
  return rewritten;
}

} // namespace tessel
