#include "worker/ctr_device_group.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/placement.h"
#include "common/status_macros.h"
#include "worker/device_group.h"

namespace psd {

namespace {

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("ctr device group: ", what));
}

}  // namespace

CtrDeviceGroup::CtrDeviceGroup(CtrModel* model) : devices_(1) { devices_[0].model = model; }

absl::StatusOr<std::unique_ptr<CtrDeviceGroup>> CtrDeviceGroup::Create(
    const CtrModelConfig& config, const std::vector<kernels::Backend*>& backends) {
  if (backends.empty()) return Invalid("no compute backend");
  const int n = static_cast<int>(backends.size());
  std::unique_ptr<CtrDeviceGroup> group(new CtrDeviceGroup());
  group->devices_.resize(n);
  // The group groups the union of the keys by server; the devices' own keys need no order,
  // but device 0 keeps the grouping for the batches it evaluates alone (primary()).
  CtrModelConfig device_config = config;
  device_config.key_groups = 1;
  for (int i = 0; i < n; ++i) {
    Device& d = group->devices_[i];
    d.backend = backends[i];
    if (n > 1 && d.backend != nullptr) {
      const absl::Status bound = d.backend->MakeCurrent();
      if (!bound.ok()) {
        return absl::Status(bound.code(), absl::StrCat("device ", i, ": ", bound.message()));
      }
    }
    absl::StatusOr<std::unique_ptr<CtrModel>> model =
        CtrModel::Create(i == 0 ? config : device_config, d.backend);
    if (!model.ok()) {
      if (n == 1) return model.status();
      return absl::Status(model.status().code(),
                          absl::StrCat("device ", i, ": ", model.status().message()));
    }
    d.owned = std::move(*model);
    d.model = d.owned.get();
  }
  if (n > 1) {
    // The calling thread runs primary() (evaluation) on device 0.
    if (backends[0] != nullptr) {
      const absl::Status bound = backends[0]->MakeCurrent();
      if (!bound.ok()) {
        return absl::Status(bound.code(), absl::StrCat("device 0: ", bound.message()));
      }
    }
    group->dense_grads_.resize(static_cast<size_t>(group->num_dense()));
    for (int t = 0; t < group->num_dense(); ++t) {
      group->dense_grads_[t].resize(group->primary().dense_param(t).size());
    }
    for (int i = 0; i < n; ++i) {
      group->devices_[i].thread = std::thread([g = group.get(), i] { g->Serve(i); });
    }
  }
  return group;
}

CtrDeviceGroup::~CtrDeviceGroup() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = true;
  }
  work_.notify_all();
  for (Device& d : devices_) {
    if (d.thread.joinable()) d.thread.join();
  }
}

void CtrDeviceGroup::Serve(int i) {
  Device& d = devices_[i];
  const absl::Status bound = d.backend == nullptr ? absl::OkStatus() : d.backend->MakeCurrent();
  int64_t seen = 0;
  for (;;) {
    std::function<absl::Status(int)> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_.wait(lock, [&] { return quit_ || d.assigned > seen; });
      if (quit_) return;
      seen = d.assigned;
      task = task_;
    }
    absl::Status status = bound.ok() ? task(i) : bound;
    {
      std::lock_guard<std::mutex> lock(mu_);
      d.status = std::move(status);
      --pending_;
    }
    done_.notify_all();
  }
}

