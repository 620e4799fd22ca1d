// libFuzzer target: the model file loader (common/model_file.h), which `psdctl eval` and the
// export of a finished job read. Whatever the file holds, it is read whole and consistent, or
// refused with an error naming the file.
//
// Input: the file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/model_file.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = psd::fuzz::ScratchDir() + "/model.psdm";
  psd::fuzz::WriteFileOrDie(path, absl::string_view(reinterpret_cast<const char*>(data), size));
  absl::StatusOr<psd::ModelFile> model = psd::ReadModelFile(path);
  if (!model.ok()) {
    FUZZ_CHECK(absl::StrContains(model.status().message(), path), model.status().ToString());
    return 0;
  }
  FUZZ_CHECK(model->tensors.size() == model->values.size());
  for (size_t i = 0; i < model->tensors.size(); ++i) {
    const psd::TensorInfo& t = model->tensors[i];
    int64_t elements = 1;
    for (int64_t d : t.shape) {
      FUZZ_CHECK(d >= 0, absl::StrCat("tensor ", t.name, " has dimension ", d));
      elements *= d;
    }
    FUZZ_CHECK(elements == t.size, t.name);
    FUZZ_CHECK(static_cast<int64_t>(model->values[i].size()) == t.size, t.name);
  }
  return 0;
}
