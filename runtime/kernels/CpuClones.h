//===- CpuClones.h - One kernel loop per vector width -----------*- C++ -*-===//
//
// The binaries are built for any x86-64 (SSE2), so that they run on every
// machine the executable may go to. A hot loop marked TESSEL_CPU_CLONES is
// compiled once per vector width (AVX-512, AVX2, baseline) and the loader
// picks the clone the CPU runs (GCC's and Clang's target_clones, through
// glibc's ifunc), so the loop gets the machine's widest vectors without a
// per-machine build. Write such loops on wide vector-extension types
// (vector_size(64)): each clone lowers them to its own registers.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_KERNELS_CPUCLONES_H
#define TESSEL_RUNTIME_KERNELS_CPUCLONES_H

#if defined(__x86_64__) && defined(__ELF__)
#define TESSEL_CPU_CLONES                                                      \
  __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TESSEL_CPU_CLONES
#endif

#endif // TESSEL_RUNTIME_KERNELS_CPUCLONES_H
