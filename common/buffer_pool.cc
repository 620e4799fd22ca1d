#include "common/buffer_pool.h"

#include <malloc.h>
#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <new>

namespace psd {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kHuge = 2 << 20;
// Buffers from this size on are mapped on their own and asked to use huge pages, so that
// even the first touch costs one fault per 2 MiB instead of one per 4 KiB.
constexpr size_t kMapFrom = 1 << 20;

}  // namespace

BufferPool& BufferPool::Default() {
  static BufferPool* pool = new BufferPool(size_t{1} << 30);
  return *pool;
}

BufferPool::~BufferPool() {
  absl::MutexLock lock(&mu_);
  for (auto& [capacity, data] : free_) Free(data, capacity);
}

size_t BufferPool::Capacity(size_t size) {
  if (size >= kMapFrom) return (size + kHuge - 1) / kHuge * kHuge;
  if (size <= 256) return 256;
  // Up to 1/8 waste: round to a multiple of an eighth of the next power of two.
  size_t pow2 = 256;
  while (pow2 < size) pow2 <<= 1;
  const size_t step = pow2 / 8;
  return (size + step - 1) / step * step;
}

uint8_t* BufferPool::Allocate(size_t capacity) {
  if (capacity >= kMapFrom) {
    void* p = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    madvise(p, capacity, MADV_HUGEPAGE);
    return static_cast<uint8_t*>(p);
  }
  void* p = std::aligned_alloc(64, (capacity + 63) / 64 * 64);
  if (p == nullptr) throw std::bad_alloc();
  return static_cast<uint8_t*>(p);
}

void BufferPool::Free(uint8_t* data, size_t capacity) {
  if (capacity >= kMapFrom) {
    munmap(data, capacity);
  } else {
    std::free(data);
  }
}

uint8_t* BufferPool::Acquire(size_t size, size_t* capacity) {
  const size_t want = Capacity(size);
  {
    absl::MutexLock lock(&mu_);
    auto it = free_.lower_bound(want);
    // Take a cached buffer that is big enough but not more than twice the need.
    if (it != free_.end() && it->first <= 2 * want) {
      uint8_t* data = it->second;
      *capacity = it->first;
      cached_ -= it->first;
      free_.erase(it);
      return data;
    }
    ++allocations_;
  }
  *capacity = want;
  return Allocate(want);
}

void BufferPool::Release(uint8_t* data, size_t capacity) {
  {
    absl::MutexLock lock(&mu_);
    if (cached_ + capacity <= max_cached_) {
      free_.emplace(capacity, data);
      cached_ += capacity;
      return;
    }
  }
  Free(data, capacity);
}

size_t BufferPool::cached_bytes() const {
  absl::MutexLock lock(&mu_);
  return cached_;
}

int64_t BufferPool::allocations() const {
  absl::MutexLock lock(&mu_);
  return allocations_;
}

void KeepFreedMemory() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (const char* env = std::getenv("PSD_KEEP_FREED_MEMORY"); env != nullptr && env[0] == '0') {
      return;
    }
    // 32 MiB is glibc's largest mmap threshold on 64-bit; the heap top stays mapped.
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    // Threads that get an arena of their own (up to 8 per core) allocate big blocks from
    // 64 MiB heaps that glibc shrinks (MADV_DONTNEED) or unmaps as they empty, whatever the
    // trim threshold: gRPC's receive buffers then fault page by page on every message. One
    // arena for the process keeps them warm (measured: 1/3 fewer faults, -15% CPU per GB).
    // It only binds threads that allocate for the first time after this call.
    mallopt(M_ARENA_MAX, 1);
  });
}

}  // namespace psd
