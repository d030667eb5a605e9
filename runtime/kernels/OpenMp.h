//===- OpenMp.h - One OpenMP thread for a library call ----------*- C++ -*-===//
//
// Debian's oneDNN is built on OpenMP and runs each call on
// omp_get_max_threads() threads. Host kernels parallelise through the
// ThreadPool instead (a library's own threads would fight the pool's), so
// each oneDNN call runs under a SingleOpenMpThread: one thread for the
// calling thread while it lives, and the previous setting back after, so
// that an embedding program's (PyTorch's, say) OpenMP setting survives.
// ThreadPool workers call prepareOpenMpThread as they start.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_KERNELS_OPENMP_H
#define TESSEL_RUNTIME_KERNELS_OPENMP_H

#include <omp.h>

namespace tessel::kernels {

/// Makes OpenMP's state for the calling thread (the runtime allocates it
/// on a thread's first OpenMP call): for threads about to run kernels, so
/// that no run allocates it later.
inline void prepareOpenMpThread() { (void)omp_get_max_threads(); }

class SingleOpenMpThread {
public:
  SingleOpenMpThread() : previous(omp_get_max_threads()) {
    if (previous != 1)
      omp_set_num_threads(1);
  }
  ~SingleOpenMpThread() {
    if (previous != 1)
      omp_set_num_threads(previous);
  }
  SingleOpenMpThread(const SingleOpenMpThread &) = delete;
  SingleOpenMpThread &operator=(const SingleOpenMpThread &) = delete;

private:
  int previous;
};

} // namespace tessel::kernels

#endif // TESSEL_RUNTIME_KERNELS_OPENMP_H
