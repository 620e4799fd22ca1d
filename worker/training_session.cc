#include "worker/training_session.h"

#include <spdlog/spdlog.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/select.h"
#include "worker/local_exchange.h"
#include "worker/remote_exchange.h"

namespace psd {

kernels::DeviceKind BackendKind(DeviceKind device) {
  switch (device) {
    case DeviceKind::kCpu:
      return kernels::DeviceKind::kCpu;
    case DeviceKind::kCuda:
      return kernels::DeviceKind::kCuda;
    case DeviceKind::kAuto:
      break;
  }
  return kernels::DeviceKind::kAuto;
}

absl::StatusOr<std::unique_ptr<TrainingSession>> TrainingSession::Create(const JobSpec& spec,
                                                                         const Dataset& train,
                                                                         const Dataset* test,
                                                                         SessionOptions options) {
  if (options.servers.empty() && options.workers != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("without parameter servers there is one worker, not ", options.workers));
  }
  PSD_ASSIGN_OR_RETURN(Placement placement, Placement::ForJob(spec));
  std::unique_ptr<TrainingSession> session(new TrainingSession(std::move(placement)));
  const int devices = spec.cluster.devices_per_worker;
  PSD_ASSIGN_OR_RETURN(session->backends_, kernels::CreateBackends(BackendKind(spec.cluster.device),
                                                                   options.cpu_threads, devices));
  if (devices == 1) {
    PSD_ASSIGN_OR_RETURN(session->model_, Model::Create(spec.model, session->backends_[0].get(),
                                                        spec.training.batch_size));
    session->devices_ = std::make_unique<DeviceGroup>(session->model_.get());
  } else {
    std::vector<kernels::Backend*> backends;
    for (const auto& b : session->backends_) backends.push_back(b.get());
    PSD_ASSIGN_OR_RETURN(session->devices_,
                         DeviceGroup::Create(spec.model, backends, spec.training.batch_size));
    spdlog::info(
        "worker {}: {} {} devices, the batch of {} split into shards of {}; their gradients "
        "summed here and pushed once",
        options.rank, devices, std::string(session->backends_[0]->name()), spec.training.batch_size,
        ShardSizes(spec.training.batch_size, devices));
  }
  const int64_t total = PlannedSteps(spec, train.count, options.workers);
  if (options.servers.empty()) {
    session->exchange_ =
        std::make_unique<LocalExchange>(spec, session->placement_.tensors(), total);
  } else {
    options.client.worker = options.rank;
    options.client.metrics = options.metrics;
    options.client.trace = options.trace;
    options.client.total_steps = total;
    SetWireOptions(spec.cluster, &options.client);
    PSD_ASSIGN_OR_RETURN(std::unique_ptr<PsClient> client,
                         PsClient::Create(&session->placement_, std::move(options.servers),
                                          std::move(options.client)));
    session->exchange_ = std::make_unique<RemoteExchange>(std::move(client));
  }
  session->trainer_ = std::make_unique<Trainer>(spec, options.rank, options.workers, train,
                                                options.rank == 0 ? test : nullptr,
                                                session->devices_.get(), session->exchange_.get());
  session->trainer_->set_slowdown(options.slowdown);
  session->trainer_->set_metrics(options.metrics);
  session->trainer_->set_trace(options.trace);
  session->trainer_->set_start_step(options.start_step);
  if (options.wait_for_others) {
    session->trainer_->set_wait_for_others(std::move(options.wait_for_others));
  }
  return session;
}

// Members go in reverse order: the trainer before the exchange it uses, the devices and the
// model before the backends that own their buffers.
TrainingSession::~TrainingSession() = default;

}  // namespace psd
