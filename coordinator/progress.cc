#include "coordinator/progress.h"

#include <algorithm>

namespace psd {

Progress AggregateProgress(const std::map<int, Progress>& latest, const std::vector<int>& live) {
  Progress out;
  out.set_test_accuracy(-1);
  out.set_live_workers(static_cast<int>(live.size()));
  int count = 0;
  double loss_sum = 0, train_accuracy_sum = 0;
  for (int rank : live) {
    auto it = latest.find(rank);
    if (it == latest.end()) continue;
    const Progress& p = it->second;
    if (count == 0) {
      out.set_step(p.step());
      out.set_epoch(p.epoch());
    } else {
      out.set_step(std::min(out.step(), p.step()));
      out.set_epoch(std::min(out.epoch(), p.epoch()));
    }
    ++count;
    out.set_total_steps(std::max(out.total_steps(), p.total_steps()));
    out.set_epochs(std::max(out.epochs(), p.epochs()));
    out.set_samples_per_sec(out.samples_per_sec() + p.samples_per_sec());
    out.set_max_staleness(std::max(out.max_staleness(), p.max_staleness()));
    out.set_timestamp_ms(std::max(out.timestamp_ms(), p.timestamp_ms()));
    out.set_wall_seconds(std::max(out.wall_seconds(), p.wall_seconds()));
    loss_sum += p.loss();
    train_accuracy_sum += p.train_accuracy();
    if (rank == 0) {
      out.set_test_accuracy(p.test_accuracy());
      out.set_test_step(p.test_step());
      out.set_test_auc(p.test_auc());
      out.set_test_logloss(p.test_logloss());
    }
  }
  if (count > 0) {
    out.set_loss(loss_sum / count);
    out.set_train_accuracy(train_accuracy_sum / count);
  }
  return out;
}

}  // namespace psd
