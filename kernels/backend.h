// The compute backend: device memory, streams, copies and the ops of a dense network.
//
// Layout: every matrix is ROW-MAJOR with a leading dimension (elements between rows). A dense
// layer is Y[batch, out] = X[batch, in] · W[in, out] + bias[out], matching common/placement.h.
// Ops take device pointers, are enqueued on a Stream and return an error instead of aborting.
// The CPU backend runs everything at once on the calling thread (streams and events are
// no-ops); the CUDA backend runs ops asynchronously in stream order.
//
// Lifetimes: every buffer, stream and event must be destroyed before the Backend that made it.
// A Backend is used from one thread at a time. kernels/select.h creates one.
#ifndef PSD_KERNELS_BACKEND_H_
#define PSD_KERNELS_BACKEND_H_

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "kernels/kernel_types.h"

namespace psd::kernels {

class Backend;

// Device memory, or page-locked host memory that copies to and from the device can overlap.
enum class MemoryKind { kDevice, kHost };
enum class CopyKind { kHostToDevice, kDeviceToHost, kDeviceToDevice };
enum class HandleKind { kStream, kEvent };

// Owns `size()` elements of T allocated by a Backend; moves, never copies; frees on destruction.
template <typename T, MemoryKind M>
class Buffer {
 public:
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, int32_t>);
  Buffer() = default;
  Buffer(Buffer&& other) noexcept { *this = std::move(other); }
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { Reset(); }

  T* data() const { return data_; }
  int64_t size() const { return size_; }
  // Host memory only: the elements as a span.
  absl::Span<T> span() const { return absl::Span<T>(data_, static_cast<size_t>(size_)); }
  // Frees the memory now; the buffer becomes empty.
  void Reset();

 private:
  friend class Backend;
  Buffer(Backend* owner, T* data, int64_t size) : owner_(owner), data_(data), size_(size) {}
  Backend* owner_ = nullptr;
  T* data_ = nullptr;
  int64_t size_ = 0;
};

template <typename T>
using DeviceBuffer = Buffer<T, MemoryKind::kDevice>;
// Pinned (page-locked) on CUDA; 64-byte aligned host memory on the CPU backend.
template <typename T>
using HostBuffer = Buffer<T, MemoryKind::kHost>;

// A stream (ops on one stream run in order; streams may overlap) or an event (a point in a
// stream that other streams or the host can wait for). Move-only; destroyed with its Backend's
// help.
template <HandleKind K>
class Handle {
 public:
  Handle() = default;
  Handle(Handle&& other) noexcept { *this = std::move(other); }
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { Reset(); }

  // The backend's own object (CUDA: a stream or event record); null when empty.
  void* native() const { return native_; }
  const Backend* owner() const { return owner_; }
  // Destroys the stream or event now; the handle becomes empty.
  void Reset();

 private:
  friend class Backend;
  Handle(Backend* owner, void* native) : owner_(owner), native_(native) {}
  Backend* owner_ = nullptr;
  void* native_ = nullptr;
};

using Stream = Handle<HandleKind::kStream>;
using Event = Handle<HandleKind::kEvent>;

class Backend {
 public:
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;
  virtual ~Backend() = default;

  // "cpu" or "cuda".
  virtual absl::string_view name() const = 0;
  // One line for logs, e.g. "NVIDIA H100 80GB HBM3, 79.1 GiB" or "AMD EPYC, 2 threads".
  virtual std::string description() const = 0;
  // The device's index among those of its kind: the CUDA ordinal; 0 for the CPU.
  virtual int device_index() const { return 0; }
  // True when device pointers are host pointers (CPU): callers may skip staging copies.
  virtual bool host_addressable() const = 0;
  // Makes this backend's device the calling thread's current device (CUDA: cudaSetDevice; the
  // CPU: nothing). A thread other than the creating one calls it before using the backend,
  // and so does a thread that uses backends of several devices, each time it switches.
  virtual absl::Status MakeCurrent() { return absl::OkStatus(); }

