//===- Workspace.h - Scratch memory a device's kernels share ----*- C++ -*-===//
//
// Library primitives (oneDNN's matmul) need scratch memory while they run.
// Kept per instruction, it adds up over a program's hundreds of products;
// allocated by the library per call, it is freed memory the allocator
// keeps (oneDNN's sgemm packing buffers: 46-63 MiB of heap per process for
// under 5 MiB in use, docs/design/training.md). A device's instructions run
// one at a time, so they share one workspace: a buffer per piece of a
// call (the pieces of one call run at once, on the pool's threads), each
// as large as the largest any instruction asked for. Kernels reserve while
// they prepare, at their first run; later runs find the bytes there and
// allocate nothing.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_KERNELS_WORKSPACE_H
#define TESSEL_RUNTIME_KERNELS_WORKSPACE_H

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <vector>

namespace tessel::kernels {

class Workspace {
public:
  /// Makes piece `p` at least `bytes` long (64-byte aligned). Only while
  /// no piece runs: a larger reservation moves the piece's bytes.
  void reserve(size_t p, size_t bytes) {
    if (p >= pieces.size())
      pieces.resize(p + 1);
    Piece &piece = pieces[p];
    if (piece.bytes >= bytes)
      return;
    size_t rounded = (bytes + 63) / 64 * 64;
    piece.data.reset(std::aligned_alloc(64, rounded));
    piece.bytes = rounded;
  }
  /// Piece `p`'s bytes; null if none were reserved.
  void *piece(size_t p) const {
    return p < pieces.size() ? pieces[p].data.get() : nullptr;
  }
  /// All pieces' bytes.
  size_t bytes() const {
    size_t total = 0;
    for (const Piece &piece : pieces)
      total += piece.bytes;
    return total;
  }

private:
  struct Free {
    void operator()(void *data) const { std::free(data); }
  };
  struct Piece {
    std::unique_ptr<void, Free> data;
    size_t bytes = 0;
  };
  std::vector<Piece> pieces;
};

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_WORKSPACE_H
