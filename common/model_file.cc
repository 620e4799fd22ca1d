#include "common/model_file.h"

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/crc32c.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace psd {
namespace {

constexpr char kMagic[8] = {'P', 'S', 'D', 'M', 'O', 'D', 'E', 'L'};
constexpr uint32_t kVersion = 1;

// psd writes little-endian x86-64 and AArch64 only; integers are copied as stored.
template <typename T>
void Put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

class Reader {
 public:
  Reader(const std::string& path, absl::string_view data) : path_(path), data_(data) {}

  template <typename T>
  absl::StatusOr<T> Get(absl::string_view what) {
    T v;
    PSD_ASSIGN_OR_RETURN(absl::string_view b, Bytes(sizeof(T), what));
    std::memcpy(&v, b.data(), sizeof(T));
    return v;
  }

  absl::StatusOr<absl::string_view> Bytes(uint64_t n, absl::string_view what) {
    if (n > data_.size() - pos_) {
      return absl::DataLossError(
          absl::StrCat(path_, ": truncated at byte ", pos_, " while reading ", what));
    }
    absl::string_view b = data_.substr(pos_, n);
    pos_ += n;
    return b;
  }

  size_t pos() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }

 private:
  const std::string& path_;
  absl::string_view data_;
  size_t pos_ = 0;
};

}  // namespace

absl::Status WriteModelFile(const std::string& path, const ModelFile& model) {
  if (model.tensors.size() != model.values.size()) {
    return absl::InvalidArgumentError("model file: tensor and value counts differ");
  }
  std::string out(kMagic, sizeof(kMagic));
  Put<uint32_t>(out, kVersion);
  Put<uint32_t>(out, static_cast<uint32_t>(model.tensors.size()));
  Put<uint64_t>(out, model.spec_yaml.size());
  out += model.spec_yaml;
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    const TensorInfo& t = model.tensors[i];
    const std::vector<float>& v = model.values[i];
    if (static_cast<int64_t>(v.size()) != t.size) {
      return absl::InvalidArgumentError(absl::StrCat("model file: tensor ", t.name, " has ",
                                                     v.size(), " values, expected ", t.size));
    }
    Put<uint32_t>(out, static_cast<uint32_t>(t.name.size()));
    out += t.name;
    Put<uint32_t>(out, static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) Put<int64_t>(out, d);
    Put<uint64_t>(out, v.size());
    const size_t bytes = v.size() * sizeof(float);
    out.append(reinterpret_cast<const char*>(v.data()), bytes);
    Put<uint32_t>(out, Crc32c(v.data(), bytes));
  }
  Put<uint32_t>(out, Crc32c(out.data(), out.size()));
  return WriteFileAtomically(path, out);
}

absl::StatusOr<ModelFile> ReadModelFile(const std::string& path, int64_t max_bytes) {
  PSD_ASSIGN_OR_RETURN(std::string data, ReadRegularFile(path, max_bytes));
  Reader r(path, data);
  PSD_ASSIGN_OR_RETURN(absl::string_view magic, r.Bytes(sizeof(kMagic), "the magic"));
  if (magic != absl::string_view(kMagic, sizeof(kMagic))) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a psd model file (bad magic)"));
  }
  PSD_ASSIGN_OR_RETURN(uint32_t version, r.Get<uint32_t>("the version"));
  if (version != kVersion) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": model file version ", version,
                                                   " is not supported (expected ", kVersion, ")"));
  }
  ModelFile model;
  PSD_ASSIGN_OR_RETURN(uint32_t count, r.Get<uint32_t>("the tensor count"));
  PSD_ASSIGN_OR_RETURN(uint64_t yaml_size, r.Get<uint64_t>("the spec size"));
  PSD_ASSIGN_OR_RETURN(absl::string_view yaml, r.Bytes(yaml_size, "the job spec"));
  model.spec_yaml = std::string(yaml);
  for (uint32_t i = 0; i < count; ++i) {
    TensorInfo t;
    t.id = i;
    PSD_ASSIGN_OR_RETURN(uint32_t name_size, r.Get<uint32_t>("a tensor name size"));
    PSD_ASSIGN_OR_RETURN(absl::string_view name, r.Bytes(name_size, "a tensor name"));
    t.name = std::string(name);
    PSD_ASSIGN_OR_RETURN(uint32_t rank, r.Get<uint32_t>("a tensor rank"));
    t.size = 1;
    bool negative = false, too_large = false;
    for (uint32_t d = 0; d < rank; ++d) {
      PSD_ASSIGN_OR_RETURN(int64_t dim, r.Get<int64_t>("a tensor shape"));
      t.shape.push_back(dim);
      negative |= dim < 0;
      if (!negative && !too_large && dim > 0 &&
          t.size > std::numeric_limits<int64_t>::max() / dim) {
        too_large = true;
      }
      if (!negative && !too_large) t.size *= dim;
    }
    if (negative || too_large) {
      return absl::DataLossError(absl::StrCat(path, ": tensor ", t.name, ": shape ",
                                              absl::StrJoin(t.shape, " x "),
                                              negative ? " is negative" : " is too large"));
    }
    PSD_ASSIGN_OR_RETURN(uint64_t n, r.Get<uint64_t>("a tensor size"));
    if (n > r.remaining() / sizeof(float)) {  // before n * 4 can wrap
      return absl::DataLossError(absl::StrCat(path, ": truncated at byte ", r.pos(),
                                              " while reading ", t.name, " (", n, " values)"));
    }
    if (static_cast<int64_t>(n) != t.size) {
      return absl::DataLossError(absl::StrCat(path, ": tensor ", t.name, " has ", n,
                                              " values but its shape holds ", t.size));
    }
    PSD_ASSIGN_OR_RETURN(absl::string_view bytes, r.Bytes(n * sizeof(float), t.name));
    PSD_ASSIGN_OR_RETURN(uint32_t crc, r.Get<uint32_t>("a tensor checksum"));
    if (Crc32c(bytes.data(), bytes.size()) != crc) {
      return absl::DataLossError(absl::StrCat(path, ": tensor ", t.name, ": checksum mismatch"));
    }
    std::vector<float> values(n);
    // An empty tensor's vector has no storage: memcpy of a null pointer is undefined.
    if (n > 0) std::memcpy(values.data(), bytes.data(), bytes.size());
    model.tensors.push_back(std::move(t));
    model.values.push_back(std::move(values));
  }
  const size_t body = r.pos();
  PSD_ASSIGN_OR_RETURN(uint32_t crc, r.Get<uint32_t>("the file checksum"));
  if (Crc32c(data.data(), body) != crc) {
    return absl::DataLossError(absl::StrCat(path, ": file checksum mismatch"));
  }
  if (r.pos() != data.size()) {
    return absl::DataLossError(
        absl::StrCat(path, ": ", data.size() - r.pos(), " unexpected bytes after the last tensor"));
  }
  return model;
}

}  // namespace psd
