// WorkerNode's training of a sparse job: a CtrSession run with progress to the coordinator.
#include <spdlog/spdlog.h>

#include "common/checkpoint_layout.h"
#include "common/model_file.h"
#include "common/status_macros.h"
#include "worker/ctr_session.h"
#include "worker/worker_node.h"

namespace psd {

absl::StatusOr<JobResult> WorkerNode::TrainSparse(const Assignment& a, const JobSpec& spec,
                                                  SessionOptions session_options) {
  PSD_ASSIGN_OR_RETURN(std::unique_ptr<CtrSession> session,
                       CtrSession::Create(spec, std::move(session_options)));
  {
    absl::MutexLock lock(&mu_);
    exchange_ = &session->exchange();
    rows_ = &session->rows();
  }
  if (stop_) {  // StopJob() came before the exchanges were known
    session->exchange().Cancel();
    session->rows().Cancel();
  }
  CtrTrainer& trainer = session->trainer();
  spdlog::info("job {}: worker {} of {}, {} steps of batch {} ({} on {}, {})", a.job_id(), a.rank(),
               a.num_workers(), trainer.total_steps(), spec.training.batch_size,
               std::string(ModelTypeName(spec.model.type)), std::string(session->backend().name()),
               session->backend().description());
  const std::vector<Device> devices = TrainingDevices(session->backends());
  auto report_progress = [&](const Progress& p) {
    ProgressReport r;
    r.set_job_id(a.job_id());
    r.set_worker_rank(a.rank());
    r.set_generation(a.generation());
    r.set_membership_size(a.membership_size());
    for (const Device& d : devices) *r.add_devices() = d;
    *r.mutable_progress() = p;
    return link_->ReportProgressFully(std::move(r));
  };
  // Elastic jobs (their servers can change; their workers are fixed): the step horizon.
  auto learn = [&](const ReportProgressResponse& answer) {
    trainer.set_step_horizon(answer.step_horizon());
    return absl::OkStatus();
  };
  trainer.set_step_horizon(a.step_horizon());
  Progress last_progress;
  trainer.set_wait_for_horizon(
      [&](int64_t step) { return AwaitHorizon(step, last_progress, report_progress, learn); });
  auto result = trainer.Run(stop_, [&](const Progress& p) {
    last_progress = p;
    absl::StatusOr<ReportProgressResponse> answer = report_progress(p);
    if (!answer.ok()) return;
    if (answer->cancelled()) stop_ = true;
    learn(*answer).IgnoreError();
  });
  {
    absl::MutexLock lock(&mu_);
    exchange_ = nullptr;
    rows_ = nullptr;
  }
  released_ = false;
  if (result.ok() && a.rank() == 0 && !spec.checkpoint.dir.empty()) {
    // The dense tensors; each server writes its embedding rows beside them.
    const std::string path = ExportedModelPath(spec.checkpoint.dir, a.job_id());
    PSD_RETURN_IF_ERROR(WriteModelFile(
        path, {a.spec_yaml(), session->placement().tensors(), trainer.DenseParams()}));
    result->set_model_path(path);
    spdlog::info("job {}: dense model written to {}", a.job_id(), path);
  }
  if (trainer.skipped_rows() > 0) {
    spdlog::warn("job {}: worker {} skipped {} bad rows (data.bad_rows: skip)", a.job_id(),
                 a.rank(), trainer.skipped_rows());
  }
  return result;
}

}  // namespace psd
