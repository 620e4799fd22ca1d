#include "common/job_spec.h"

namespace psd {

std::vector<int> ModelSpec::LayerSizes() const {
  std::vector<int> sizes = {input_dim};
  if (type == ModelType::kMlp) sizes.insert(sizes.end(), hidden.begin(), hidden.end());
  sizes.push_back(num_classes);
  return sizes;
}

}  // namespace psd
