// Reusable byte buffers for the parameter-server hot path, and the malloc settings that keep
// freed memory in the process.
//
// On these machines the first touch of a fresh page costs ~12-18 us (a page fault in a VM):
// a 1 MiB buffer that is freshly mapped costs ~3-4 ms to fill, 20x a warm memcpy. glibc
// returns big freed blocks to the kernel (blocks above the mmap threshold are munmapped, the
// heap top is trimmed) so every message paid that again. Pooled buffers and
// KeepFreedMemory() make the steady state touch only warm pages.
#ifndef PSD_COMMON_BUFFER_POOL_H_
#define PSD_COMMON_BUFFER_POOL_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace psd {

class BufferPool {
 public:
  // The process-wide pool (never destroyed, so buffers may come back at any time).
  static BufferPool& Default();

  explicit BufferPool(size_t max_cached_bytes) : max_cached_(max_cached_bytes) {}
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // A 64-byte-aligned buffer of at least `size` bytes; its capacity goes to *capacity and
  // must come back with Release.
  uint8_t* Acquire(size_t size, size_t* capacity);
  void Release(uint8_t* data, size_t capacity);

  // Bytes held for reuse, and fresh allocations so far.
  size_t cached_bytes() const;
  int64_t allocations() const;

 private:
  static size_t Capacity(size_t size);
  static uint8_t* Allocate(size_t capacity);
  static void Free(uint8_t* data, size_t capacity);

  const size_t max_cached_;
  mutable absl::Mutex mu_;
  std::multimap<size_t, uint8_t*> free_ ABSL_GUARDED_BY(mu_);  // by capacity
  size_t cached_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t allocations_ ABSL_GUARDED_BY(mu_) = 0;
};

// A buffer of the default pool that a reply's slice owns: Release(arg) (a gRPC slice's destroy
// callback) returns it to the pool and deletes the holder.
struct PooledBuffer {
  uint8_t* data = nullptr;
  size_t capacity = 0;
  // A holder of a buffer of at least `size` bytes.
  static PooledBuffer* New(size_t size) {
    auto* b = new PooledBuffer;
    b->data = BufferPool::Default().Acquire(size, &b->capacity);
    return b;
  }
  static void Release(void* arg) {
    auto* b = static_cast<PooledBuffer*>(arg);
    BufferPool::Default().Release(b->data, b->capacity);
    delete b;
  }
};

// Makes glibc keep freed memory for reuse: blocks up to 32 MiB come from the heap rather
// than fresh mappings, the heap is not trimmed, and the process uses one malloc arena (the
// per-thread arenas' heaps are shrunk or unmapped as they empty, whatever the trim
// threshold). Idempotent; process-wide. InitProcess() (common/process_init.h) calls it before
// gRPC's threads exist, so that they share the one arena; PSD_KEEP_FREED_MEMORY=0 turns it off.
void KeepFreedMemory();

}  // namespace psd

#endif  // PSD_COMMON_BUFFER_POOL_H_
