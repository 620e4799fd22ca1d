#include "server/server_metrics.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/metrics.h"
#include "server/job_metrics.h"
#include "server/job_registry.h"

namespace psd {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Families filled job by job, written out in the order they were declared.
class Families {
 public:
  MetricFamily& Get(const std::string& name, const std::string& help, MetricType type) {
    auto [it, added] = index_.emplace(name, families_.size());
    if (added) families_.push_back({name, help, type, {}});
    return families_[it->second];
  }
  void Add(const std::string& name, const std::string& help, MetricType type,
           const std::vector<ClientMetric::Label>& labels, ClientMetric m) {
    m.label = labels;
    Get(name, help, type).metric.push_back(std::move(m));
  }
  void Value(const std::string& name, const std::string& help, MetricType type,
             const std::vector<ClientMetric::Label>& labels, double v) {
    ClientMetric m;
    if (type == MetricType::Counter) {
      m.counter.value = v;
    } else {
      m.gauge.value = v;
    }
    Add(name, help, type, labels, std::move(m));
  }
  std::vector<MetricFamily> Take() { return std::move(families_); }

 private:
  std::map<std::string, size_t> index_;
  std::vector<MetricFamily> families_;
};

void Report(const ServedJob& job, Families* f) {
  const std::vector<ClientMetric::Label> labels = {
      {"job", job.id}, {"role", "server"}, {"server", absl::StrCat(job.rank)}};
  const auto C = MetricType::Counter;
  const auto G = MetricType::Gauge;
  const auto H = MetricType::Histogram;
  const ShardStats s = job.store->stats();
  f->Value("psd_server_step", "Lowest chunk clock of the job on this server (steps done).", G,
           labels, static_cast<double>(s.min_step));
  f->Value("psd_server_waiting_pulls", "Pulls waiting for their step now.", G, labels,
           static_cast<double>(s.waiting_pulls));
  f->Value("psd_server_max_staleness", "Largest staleness (steps) a pull was served at.", G, labels,
           static_cast<double>(s.max_staleness));
  f->Value("psd_server_duplicate_pushes_total", "Retried pushes acknowledged, not applied again.",
           C, labels, static_cast<double>(s.duplicate_pushes));
  f->Value("psd_server_nonfinite_pushes_rejected_total",
           "Pushes refused for NaN or Inf gradients (nonfinite_gradients: reject or fail).", C,
           labels, static_cast<double>(s.nonfinite_rejected));
  f->Value("psd_server_nonfinite_chunks_skipped_total",
           "Chunk gradients with NaN or Inf dropped (nonfinite_gradients: skip).", C, labels,
           static_cast<double>(s.nonfinite_skipped));
  f->Value("psd_server_memory_bytes", "Estimated memory of the job on this server.", G, labels,
           static_cast<double>(job.memory_bytes));
  const ServerJobMetrics* m = job.metrics.get();
  if (m == nullptr) return;
  f->Add("psd_server_push_requests_total", "Push and PushPull requests handled.", C, labels,
         m->push_requests.Collect());
  f->Add("psd_server_pull_requests_total", "Pull and PushPull replies started.", C, labels,
         m->pull_requests.Collect());
  f->Add("psd_server_push_errors_total", "Pushes answered with an error.", C, labels,
         m->push_errors.Collect());
  f->Add("psd_server_pull_errors_total", "Pulls answered with an error.", C, labels,
         m->pull_errors.Collect());
  f->Add("psd_server_push_bytes_total", "Gradient payload bytes received.", C, labels,
         m->push_bytes.Collect());
  f->Add("psd_server_pull_bytes_total", "Parameter payload bytes sent.", C, labels,
         m->pull_bytes.Collect());
  f->Add("psd_server_push_seconds", "Time to handle a push: decode, checks, apply.", H, labels,
         m->push_seconds.Collect());
  f->Add("psd_server_pull_seconds", "Time from a pull's start to its reply, waiting included.", H,
         labels, m->pull_seconds.Collect());
  f->Add("psd_server_pull_wait_seconds",
         "Time a pull waited for its step (the sync or ssp barrier).", H, labels,
         m->pull_wait_seconds.Collect());
  f->Add("psd_server_optimizer_apply_seconds", "Time of one optimizer update of one chunk.", H,
         labels, m->apply_seconds.Collect());
  f->Add("psd_server_pull_staleness", "Staleness (steps) each chunk read was served at.", H, labels,
         m->staleness.Collect());
  f->Add("psd_server_checkpoint_seconds", "Time to write this server's part of a checkpoint.", H,
         labels, m->checkpoint_seconds.Collect());
  f->Add("psd_server_checkpoint_bytes_total", "Checkpoint bytes written to disk.", C, labels,
         m->checkpoint_bytes.Collect());
  f->Add("psd_server_checkpoints_total", "Checkpoints written.", C, labels,
         m->checkpoints.Collect());
  f->Add("psd_server_checkpoints_failed_total", "Checkpoint writes that failed.", C, labels,
         m->checkpoints_failed.Collect());
}

}  // namespace

std::shared_ptr<prometheus::Collectable> ServerMetrics(const JobRegistry* registry) {
  return std::make_shared<CallbackCollectable>([registry]() {
    Families f;
    int jobs = 0;
    registry->ForEach([&](ServedJob& job) {
      ++jobs;
      Report(job, &f);
    });
    f.Value("psd_server_jobs", "Jobs served by this server now.", MetricType::Gauge,
            {{"role", "server"}}, jobs);
    return f.Take();
  });
}

}  // namespace psd
