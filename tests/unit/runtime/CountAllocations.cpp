//===- CountAllocations.cpp - glibc's malloc, counted ---------------------===//
//
// The malloc family replaced as glibc allows (malloc, free, calloc,
// realloc and the aligned forms defined in the executable), each forwarding
// to glibc's own entry points (__libc_malloc, ...), so that memory is still
// glibc's whoever frees it. While counting, each allocation walks its stack
// (backtrace) and looks up the shared objects on it (dladdr); neither
// allocates once backtrace has been called once, and a thread-local flag
// keeps the walk itself from being counted.
//
//===----------------------------------------------------------------------===//

#include "tests/unit/runtime/CountAllocations.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <execinfo.h>

#include "absl/strings/str_cat.h"

#if defined(__SANITIZE_ADDRESS__)
#define TESSEL_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TESSEL_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef TESSEL_COUNT_ALLOCATIONS
#define TESSEL_COUNT_ALLOCATIONS 1
#endif

namespace tessel::testing {
namespace {

constexpr int kDepth = 32, kSites = 32, kShown = 8;

std::atomic<bool> counting{false};
std::atomic<int64_t> ownCount{0}, libraryCount{0};
std::vector<std::string> libraryNames;
thread_local bool walking = false;

/// Own allocations by the first frame outside the allocator and the
/// standard libraries, with the stack of the first one seen there.
struct Site {
  void *frame = nullptr;
  int64_t count = 0;
  void *stack[kShown];
  int depth = 0;
};
Site sites[kSites];
int siteCount = 0;
std::atomic_flag sitesLock = ATOMIC_FLAG_INIT;

const char *objectOf(void *frame) {
  Dl_info info;
  return dladdr(frame, &info) && info.dli_fname ? info.dli_fname : "";
}

bool inLibrary(const char *object) {
  for (const std::string &name : libraryNames)
    if (std::strstr(object, name.c_str()))
      return true;
  return false;
}

/// This file's shared object (or the test binary), set before counting.
std::string ownObject;

bool inAllocator(const char *object) {
  return ownObject == object || std::strstr(object, "libstdc++") ||
         std::strstr(object, "libc.so");
}

void noteSite(void **frames, int depth) {
  int first = 0;
  while (first < depth - 1 && inAllocator(objectOf(frames[first])))
    ++first;
  while (sitesLock.test_and_set(std::memory_order_acquire)) {
  }
  Site *site = nullptr;
  for (int s = 0; s < siteCount && !site; ++s)
    if (sites[s].frame == frames[first])
      site = &sites[s];
  if (!site && siteCount < kSites) {
    site = &sites[siteCount++];
    site->frame = frames[first];
    site->depth = std::min(kShown, depth - first);
    std::memcpy(site->stack, frames + first, site->depth * sizeof(void *));
  }
  if (site)
    ++site->count;
  sitesLock.clear(std::memory_order_release);
}

[[maybe_unused]] void note() {
  if (!counting.load(std::memory_order_relaxed) || walking)
    return;
  walking = true;
  void *frames[kDepth];
  int depth = backtrace(frames, kDepth);
  bool library = false;
  for (int i = 0; i < depth && !library; ++i)
    library = inLibrary(objectOf(frames[i]));
  if (library) {
    ++libraryCount;
  } else {
    ++ownCount;
    noteSite(frames, depth);
  }
  walking = false;
}

} // namespace

bool countingAvailable() { return TESSEL_COUNT_ALLOCATIONS; }

void startCounting(std::vector<std::string> libraries) {
  libraryNames = std::move(libraries);
  void *frames[kDepth];
  backtrace(frames, kDepth); // Loads the unwinder before counting.
  ownObject = objectOf(reinterpret_cast<void *>(&note));
  ownCount = 0;
  libraryCount = 0;
  siteCount = 0;
  counting = true;
}

Allocations stopCounting() {
  counting = false;
  Allocations allocations;
  allocations.own = ownCount;
  allocations.library = libraryCount;
  std::sort(sites, sites + siteCount,
            [](const Site &a, const Site &b) { return a.count > b.count; });
  for (int s = 0; s < siteCount; ++s) {
    std::string text = absl::StrCat(sites[s].count, " at");
    char **symbols = backtrace_symbols(sites[s].stack, sites[s].depth);
    for (int i = 0; i < sites[s].depth; ++i) {
      // The object's folder is long and says nothing.
      const char *symbol = symbols ? symbols[i] : "?";
      const char *slash = std::strrchr(symbol, '/');
      absl::StrAppend(&text, "\n    ", slash ? slash + 1 : symbol);
    }
    std::free(symbols);
    allocations.ownStacks.push_back(text);
  }
  return allocations;
}

} // namespace tessel::testing

#if TESSEL_COUNT_ALLOCATIONS
extern "C" {
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);

void *malloc(size_t bytes) {
  tessel::testing::note();
  return __libc_malloc(bytes);
}
void *calloc(size_t count, size_t bytes) {
  tessel::testing::note();
  return __libc_calloc(count, bytes);
}
void *realloc(void *pointer, size_t bytes) {
  tessel::testing::note();
  return __libc_realloc(pointer, bytes);
}
void free(void *pointer) { __libc_free(pointer); }
void *memalign(size_t alignment, size_t bytes) {
  tessel::testing::note();
  return __libc_memalign(alignment, bytes);
}
void *aligned_alloc(size_t alignment, size_t bytes) {
  tessel::testing::note();
  return __libc_memalign(alignment, bytes);
}
int posix_memalign(void **pointer, size_t alignment, size_t bytes) {
  if (alignment % sizeof(void *) || (alignment & (alignment - 1)))
    return EINVAL;
  tessel::testing::note();
  void *memory = __libc_memalign(alignment, bytes);
  if (!memory)
    return ENOMEM;
  *pointer = memory;
  return 0;
}
}
#endif
