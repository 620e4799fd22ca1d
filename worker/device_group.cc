#include "worker/device_group.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace psd {

ShardRows ShardOf(int64_t batch, int devices, int device) {
  const int64_t base = batch / devices, extra = batch % devices;
  ShardRows s;
  s.first = device * base + std::min<int64_t>(device, extra);
  s.count = base + (device < extra ? 1 : 0);
  return s;
}

std::string ShardSizes(int64_t batch, int devices) {
  const int64_t largest = ShardOf(batch, devices, 0).count;
  const int64_t smallest = ShardOf(batch, devices, devices - 1).count;
  return largest == smallest ? absl::StrCat(smallest) : absl::StrCat(smallest, " or ", largest);
}

DeviceGroup::DeviceGroup(Model* model) : max_batch_(model->max_batch()), replicas_(1) {
  replicas_[0].model = model;
}

absl::StatusOr<std::unique_ptr<DeviceGroup>> DeviceGroup::Create(
    const ModelSpec& spec, const std::vector<kernels::Backend*>& backends, int max_batch) {
  if (backends.empty()) return absl::InvalidArgumentError("device group: no compute backend");
  if (max_batch < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("device group: max_batch must be at least 1, got ", max_batch));
  }
  const int n = static_cast<int>(backends.size());
  std::unique_ptr<DeviceGroup> group(new DeviceGroup());
  group->max_batch_ = max_batch;
  group->replicas_.resize(n);
  // Device 0 takes the largest shard.
  const int shard = static_cast<int>(ShardOf(max_batch, n, 0).count);
  for (int i = 0; i < n; ++i) {
    Replica& r = group->replicas_[i];
    r.backend = backends[i];
    if (r.backend == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("device group: no backend for device ", i));
    }
    PSD_RETURN_IF_ERROR(group->Enter(i));
    absl::StatusOr<std::unique_ptr<Model>> model = Model::Create(spec, r.backend, shard);
    if (!model.ok()) {
      return absl::Status(model.status().code(),
                          absl::StrCat("device ", i, ": ", model.status().message()));
    }
    r.owned = std::move(*model);
    r.model = r.owned.get();
  }
  if (n > 1) {
    for (const TensorInfo& t : group->tensors()) group->sums_.emplace_back(t.size);
    group->ready_.assign(group->tensors().size(), 0);
    for (int i = 0; i < n; ++i) {
      group->replicas_[i].thread = std::thread([g = group.get(), i] { g->Serve(i); });
    }
  }
  return group;
}

DeviceGroup::~DeviceGroup() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = true;
  }
  work_.notify_all();
  for (Replica& r : replicas_) {
    if (r.thread.joinable()) r.thread.join();
  }
}

absl::Status DeviceGroup::Enter(int i) {
  if (replicas_.size() < 2 || replicas_[i].backend == nullptr) return absl::OkStatus();
  absl::Status s = replicas_[i].backend->MakeCurrent();
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("device ", i, ": ", s.message()));
  return s;
}

void DeviceGroup::Serve(int i) {
  Replica& r = replicas_[i];
  const absl::Status bound = Enter(i);
  int64_t seen = 0;
  for (;;) {
    absl::Span<const float> x;
    absl::Span<const int32_t> y;
    int64_t mean_over = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_.wait(lock, [&] { return quit_ || r.assigned > seen; });
      if (quit_) return;
      seen = r.assigned;
      x = r.x;
      y = r.y;
      mean_over = mean_over_;
    }
    absl::StatusOr<StepResult> result = absl::UnknownError("not run");
    if (!bound.ok()) {
      result = bound;
    } else {
      result = r.model->TrainStep(
          x, y,
          [&](uint32_t id) {
            {
              std::lock_guard<std::mutex> lock(mu_);
              ++ready_[id];
            }
            done_.notify_all();
          },
          mean_over);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!result.ok()) {
        failed_ = true;
        result = absl::Status(result.status().code(),
                              absl::StrCat("device ", i, ": ", result.status().message()));
      }
      r.result = std::move(result);
      ++finished_;
    }
    done_.notify_all();
  }
}