absl::Status CtrDeviceGroup::RunOnDevices(const std::function<absl::Status(int)>& task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    task_ = task;
    pending_ = active_;
    for (int i = 0; i < active_; ++i) ++devices_[i].assigned;
  }
  work_.notify_all();
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return pending_ == 0; });
  task_ = nullptr;
  for (int i = 0; i < active_; ++i) {
    const absl::Status& s = devices_[i].status;
    if (!s.ok()) return absl::Status(s.code(), absl::StrCat("device ", i, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status CtrDeviceGroup::SetBatch(const CtrBatch& batch) {
  if (size() == 1) return primary().SetBatch(batch);
  has_batch_ = false;
  // The batch is sliced before any device checks it.
  if (absl::Status shape = CheckBatchShape(batch); !shape.ok()) return Invalid(shape.message());
  const int64_t rows = batch.rows();
  active_ = static_cast<int>(std::min<int64_t>(size(), rows));
  for (int i = 0; i < active_; ++i) {
    const ShardRows s = ShardOf(rows, size(), i);
    devices_[i].first_row = s.first;
    devices_[i].rows = s.count;
  }
  const int groups = config().key_groups;
  unique_.Build(batch.keys, groups, [groups](uint64_t key) { return SparseOwner(key, groups); });
  PSD_RETURN_IF_ERROR(RunOnDevices([&](int i) { return SetSlice(i, batch); }));
  const size_t width = unique_.keys().size() * static_cast<size_t>(row_dim());
  rows_.resize(width);
  row_grads_.resize(width);
  probabilities_.resize(static_cast<size_t>(rows));
  batch_rows_ = rows;
  has_batch_ = true;
  return absl::OkStatus();
}

absl::Status CtrDeviceGroup::SetSlice(int i, const CtrBatch& batch) {
  Device& d = devices_[i];
  const int64_t first = d.first_row, count = d.rows;
  const int64_t dd = batch.dense_dim;
  const int64_t k0 = batch.row_offsets[first], k1 = batch.row_offsets[first + count];
  CtrBatch& s = d.slice;
  s.dense_dim = batch.dense_dim;
  s.labels.assign(batch.labels.begin() + first, batch.labels.begin() + first + count);
  s.dense.assign(batch.dense.begin() + first * dd, batch.dense.begin() + (first + count) * dd);
  s.keys.assign(batch.keys.begin() + k0, batch.keys.begin() + k1);
  s.values.assign(batch.values.begin() + k0, batch.values.begin() + k1);
  s.row_offsets.resize(static_cast<size_t>(count) + 1);
  for (int64_t r = 0; r <= count; ++r) s.row_offsets[r] = batch.row_offsets[first + r] - k0;
  const absl::Status set = d.model->SetBatch(s);
  if (!set.ok()) {
    return absl::Status(set.code(), absl::StrCat("rows ", first, " to ", first + count - 1,
                                                 " of the batch: ", set.message()));
  }
  // Key j of the slice is key k0 + j of the batch: its device row and its group row.
  const absl::Span<const int32_t> local = d.model->key_index();
  const absl::Span<const int32_t> global = unique_.index();
  d.to_group.resize(d.model->unique_keys().size());
  for (int64_t j = 0; j < k1 - k0; ++j) d.to_group[local[j]] = global[k0 + j];
  return absl::OkStatus();
}

absl::Status CtrDeviceGroup::TrainSlice(int i) {
  Device& d = devices_[i];
  CtrModel& m = *d.model;
  const size_t rd = static_cast<size_t>(row_dim());
  const absl::Span<float> out = m.rows();
  for (size_t u = 0; u < d.to_group.size(); ++u) {
    std::copy_n(rows_.data() + static_cast<size_t>(d.to_group[u]) * rd, rd, out.data() + u * rd);
  }
  if (i > 0) {
    for (int t = 0; t < num_dense(); ++t) {
      const absl::Span<const float> from = primary().dense_param(t);
      std::copy(from.begin(), from.end(), m.dense_param(t).begin());
    }
  }
  PSD_ASSIGN_OR_RETURN(d.result, m.TrainStep(batch_rows_));
  return absl::OkStatus();
}

absl::StatusOr<CtrModel::Result> CtrDeviceGroup::TrainStep() {
  if (size() == 1) return primary().TrainStep();
  if (!has_batch_) return absl::FailedPreconditionError("ctr device group: no batch is set");
  // Device 0's dense parameters are read by the others while it trains (reads only).
  PSD_RETURN_IF_ERROR(RunOnDevices([this](int i) { return TrainSlice(i); }));
  CtrModel::Result total;
  const size_t rd = static_cast<size_t>(row_dim());
  std::fill(row_grads_.begin(), row_grads_.end(), 0.0f);
  for (int t = 0; t < num_dense(); ++t) {
    std::fill(dense_grads_[t].begin(), dense_grads_[t].end(), 0.0f);
  }
  for (int i = 0; i < active_; ++i) {
    const Device& d = devices_[i];
    total.loss_sum += d.result.loss_sum;
    total.examples += d.result.examples;
    for (int t = 0; t < num_dense(); ++t) {
      const absl::Span<const float> g = d.model->dense_grad(t);
      float* sum = dense_grads_[t].data();
      for (size_t k = 0; k < g.size(); ++k) sum[k] += g[k];
    }
    const absl::Span<const float> g = d.model->row_grads();
    for (size_t u = 0; u < d.to_group.size(); ++u) {
      float* __restrict__ sum = row_grads_.data() + static_cast<size_t>(d.to_group[u]) * rd;
      const float* __restrict__ from = g.data() + u * rd;
      for (size_t k = 0; k < rd; ++k) sum[k] += from[k];
    }
    const absl::Span<const float> p = d.model->probabilities();
    std::copy(p.begin(), p.end(), probabilities_.begin() + d.first_row);
  }
  return total;
}

absl::Span<const uint64_t> CtrDeviceGroup::unique_keys() const {
  if (size() == 1) return primary().unique_keys();
  return unique_.keys();
}

absl::Span<float> CtrDeviceGroup::rows() {
  if (size() == 1) return primary().rows();
  return absl::MakeSpan(rows_);
}

absl::Span<const float> CtrDeviceGroup::row_grads() const {
  if (size() == 1) return primary().row_grads();
  return row_grads_;
}

absl::Span<const float> CtrDeviceGroup::dense_grad(int t) const {
  if (size() == 1) return primary().dense_grad(t);
  if (t < 0 || t >= num_dense()) return {};
  return dense_grads_[t];
}

absl::Span<const float> CtrDeviceGroup::probabilities() const {
  if (size() == 1) return primary().probabilities();
  return probabilities_;
}

}  // namespace psd
