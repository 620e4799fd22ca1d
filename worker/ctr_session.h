// One worker's training of a sparse job, assembled in one place (the counterpart of
// worker/training_session.h for logreg, fm and dlrm on Criteo or libsvm rows): the compute
// backend, the CtrModel, the dense tensors' PsClient, the embedding rows' SparseClient, the
// test set (rank 0) and the CtrTrainer.
#ifndef PSD_WORKER_CTR_SESSION_H_
#define PSD_WORKER_CTR_SESSION_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "kernels/backend.h"
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
  CtrModel& model() { return *model_; }
  const Placement& placement() const { return placement_; }
  const kernels::Backend& backend() const { return *backend_; }

 private:
  explicit CtrSession(Placement placement) : placement_(std::move(placement)) {}

  Placement placement_;
  std::unique_ptr<kernels::Backend> backend_;
  std::unique_ptr<CtrModel> model_;
  std::unique_ptr<ParamExchange> exchange_;
  std::unique_ptr<SparseClient> rows_;
  CtrTestSet test_;
  std::unique_ptr<CtrTrainer> trainer_;
};

}  // namespace psd

#endif  // PSD_WORKER_CTR_SESSION_H_