  // Uninitialised memory for n >= 0 elements; n == 0 gives an empty buffer.
  template <typename T>
  absl::StatusOr<DeviceBuffer<T>> AllocateDevice(int64_t n);
  template <typename T>
  absl::StatusOr<HostBuffer<T>> AllocateHost(int64_t n);

  absl::StatusOr<Stream> CreateStream();
  absl::StatusOr<Event> CreateEvent();
  // The stream the blocking copies use; also handy for code that needs no overlap.
  const Stream& default_stream() const { return default_stream_; }
  // Marks the current end of `stream` in `event`.
  absl::Status Record(const Event& event, const Stream& stream);
  // Makes later work on `stream` wait for `event` (no host wait); a never-recorded event is done.
  absl::Status Wait(const Stream& stream, const Event& event);
  // Whether the work before `event` has finished, without waiting.
  absl::StatusOr<bool> Query(const Event& event);
  // Host waits for `event` / for all work queued on `stream`.
  absl::Status Synchronize(const Event& event);
  absl::Status Synchronize(const Stream& stream);

  // Enqueues a copy of n elements. Host memory should come from AllocateHost for the copy to
  // overlap, and must stay valid and unchanged until the stream has passed the copy.
  template <typename T>
  absl::Status CopyAsync(const Stream& stream, CopyKind kind, T* dst, const T* src, int64_t n);
  // Copies n elements on the default stream and returns when they have arrived.
  template <typename T>
  absl::Status Copy(CopyKind kind, T* dst, const T* src, int64_t n);

  // C[m,n] = alpha * op(A) * op(B) + beta * C, op(X) = X or Xᵀ; op(A) is [m,k], op(B) is [k,n].
  // lda/ldb/ldc are the row strides of A, B, C as stored. beta == 0 ignores C's old contents.
  absl::Status Gemm(const Stream& s, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                    float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                    float beta, float* c, int64_t ldc);
  // y[r, c] += bias[c] for a contiguous y[rows, cols].
  absl::Status BiasAdd(const Stream& s, int64_t rows, int64_t cols, const float* bias, float* y);
  // y[r, c] = act(y[r, c] + bias[c]) in one pass (the fused bias+ReLU forward, and tanh/sigmoid).
  absl::Status BiasActivation(const Stream& s, Activation act, int64_t rows, int64_t cols,
                              const float* bias, float* y);
  // y = act(x) elementwise; y may be x.
  absl::Status ActivationForward(const Stream& s, Activation act, int64_t n, const float* x,
                                 float* y);
  // dx = dy * act'(.) computed from the activation's OUTPUT y; dx may be dy.
  absl::Status ActivationBackward(const Stream& s, Activation act, int64_t n, const float* y,
                                  const float* dy, float* dx);
  // db[c] = sum over r of dy[r, c] (the bias gradient).
  absl::Status BiasGrad(const Stream& s, int64_t rows, int64_t cols, const float* dy, float* db);
  // Softmax cross-entropy of logits[rows, classes] against labels in [0, classes), in the stable
  // max-subtracted form: *loss_sum (device) = summed loss over the rows; unless dlogits is null,
  // dlogits = (softmax - onehot) * scale (dlogits may be logits). Bad labels: CPU returns
  // InvalidArgument, CUDA yields a NaN loss.
  absl::Status SoftmaxXent(const Stream& s, int64_t rows, int64_t classes, const float* logits,
                           const int32_t* labels, float scale, float* dlogits, float* loss_sum);
  // *correct (device) = rows whose first maximal logit is at the label.
  absl::Status CountCorrect(const Stream& s, int64_t rows, int64_t classes, const float* logits,
                            const int32_t* labels, int32_t* correct);
  // x[i] = value.
  absl::Status Fill(const Stream& s, int64_t n, float value, float* x);
  // y += alpha * x.
  absl::Status Axpy(const Stream& s, int64_t n, float alpha, const float* x, float* y);
  // x *= alpha.
  absl::Status Scale(const Stream& s, int64_t n, float alpha, float* x);
  // SGD with momentum (PyTorch form): v = momentum * v + (g + weight_decay * p); p -= lr * v.
  absl::Status SgdMomentum(const Stream& s, int64_t n, float lr, float momentum, float weight_decay,
                           const float* grad, float* velocity, float* param);

