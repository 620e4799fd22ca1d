// Helpers for psd's Prometheus metrics (prometheus-cpp, docs/observability.md): the bucket
// layouts every daemon shares, and a Collectable whose figures are computed at scrape time.
//
// Hot-path figures are prometheus-cpp Counters and Histograms whose handles a component looks
// up once (per job) and keeps: an increment or an observation is then a few relaxed atomic
// operations, with no lock and no label lookup. Figures that already exist elsewhere (a store's
// statistics, the Authorizer's denials, the coordinator's job table) are read only when
// Prometheus scrapes, through a CallbackCollectable.
#ifndef PSD_COMMON_METRICS_H_
#define PSD_COMMON_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace psd {

// Latency buckets in seconds: 100 us to 60 s, about x2.5 apart.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets();
// Size buckets in bytes: 1 KiB to 1 GiB, x4 apart.
const prometheus::Histogram::BucketBoundaries& ByteBuckets();

inline double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

// Builds metric families by hand, for a CallbackCollectable.
class FamilyBuilder {
 public:
  FamilyBuilder(std::string name, std::string help, prometheus::MetricType type);
  // One sample with these labels (a counter's, a gauge's or an untyped value).
  FamilyBuilder& Add(const std::map<std::string, std::string>& labels, double value);
  // Leaves the builder empty.
  prometheus::MetricFamily Build() { return std::move(family_); }

 private:
  prometheus::MetricFamily family_;
};

// A Collectable that calls `fn` at every scrape. `fn` runs on the exposer's thread and must
// be thread-safe with whatever it reads.
class CallbackCollectable : public prometheus::Collectable {
 public:
  using Fn = std::function<std::vector<prometheus::MetricFamily>()>;
  explicit CallbackCollectable(Fn fn) : fn_(std::move(fn)) {}
  std::vector<prometheus::MetricFamily> Collect() const override { return fn_(); }

 private:
  Fn fn_;
};

}  // namespace psd

#endif  // PSD_COMMON_METRICS_H_
