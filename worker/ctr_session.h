// One worker's training of a sparse job, assembled in one place (the counterpart of
// worker/training_session.h for logreg, fm and dlrm on Criteo or libsvm rows): the compute
// backends (cluster.devices_per_worker of them), the CtrModel or CtrDeviceGroup, the dense tensors'
// PsClient, the embedding rows' SparseClient, the test set (rank 0) and the CtrTrainer.
#ifndef PSD_WORKER_CTR_SESSION_H_
#define PSD_WORKER_CTR_SESSION_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "kernels/backend.h"
#include "worker/ctr_device_group.h"
#include "worker/ctr_model.h"
#include "worker/ctr_trainer.h"
#include "worker/param_exchange.h"
#include "worker/sparse_client.h"
#include "worker/training_session.h"

namespace psd {

class CtrSession {
 public:
  // `spec` must outlive the session. Sparse models need servers (options.servers).
  static absl::StatusOr<std::unique_ptr<CtrSession>> Create(const JobSpec& spec,
                                                            SessionOptions options);
  ~CtrSession();

  CtrTrainer& trainer() { return *trainer_; }
  ParamExchange& exchange() { return *exchange_; }
  RowExchange& rows() { return *rows_; }
  // Device 0's model.
  CtrModel& model() { return devices_->primary(); }
  CtrDeviceGroup& devices() { return *devices_; }
  const Placement& placement() const { return placement_; }
  // Device 0's backend.
  const kernels::Backend& backend() const { return *backends_[0]; }
  // Every device's backend, device 0's first.
  std::vector<const kernels::Backend*> backends() const;

 private:
  explicit CtrSession(Placement placement) : placement_(std::move(placement)) {}

  Placement placement_;
  std::vector<std::unique_ptr<kernels::Backend>> backends_;
  std::unique_ptr<CtrDeviceGroup> devices_;
  std::unique_ptr<ParamExchange> exchange_;
  std::unique_ptr<SparseClient> rows_;
  CtrTestSet test_;
  std::unique_ptr<CtrTrainer> trainer_;
};

}  // namespace psd

#endif  // PSD_WORKER_CTR_SESSION_H_