  // Embedding bags over table rows [num_rows, dim] (row-major): for each bag b in
  // [0, num_bags), out[b, :] = sum over j in [bag_offsets[b], bag_offsets[b + 1]) of
  // weights[j] * rows[index[j], :], divided by the bag's entry count when `mean` (an empty bag
  // gives zeros). index [N] and weights [N] (null: every weight is 1) hold the bags' entries,
  // N = bag_offsets[num_bags]; bag_offsets is non-decreasing from 0 (both int32, device
  // memory; rows and index may be null when N == 0). An index outside [0, num_rows): CPU
  // returns InvalidArgument, CUDA is undefined.
  absl::Status EmbeddingBagForward(const Stream& s, const float* rows, int64_t num_rows,
                                   int64_t dim, const int32_t* index, const float* weights,
                                   const int32_t* bag_offsets, int64_t num_bags, bool mean,
                                   float* out);
  // The gradient of EmbeddingBagForward: for each entry j of bag b, drows[index[j], :] +=
  // weights[j] * dout[b, :] (/ count when `mean`). ADDS into drows [num_rows, dim]: the caller
  // zeroes it first (Fill). CUDA adds with atomicAdd, so a row shared by several entries sums
  // in an unspecified order (not bit-reproducible run to run); the CPU sums in entry order.
  absl::Status EmbeddingBagBackward(const Stream& s, const float* dout, int64_t num_rows,
                                    int64_t dim, const int32_t* index, const float* weights,
                                    const int32_t* bag_offsets, int64_t num_bags, bool mean,
                                    float* drows);

 protected:
  Backend() = default;
  // Derived constructors create the default stream with this (after they can make streams);
  // derived destructors call default_stream_.Reset() before releasing what DoDestroy needs.
  absl::Status InitDefaultStream();
  Stream default_stream_;

 private:
  template <typename T, MemoryKind M>
  friend class Buffer;
  template <HandleKind K>
  friend class Handle;

  absl::StatusOr<void*> AllocateBytes(MemoryKind kind, int64_t n, int64_t elem_bytes);
  absl::Status CheckStream(const Stream& s) const;
  absl::Status CopyBytes(const Stream& s, CopyKind kind, void* dst, const void* src, int64_t n,
                         int64_t elem_bytes);

  // Implementations, called with validated arguments and non-empty outputs (k of Gemm and the
  // rows of BiasGrad, SoftmaxXent and CountCorrect may be 0: outputs are still written).
  virtual absl::StatusOr<void*> DoAllocate(MemoryKind kind, int64_t bytes) = 0;
  virtual void DoFree(MemoryKind kind, void* p) = 0;
  virtual absl::StatusOr<void*> DoCreate(HandleKind kind) = 0;
  virtual void DoDestroy(HandleKind kind, void* native) = 0;
  virtual absl::Status DoRecord(void* event, void* stream) = 0;
  virtual absl::Status DoWait(void* stream, void* event) = 0;
  virtual absl::StatusOr<bool> DoQuery(void* event) = 0;
  virtual absl::Status DoSynchronize(HandleKind kind, void* native) = 0;
  virtual absl::Status DoCopy(void* stream, CopyKind kind, void* dst, const void* src,
                              int64_t bytes) = 0;
  virtual absl::Status DoGemm(void* s, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                              float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                              float beta, float* c, int64_t ldc) = 0;
  virtual absl::Status DoBiasActivation(void* s, bool activate, Activation act, int64_t rows,
                                        int64_t cols, const float* bias, float* y) = 0;
  virtual absl::Status DoActivationForward(void* s, Activation act, int64_t n, const float* x,
                                           float* y) = 0;
  virtual absl::Status DoActivationBackward(void* s, Activation act, int64_t n, const float* y,
                                            const float* dy, float* dx) = 0;
  virtual absl::Status DoBiasGrad(void* s, int64_t rows, int64_t cols, const float* dy,
                                  float* db) = 0;
  virtual absl::Status DoSoftmaxXent(void* s, int64_t rows, int64_t classes, const float* logits,
                                     const int32_t* labels, float scale, float* dlogits,
                                     float* loss_sum) = 0;
  virtual absl::Status DoCountCorrect(void* s, int64_t rows, int64_t classes, const float* logits,
                                      const int32_t* labels, int32_t* correct) = 0;
  virtual absl::Status DoFill(void* s, int64_t n, float value, float* x) = 0;
  virtual absl::Status DoAxpy(void* s, int64_t n, float alpha, const float* x, float* y) = 0;
  virtual absl::Status DoScale(void* s, int64_t n, float alpha, float* x) = 0;
  virtual absl::Status DoSgdMomentum(void* s, int64_t n, float lr, float momentum,
                                     float weight_decay, const float* grad, float* velocity,
                                     float* param) = 0;
  virtual absl::Status DoEmbeddingBagForward(void* s, const float* rows, int64_t num_rows,
                                             int64_t dim, const int32_t* index,
                                             const float* weights, const int32_t* bag_offsets,
                                             int64_t num_bags, bool mean, float* out) = 0;
  virtual absl::Status DoEmbeddingBagBackward(void* s, const float* dout, int64_t num_rows,
                                              int64_t dim, const int32_t* index,
                                              const float* weights, const int32_t* bag_offsets,
                                              int64_t num_bags, bool mean, float* drows) = 0;
};

