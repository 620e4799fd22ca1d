#include "coordinator/coordinator_metrics.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "common/metrics.h"

namespace psd {
namespace {

std::string Lower(std::string s) {
  absl::AsciiStrToLower(&s);
  return s;
}

std::string JobStateLabel(JobState s) {
  const std::string name = JobState_Name(s);  // JOB_RUNNING
  return Lower(name.rfind("JOB_", 0) == 0 ? name.substr(4) : name);
}

std::string NodeStateLabel(NodeState s) {
  const std::string name = NodeState_Name(s);  // NODE_IDLE
  return Lower(name.rfind("NODE_", 0) == 0 ? name.substr(5) : name);
}

std::string RoleLabel(Role r) {
  const std::string name = Role_Name(r);  // ROLE_WORKER
  return Lower(name.rfind("ROLE_", 0) == 0 ? name.substr(5) : name);
}

// Running jobs' members named slow (`named` of each job) by phase: 0 when there are none, so
// that alerts can use it.
prometheus::MetricFamily NamedByPhase(
    const ListJobsResponse& listed,
    const google::protobuf::RepeatedPtrField<Straggler>& (JobInfo::*named)() const,
    const std::vector<std::string>& phases, const std::string& name, const std::string& help) {
  FamilyBuilder family(name, help, prometheus::MetricType::Gauge);
  for (const JobInfo& j : listed.jobs()) {
    if (j.state() != JOB_RUNNING) continue;
    std::map<std::string, int64_t> by_phase;
    for (const std::string& p : phases) by_phase[p] = 0;
    for (const Straggler& st : (j.*named)()) ++by_phase[st.phase()];
    for (const auto& [phase, n] : by_phase) {
      family.Add({{"role", "coordinator"}, {"job", j.job_id()}, {"phase", phase}},
                 static_cast<double>(n));
    }
  }
  return family.Build();
}

}  // namespace

std::shared_ptr<prometheus::Collectable> CoordinatorMetrics(JobManager* manager,
                                                            const CoordinatorService* service) {
  return std::make_shared<CallbackCollectable>([manager, service]() {
    std::vector<prometheus::MetricFamily> out;
    // Every state, zeros included, so that a dashboard's series never vanish.
    std::map<std::string, int64_t> jobs;
    for (JobState s : {JOB_QUEUED, JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED}) {
      jobs[JobStateLabel(s)] = 0;
    }
    const ListJobsResponse listed = manager->ListJobs();
    for (const JobInfo& j : listed.jobs()) ++jobs[JobStateLabel(j.state())];
    FamilyBuilder jf("psd_coordinator_jobs", "Jobs the coordinator knows, by state.",
                     prometheus::MetricType::Gauge);
    for (const auto& [state, n] : jobs) {
      jf.Add({{"role", "coordinator"}, {"state", state}}, static_cast<double>(n));
    }
    out.push_back(jf.Build());

    std::map<std::pair<std::string, std::string>, int64_t> nodes;
    for (Role r : {ROLE_SERVER, ROLE_WORKER}) {
      for (NodeState s : {NODE_IDLE, NODE_BUSY, NODE_DEAD}) {
        nodes[{RoleLabel(r), NodeStateLabel(s)}] = 0;
      }
    }
    const ListNodesResponse registered = manager->ListNodes();
    for (const NodeStatus& n : registered.nodes()) {
      ++nodes[{RoleLabel(n.node().role()), NodeStateLabel(n.state())}];
    }
    FamilyBuilder nf("psd_coordinator_nodes",
                     "Registered nodes by role (node_role) and state (dead ones for a while).",
                     prometheus::MetricType::Gauge);
    for (const auto& [key, n] : nodes) {
      nf.Add({{"role", "coordinator"}, {"node_role", key.first}, {"state", key.second}},
             static_cast<double>(n));
    }
    out.push_back(nf.Build());

    out.push_back(NamedByPhase(listed, &JobInfo::stragglers, {"compute", "network"},
                               "psd_job_stragglers",
                               "Workers of a running job named stragglers now, by the phase where "
                               "they lose time (compute or network); see docs/observability.md."));
    out.push_back(NamedByPhase(listed, &JobInfo::slow_servers, {"apply", "network"},
                               "psd_job_slow_servers",
                               "Parameter servers of a running job named slow now, by the phase "
                               "where they lose time (apply or network); see "
                               "docs/observability.md."));

    const CoordinatorService::Submissions s = service->submissions();
    out.push_back(
        FamilyBuilder("psd_coordinator_job_submissions_total",
                      "SubmitJob calls, by result (accepted or refused).",
                      prometheus::MetricType::Counter)
            .Add({{"role", "coordinator"}, {"result", "accepted"}}, static_cast<double>(s.accepted))
            .Add({{"role", "coordinator"}, {"result", "refused"}}, static_cast<double>(s.refused))
            .Build());
    return out;
  });
}

}  // namespace psd
