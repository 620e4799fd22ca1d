#include "worker/ctr_session.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/select.h"
#include "worker/device_group.h"
#include "worker/remote_exchange.h"

namespace psd {

absl::StatusOr<std::unique_ptr<CtrSession>> CtrSession::Create(const JobSpec& spec,
                                                               SessionOptions options) {
  if (options.servers.empty()) {
    return absl::InvalidArgumentError(
        "sparse models (logreg, fm, dlrm on criteo or libsvm data) train against parameter "
        "servers: their embedding tables live there");
  }
  PSD_ASSIGN_OR_RETURN(Placement placement, Placement::ForJob(spec));
  std::unique_ptr<CtrSession> session(new CtrSession(std::move(placement)));
  const int devices = spec.cluster.devices_per_worker;
  PSD_ASSIGN_OR_RETURN(session->backends_, kernels::CreateBackends(BackendKind(spec.cluster.device),
                                                                   options.cpu_threads, devices));
  CtrModelConfig config = CtrConfigFor(spec);
  config.key_groups = static_cast<int>(options.servers.size());  // rows sent in place
  std::vector<kernels::Backend*> backends;
  for (const auto& b : session->backends_) backends.push_back(b.get());
  // One backend: a group of one model, trained on the calling thread.
  PSD_ASSIGN_OR_RETURN(session->devices_, CtrDeviceGroup::Create(config, backends));
  if (devices > 1) {
    spdlog::info(
        "worker {}: {} {} devices, the batch of {} split into slices of {}; their dense and "
        "row gradients summed here (rows by key) and pushed once",
        options.rank, devices, std::string(session->backends_[0]->name()), spec.training.batch_size,
        ShardSizes(spec.training.batch_size, devices));
  }
  PSD_ASSIGN_OR_RETURN(const int64_t total, CtrPlannedSteps(spec, options.workers));
  options.client.worker = options.rank;
  options.client.metrics = options.metrics;
  options.client.trace = options.trace;
  options.client.total_steps = total;
  SetWireOptions(spec.cluster, &options.client);
  PSD_ASSIGN_OR_RETURN(session->rows_, SparseClient::Create(options.servers, options.client));
  PSD_ASSIGN_OR_RETURN(std::unique_ptr<PsClient> client,
                       PsClient::Create(&session->placement_, std::move(options.servers),
                                        std::move(options.client)));
  session->exchange_ = std::make_unique<RemoteExchange>(std::move(client));
  if (options.rank == 0) {
    PSD_ASSIGN_OR_RETURN(session->test_, LoadCtrTestSet(spec));
    spdlog::info("worker 0: {} test rows in {} file(s)", session->test_.rows,
                 spec.data.test_files.size());
  }
  session->trainer_ = std::make_unique<CtrTrainer>(
      spec, options.rank, options.workers, total, session->devices_.get(), session->exchange_.get(),
      session->rows_.get(), options.rank == 0 ? &session->test_ : nullptr);
  session->trainer_->set_metrics(options.metrics);
  session->trainer_->set_start_step(options.start_step);
  if (options.wait_for_others) {
    session->trainer_->set_wait_for_others(std::move(options.wait_for_others));
  }
  return session;
}

std::vector<const kernels::Backend*> CtrSession::backends() const {
  std::vector<const kernels::Backend*> out;
  for (const auto& b : backends_) out.push_back(b.get());
  return out;
}

// The trainer before the exchanges it uses, the models before the backends that own their
// buffers.
CtrSession::~CtrSession() {
  trainer_.reset();
  rows_.reset();
  exchange_.reset();
  devices_.reset();
}

}  // namespace psd