absl::Status DeviceGroup::SetParam(uint32_t id, absl::Span<const float> values) {
  for (int i = 0; i < size(); ++i) {
    PSD_RETURN_IF_ERROR(Enter(i));
    PSD_RETURN_IF_ERROR(replicas_[i].model->SetParam(id, values));
  }
  return absl::OkStatus();
}

absl::Status DeviceGroup::InitParams(uint64_t seed) {
  for (int i = 0; i < size(); ++i) {
    PSD_RETURN_IF_ERROR(Enter(i));
    PSD_RETURN_IF_ERROR(replicas_[i].model->InitParams(seed));
  }
  return absl::OkStatus();
}

absl::Status DeviceGroup::GetParam(uint32_t id, absl::Span<float> out) {
  PSD_RETURN_IF_ERROR(Enter(0));
  return primary().GetParam(id, out);
}

absl::StatusOr<StepResult> DeviceGroup::Evaluate(absl::Span<const float> inputs,
                                                 absl::Span<const int32_t> labels) {
  PSD_RETURN_IF_ERROR(Enter(0));
  return primary().Evaluate(inputs, labels);
}

absl::Span<const float> DeviceGroup::HostGrad(uint32_t id) const {
  if (replicas_.size() == 1) return primary().HostGrad(id);
  if (id >= sums_.size()) return {};
  return absl::MakeConstSpan(sums_[id]);
}

void DeviceGroup::Sum(uint32_t id, int active) {
  float* out = sums_[id].data();
  const int64_t n = static_cast<int64_t>(sums_[id].size());
  const float* first = replicas_[0].model->HostGrad(id).data();
  std::copy(first, first + n, out);
  for (int i = 1; i < active; ++i) {
    const float* g = replicas_[i].model->HostGrad(id).data();
    for (int64_t k = 0; k < n; ++k) out[k] += g[k];
  }
}

absl::StatusOr<StepResult> DeviceGroup::TrainStep(absl::Span<const float> inputs,
                                                  absl::Span<const int32_t> labels,
                                                  const GradReadyFn& on_grad_ready) {
  if (replicas_.size() == 1) return primary().TrainStep(inputs, labels, on_grad_ready);
  const int64_t batch = static_cast<int64_t>(labels.size());
  if (batch < 1 || batch > max_batch_) {
    return absl::InvalidArgumentError(
        absl::StrCat("device group: need 1 to ", max_batch_, " examples, got ", batch));
  }
  const int64_t dim = input_dim();
  if (static_cast<int64_t>(inputs.size()) != batch * dim) {
    return absl::InvalidArgumentError(absl::StrCat("device group: ", batch, " examples of ", dim,
                                                   " inputs need ", batch * dim, " values, got ",
                                                   inputs.size()));
  }
  const int active = static_cast<int>(std::min<int64_t>(size(), batch));
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::fill(ready_.begin(), ready_.end(), 0);
    finished_ = 0;
    failed_ = false;
    mean_over_ = batch;
    for (int i = 0; i < active; ++i) {
      Replica& r = replicas_[i];
      const ShardRows s = ShardOf(batch, size(), i);
      r.x = inputs.subspan(s.first * dim, s.count * dim);
      r.y = labels.subspan(s.first, s.count);
      ++r.assigned;
    }
  }
  work_.notify_all();
  // Tensors in the order every replica produces them (Model: descending ids).
  for (uint32_t id = static_cast<uint32_t>(ready_.size()); id-- > 0;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      done_.wait(lock, [&] { return ready_[id] == active || failed_; });
      if (failed_) break;
    }
    Sum(id, active);
    if (on_grad_ready) on_grad_ready(id);
  }
  // The replicas read the caller's batch until they finish.
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return finished_ == active; });
  StepResult total;
  for (int i = 0; i < active; ++i) {
    const absl::StatusOr<StepResult>& r = replicas_[i].result;
    if (!r.ok()) return r.status();
    total.loss_sum += r->loss_sum;
    total.correct += r->correct;
    total.examples += r->examples;
  }
  return total;
}

}  // namespace psd
