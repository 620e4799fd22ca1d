// Argument checks shared by every backend; the work itself is in the Do* overrides.
#include "kernels/backend.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace psd::kernels {
namespace {

constexpr int64_t kMaxInt = std::numeric_limits<int>::max();

absl::Status Invalid(absl::string_view op, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(op, ": ", what));
}

// Sizes must be >= 0 and fit the int that BLAS and CUDA launchers take.
absl::Status CheckSize(absl::string_view op, absl::string_view name, int64_t v) {
  if (v < 0 || v > kMaxInt) {
    return Invalid(op, absl::StrCat(name, " must be in [0, ", kMaxInt, "], got ", v));
  }
  return absl::OkStatus();
}

absl::Status CheckPtr(absl::string_view op, absl::string_view name, const void* p) {
  if (p == nullptr) return Invalid(op, absl::StrCat(name, " is null"));
  return absl::OkStatus();
}

absl::Status CheckLd(absl::string_view op, absl::string_view name, int64_t ld, int64_t cols) {
  const int64_t min = cols > 1 ? cols : 1;
  if (ld < min || ld > kMaxInt) {
    return Invalid(op, absl::StrCat(name, " must be at least ", min, ", got ", ld));
  }
  return absl::OkStatus();
}

absl::Status CheckMatrix(absl::string_view op, int64_t rows, int64_t cols) {
  if (absl::Status s = CheckSize(op, "rows", rows); !s.ok()) return s;
  if (absl::Status s = CheckSize(op, "cols", cols); !s.ok()) return s;
  if (rows * cols > kMaxInt) {
    return Invalid(op, absl::StrCat(rows, "x", cols, " has more than ", kMaxInt, " elements"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Backend::InitDefaultStream() {
  absl::StatusOr<Stream> s = CreateStream();
  if (!s.ok()) return s.status();
  default_stream_ = std::move(*s);
  return absl::OkStatus();
}

absl::StatusOr<void*> Backend::AllocateBytes(MemoryKind kind, int64_t n, int64_t elem_bytes) {
  const absl::string_view op = kind == MemoryKind::kDevice ? "AllocateDevice" : "AllocateHost";
  if (n < 0 || n > std::numeric_limits<int64_t>::max() / elem_bytes) {
    return Invalid(op, absl::StrCat("bad element count ", n));
  }
  if (n == 0) return nullptr;
  return DoAllocate(kind, n * elem_bytes);
}

absl::StatusOr<Stream> Backend::CreateStream() {
  absl::StatusOr<void*> native = DoCreate(HandleKind::kStream);
  if (!native.ok()) return native.status();
  return Stream(this, *native);
}

absl::StatusOr<Event> Backend::CreateEvent() {
  absl::StatusOr<void*> native = DoCreate(HandleKind::kEvent);
  if (!native.ok()) return native.status();
  return Event(this, *native);
}

absl::Status Backend::CheckStream(const Stream& s) const {
  if (s.native() == nullptr || s.owner() != this) {
    return absl::InvalidArgumentError(
        absl::StrCat(name(), " backend: the stream is empty or belongs to another backend"));
  }
  return absl::OkStatus();
}

absl::Status Backend::Record(const Event& event, const Stream& stream) {
  PSD_RETURN_IF_ERROR(CheckStream(stream));
  if (event.native() == nullptr || event.owner() != this) return Invalid("Record", "bad event");
  return DoRecord(event.native(), stream.native());
}

absl::Status Backend::Wait(const Stream& stream, const Event& event) {
  PSD_RETURN_IF_ERROR(CheckStream(stream));
  if (event.native() == nullptr || event.owner() != this) return Invalid("Wait", "bad event");
  return DoWait(stream.native(), event.native());
}

absl::StatusOr<bool> Backend::Query(const Event& event) {
  if (event.native() == nullptr || event.owner() != this) return Invalid("Query", "bad event");
  return DoQuery(event.native());
}

absl::Status Backend::Synchronize(const Event& event) {
  if (event.native() == nullptr || event.owner() != this) {
    return Invalid("Synchronize", "bad event");
  }
  return DoSynchronize(HandleKind::kEvent, event.native());
}

absl::Status Backend::Synchronize(const Stream& stream) {
  PSD_RETURN_IF_ERROR(CheckStream(stream));
  return DoSynchronize(HandleKind::kStream, stream.native());
}

absl::Status Backend::CopyBytes(const Stream& s, CopyKind kind, void* dst, const void* src,
                                int64_t n, int64_t elem_bytes) {
  PSD_RETURN_IF_ERROR(CheckStream(s));
  if (n < 0 || n > std::numeric_limits<int64_t>::max() / elem_bytes) {
    return Invalid("Copy", absl::StrCat("bad element count ", n));
  }
  if (n == 0) return absl::OkStatus();
  PSD_RETURN_IF_ERROR(CheckPtr("Copy", "dst", dst));
  PSD_RETURN_IF_ERROR(CheckPtr("Copy", "src", src));
  return DoCopy(s.native(), kind, dst, src, n * elem_bytes);
}

absl::Status Backend::Gemm(const Stream& s, bool trans_a, bool trans_b, int64_t m, int64_t n,
                           int64_t k, float alpha, const float* a, int64_t lda, const float* b,
                           int64_t ldb, float beta, float* c, int64_t ldc) {
  PSD_RETURN_IF_ERROR(CheckStream(s));
  PSD_RETURN_IF_ERROR(CheckSize("Gemm", "m", m));
  PSD_RETURN_IF_ERROR(CheckSize("Gemm", "n", n));
  PSD_RETURN_IF_ERROR(CheckSize("Gemm", "k", k));
  // Row strides of the matrices as stored: A is [m,k] or, transposed, [k,m]; likewise B.
  PSD_RETURN_IF_ERROR(CheckLd("Gemm", "lda", lda, trans_a ? m : k));
  PSD_RETURN_IF_ERROR(CheckLd("Gemm", "ldb", ldb, trans_b ? k : n));
  PSD_RETURN_IF_ERROR(CheckLd("Gemm", "ldc", ldc, n));
  if (m == 0 || n == 0) return absl::OkStatus();
  PSD_RETURN_IF_ERROR(CheckPtr("Gemm", "C", c));
  if (k > 0) {
    PSD_RETURN_IF_ERROR(CheckPtr("Gemm", "A", a));
    PSD_RETURN_IF_ERROR(CheckPtr("Gemm", "B", b));
  }
  return DoGemm(s.native(), trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

absl::Status Backend::BiasAdd(const Stream& s, int64_t rows, int64_t cols, const float* bias,
                              float* y) {
  PSD_RETURN_IF_ERROR(CheckStream(s));
  PSD_RETURN_IF_ERROR(CheckMatrix("BiasAdd", rows, cols));
  if (rows == 0 || cols == 0) return absl::OkStatus();
  PSD_RETURN_IF_ERROR(CheckPtr("BiasAdd", "bias", bias));
  PSD_RETURN_IF_ERROR(CheckPtr("BiasAdd", "y", y));
  return DoBiasActivation(s.native(), false, Activation::kRelu, rows, cols, bias, y);
}

absl::Status Backend::BiasActivation(const Stream& s, Activation act, int64_t rows, int64_t cols,
                                     const float* bias, float* y) {
  PSD_RETURN_IF_ERROR(CheckStream(s));
  PSD_RETURN_IF_ERROR(CheckMatrix("BiasActivation", rows, cols));
  if (rows == 0 || cols == 0) return absl::OkStatus();
  PSD_RETURN_IF_ERROR(CheckPtr("BiasActivation", "bias", bias));
  PSD_RETURN_IF_ERROR(CheckPtr("BiasActivation", "y", y));
  return DoBiasActivation(s.native(), true, act, rows, cols, bias, y);
}

absl::Status Backend::ActivationForward(const Stream& s, Activation act, int64_t n, const float* x,
                                        float* y) {
  PSD_RETURN_IF_ERROR(CheckStream(s));
  PSD_RETURN_IF_ERROR(CheckSize("ActivationForward", "n", n));
  if (n == 0) return absl::OkStatus();
  PSD_RETURN_IF_ERROR(CheckPtr("ActivationForward", "x", x));
  PSD_RETURN_IF_ERROR(CheckPtr("ActivationForward", "y", y));
  return DoActivationForward(s.native(), act, n, x, y);
}

absl::Status Backend::ActivationBackward(const Stream& s, Activation act, int64_t n, const float* y,
                                         const float* dy, float* dx) {
  PSD_RETURN_IF_ERROR(CheckStream(s));
  PSD_RETURN_IF_ERROR(CheckSize("ActivationBackward", "n", n));
  if (n == 0) return absl::OkStatus();
  PSD_RETURN_IF_ERROR(CheckPtr("ActivationBackward", "y", y));
  PSD_RETURN_IF_ERROR(CheckPtr("ActivationBackward", "dy", dy));
  PSD_RETURN_IF_ERROR(CheckPtr("ActivationBackward", "dx", dx));
  return DoActivationBackward(s.native(), act, n, y, dy, dx);
}

absl::Status Backend::BiasGrad(const Stream& s, int64_t rows, int64_t cols, const float* dy,
                               float* db) {
  PSD_RETURN_IF_ERROR(CheckStream(s));
  PSD_RETURN_IF_ERROR(CheckMatrix("BiasGrad", rows, cols));
  if (cols == 0) return absl::OkStatus();
  PSD_RETURN_IF_ERROR(CheckPtr("BiasGrad", "db", db));
  if (rows > 0) PSD_RETURN_IF_ERROR(CheckPtr("BiasGrad", "dy", dy));
  return DoBiasGrad(s.native(), rows, cols, dy, db);
}

absl::Status Backend::SoftmaxXent(const Stream& s, int64_t rows, int64_t classes,
                                  const float* logits, const int32_t* labels, float scale,
                                  float* dlogits, float* loss_sum) {
  PSD_RETURN_IF_ERROR(CheckStream(s));
  PSD_RETURN_IF_ERROR(CheckMatrix("SoftmaxXent", rows, classes));
  if (classes < 1) return Invalid("SoftmaxXent", "classes must be at least 1");
  PSD_RETURN_IF_ERROR(CheckPtr("SoftmaxXent", "loss_sum", loss_sum));
  if (rows > 0) {
    PSD_RETURN_IF_ERROR(CheckPtr("SoftmaxXent", "logits", logits));
    PSD_RETURN_IF_ERROR(CheckPtr("SoftmaxXent", "labels", labels));
  }
  return DoSoftmaxXent(s.native(), rows, classes, logits, labels, scale, dlogits, loss_sum);
}

absl::Status Backend::CountCorrect(const Stream& s, int64_t rows, int64_t classes,
                                   const float* logits, const int32_t* labels, int32_t* correct) {
  PSD_RETURN_IF_ERROR(CheckStream(s));
  PSD_RETURN_IF_ERROR(CheckMatrix("CountCorrect", rows, classes));
  if (classes < 1) return Invalid("CountCorrect", "classes must be at least 1");
  PSD_RETURN_IF_ERROR(CheckPtr("CountCorrect", "correct", correct));
  if (rows > 0) {
    PSD_RETURN_IF_ERROR(CheckPtr("CountCorrect", "logits", logits));
    PSD_RETURN_IF_ERROR(CheckPtr("CountCorrect", "labels", labels));
  }
  return DoCountCorrect(s.native(), rows, classes, logits, labels, correct);
}

absl::Status Backend::Fill(const Stream& s, int64_t n, float value, float* x) {
  PSD_RETURN_IF_ERROR(CheckStream(s));
  PSD_RETURN_IF_ERROR(CheckSize("Fill", "n", n));
  if (n == 0) return absl::OkStatus();
  PSD_RETURN_IF_ERROR(CheckPtr("Fill", "x", x));
  return DoFill(s.native(), n, value, x);
}

absl::Status Backend::Axpy(const Stream& s, int64_t n, float alpha, const float* x, float* y) {
  PSD_RETURN_IF_ERROR(CheckStream(s));
  PSD_RETURN_IF_ERROR(CheckSize("Axpy", "n", n));
  if (n == 0) return absl::OkStatus();
  PSD_RETURN_IF_ERROR(CheckPtr("Axpy", "x", x));
  PSD_RETURN_IF_ERROR(CheckPtr("Axpy", "y", y));
  return DoAxpy(s.native(), n, alpha, x, y);
}

absl::Status Backend::Scale(const Stream& s, int64_t n, float alpha, float* x) {
  PSD_RETURN_IF_ERROR(CheckStream(s));
  PSD_RETURN_IF_ERROR(CheckSize("Scale", "n", n));
  if (n == 0) return absl::OkStatus();
  PSD_RETURN_IF_ERROR(CheckPtr("Scale", "x", x));
  return DoScale(s.native(), n, alpha, x);
}

absl::Status Backend::SgdMomentum(const Stream& s, int64_t n, float lr, float momentum,
                                  float weight_decay, const float* grad, float* velocity,
                                  float* param) {
  PSD_RETURN_IF_ERROR(CheckStream(s));
  PSD_RETURN_IF_ERROR(CheckSize("SgdMomentum", "n", n));
  if (n == 0) return absl::OkStatus();
  PSD_RETURN_IF_ERROR(CheckPtr("SgdMomentum", "grad", grad));
  PSD_RETURN_IF_ERROR(CheckPtr("SgdMomentum", "velocity", velocity));
  PSD_RETURN_IF_ERROR(CheckPtr("SgdMomentum", "param", param));
  return DoSgdMomentum(s.native(), n, lr, momentum, weight_decay, grad, velocity, param);
}

absl::Status Backend::EmbeddingBagForward(const Stream& s, const float* rows, int64_t num_rows,
                                          int64_t dim, const int32_t* index, const float* weights,
                                          const int32_t* bag_offsets, int64_t num_bags, bool mean,
                                          float* out) {
  constexpr absl::string_view kOp = "EmbeddingBagForward";
  PSD_RETURN_IF_ERROR(CheckStream(s));
  PSD_RETURN_IF_ERROR(CheckMatrix(kOp, num_rows, dim));
  PSD_RETURN_IF_ERROR(CheckMatrix(kOp, num_bags, dim));
  if (num_bags == 0 || dim == 0) return absl::OkStatus();
  PSD_RETURN_IF_ERROR(CheckPtr(kOp, "bag_offsets", bag_offsets));
  PSD_RETURN_IF_ERROR(CheckPtr(kOp, "out", out));
  // rows and index may be null when every bag is empty (N == 0): nothing reads them then.
  return DoEmbeddingBagForward(s.native(), rows, num_rows, dim, index, weights, bag_offsets,
                               num_bags, mean, out);
}

absl::Status Backend::EmbeddingBagBackward(const Stream& s, const float* dout, int64_t num_rows,
                                           int64_t dim, const int32_t* index, const float* weights,
                                           const int32_t* bag_offsets, int64_t num_bags, bool mean,
                                           float* drows) {
  constexpr absl::string_view kOp = "EmbeddingBagBackward";
  PSD_RETURN_IF_ERROR(CheckStream(s));
  PSD_RETURN_IF_ERROR(CheckMatrix(kOp, num_rows, dim));
  PSD_RETURN_IF_ERROR(CheckMatrix(kOp, num_bags, dim));
  if (num_bags == 0 || dim == 0 || num_rows == 0) return absl::OkStatus();
  PSD_RETURN_IF_ERROR(CheckPtr(kOp, "dout", dout));
  PSD_RETURN_IF_ERROR(CheckPtr(kOp, "bag_offsets", bag_offsets));
  PSD_RETURN_IF_ERROR(CheckPtr(kOp, "drows", drows));
  return DoEmbeddingBagBackward(s.native(), dout, num_rows, dim, index, weights, bag_offsets,
                                num_bags, mean, drows);
}

}  // namespace psd::kernels