// A compute device of this machine, as a node reports it when it registers.
struct DeviceInfo {
  DeviceKind kind = DeviceKind::kCpu;
  int index = 0;
  std::string name;  // "AMD EPYC 9R14", "NVIDIA H100 80GB HBM3"; "none" when no CUDA device
  int64_t memory_bytes = 0;
  bool usable = true;
  std::string detail;  // why the device is unusable, when it is
};

// ---------------------------------------------------------------------------------------------
// Template definitions.

template <typename T, MemoryKind M>
Buffer<T, M>& Buffer<T, M>::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    Reset();
    owner_ = std::exchange(other.owner_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

template <typename T, MemoryKind M>
void Buffer<T, M>::Reset() {
  if (data_ != nullptr) owner_->DoFree(M, data_);
  owner_ = nullptr;
  data_ = nullptr;
  size_ = 0;
}

template <HandleKind K>
Handle<K>& Handle<K>::operator=(Handle&& other) noexcept {
  if (this != &other) {
    Reset();
    owner_ = std::exchange(other.owner_, nullptr);
    native_ = std::exchange(other.native_, nullptr);
  }
  return *this;
}

template <HandleKind K>
void Handle<K>::Reset() {
  if (native_ != nullptr) owner_->DoDestroy(K, native_);
  owner_ = nullptr;
  native_ = nullptr;
}

template <typename T>
absl::StatusOr<DeviceBuffer<T>> Backend::AllocateDevice(int64_t n) {
  absl::StatusOr<void*> p = AllocateBytes(MemoryKind::kDevice, n, sizeof(T));
  if (!p.ok()) return p.status();
  return DeviceBuffer<T>(this, static_cast<T*>(*p), *p == nullptr ? 0 : n);
}

template <typename T>
absl::StatusOr<HostBuffer<T>> Backend::AllocateHost(int64_t n) {
  absl::StatusOr<void*> p = AllocateBytes(MemoryKind::kHost, n, sizeof(T));
  if (!p.ok()) return p.status();
  return HostBuffer<T>(this, static_cast<T*>(*p), *p == nullptr ? 0 : n);
}

template <typename T>
absl::Status Backend::CopyAsync(const Stream& stream, CopyKind kind, T* dst, const T* src,
                                int64_t n) {
  return CopyBytes(stream, kind, dst, src, n, sizeof(T));
}

template <typename T>
absl::Status Backend::Copy(CopyKind kind, T* dst, const T* src, int64_t n) {
  absl::Status status = CopyBytes(default_stream_, kind, dst, src, n, sizeof(T));
  if (!status.ok()) return status;
  return Synchronize(default_stream_);
}

}  // namespace psd::kernels

#endif  // PSD_KERNELS_BACKEND_H_
