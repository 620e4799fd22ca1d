#include "bench/scale/sim/simulate.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <simgrid/s4u.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/job_spec.h"
#include "common/placement.h"

namespace psd::sim {
namespace sg4 = simgrid::s4u;

namespace {

constexpr double kHostSpeed = 1e9;  // flop/s per core: an exec of s seconds is s * 1e9 flops

// One message of a worker to one server per step: a run of whole chunks of one tensor.
struct Msg {
  int order = 0;      // emission index of its tensor within the step
  int group = 0;      // index of this run among the server's runs (its barrier state)
  int64_t bytes = 0;  // payload bytes (each way)
  int chunks = 0;
  int64_t extra_request_bytes = 0;  // embedding: the next batch's keys ride on the push
};

struct Workload {
  // Seconds of compute before emitting tensor k (k in emission order), and before the first.
  double forward = 0;
  std::vector<double> before_emit;
  double tail = 0;
  std::vector<std::vector<Msg>> per_server;  // what every worker sends each server, in order
  std::vector<int> groups;                   // runs per server
  int64_t push_bytes = 0;
};

std::vector<TensorInfo> DenseTensors(const std::vector<int>& layers) {
  ModelSpec spec;
  spec.input_dim = layers.front();
  spec.num_classes = layers.back();
  spec.hidden.assign(layers.begin() + 1, layers.end() - 1);
  return ModelTensors(spec);
}

bool SameLayers(const std::vector<int>& a, const std::vector<int>& b) { return a == b; }

}  // namespace

double StepFlops(const ModelConfig& model, int batch) {
  double flops = 0;
  for (size_t l = 0; l + 1 < model.layers.size(); ++l) {
    const double w = static_cast<double>(model.layers[l]) * model.layers[l + 1];
    const bool input_grad = l > 0 || model.kind == ModelKind::kEmbedding;
    flops += (input_grad ? 6.0 : 4.0) * w * batch;
  }
  if (model.kind == ModelKind::kEmbedding) {
    flops += 2.0 * batch * model.fields * model.dim;  // gather and scatter of the rows
  }
  return flops;
}

namespace {

double ComputeSeconds(const SimConfig& c) {
  if (c.compute_seconds >= 0) return c.compute_seconds;
  if (c.model.kind == ModelKind::kDenseMlp && SameLayers(c.model.layers, c.costs.layers) &&
      c.batch == c.costs.batch) {
    return c.costs.compute_seconds;
  }
  return StepFlops(c.model, c.batch) / c.costs.compute_flops_per_second;
}

absl::StatusOr<Workload> BuildWorkload(const SimConfig& c) {
  Workload w;
  std::vector<TensorInfo> tensors = DenseTensors(c.model.layers);
  auto placement = Placement::Build(tensors, std::max<int64_t>(1, c.chunk_bytes / 4), c.servers);
  if (!placement.ok()) return placement.status();
  const int layers = static_cast<int>(c.model.layers.size()) - 1;
  // FLOPs of each phase, then scaled to the step's compute seconds.
  auto gemm = [&](int l) {
    return 2.0 * c.model.layers[l] * c.model.layers[l + 1] * static_cast<double>(c.batch);
  };
  double forward = 0;
  for (int l = 0; l < layers; ++l) forward += gemm(l);
  std::vector<uint32_t> order;  // tensors in emission order: last layer first, bias then weight
  std::vector<double> before;
  for (int l = layers - 1; l >= 0; --l) {
    order.push_back(2 * l + 1);
    before.push_back(l == layers - 1 ? 0.0 : gemm(l + 1));  // dX of the layer above
    order.push_back(2 * l);
    before.push_back(gemm(l));  // dW
  }
  const bool embedding = c.model.kind == ModelKind::kEmbedding;
  double tail = embedding ? gemm(0) + 2.0 * c.batch * c.model.fields * c.model.dim : 0.0;
  double total = forward + tail;
  for (double b : before) total += b;
  const double seconds = ComputeSeconds(c);
  const double scale = total > 0 ? seconds / total : 0;
  w.forward = forward * scale;
  for (double b : before) w.before_emit.push_back(b * scale);
  w.per_server.resize(c.servers);
  w.groups.assign(c.servers, 0);
  const int max_runs = c.max_messages_per_group;
  for (size_t k = 0; k < order.size(); ++k) {
    const uint32_t t = order[k];
    std::vector<std::vector<const ChunkInfo*>> by_server(c.servers);
    for (uint64_t key : placement->TensorKeys(t)) {
      const ChunkInfo& ch = placement->chunk(key);
      by_server[ch.server].push_back(&ch);
    }
    for (int s = 0; s < c.servers; ++s) {
      const auto& chunks = by_server[s];
      if (chunks.empty()) continue;
      const int n = static_cast<int>(chunks.size());
      const int runs = max_runs <= 0 ? n : std::min(n, max_runs);
      for (int r = 0; r < runs; ++r) {
        const int lo = static_cast<int>(int64_t{n} * r / runs);
        const int hi = static_cast<int>(int64_t{n} * (r + 1) / runs);
        Msg m;
        m.order = static_cast<int>(k);
        m.group = w.groups[s]++;
        m.chunks = hi - lo;
        for (int i = lo; i < hi; ++i) m.bytes += chunks[i]->length * 4;
        w.push_bytes += m.bytes;
        w.per_server[s].push_back(m);
      }
    }
  }
  if (embedding) {
    // Rows of the batch's lookups, spread over the servers by key hash: each server gets an
    // equal share; the push carries the gradients and the next batch's keys, the reply the
    // next batch's rows (one round trip, as the dense chunks).
    const int k = static_cast<int>(order.size());
    w.before_emit.push_back(tail * scale);
    const int64_t rows = int64_t{c.batch} * c.model.fields;
    for (int s = 0; s < c.servers; ++s) {
      const int64_t my_rows = rows / c.servers + (s < rows % c.servers ? 1 : 0);
      if (my_rows == 0) continue;
      Msg m;
      m.order = k;
      m.group = w.groups[s]++;
      m.chunks = 1;
      m.bytes = my_rows * c.model.dim * 4;
      m.extra_request_bytes = my_rows * 8;
      w.push_bytes += m.bytes;
      w.per_server[s].push_back(m);
    }
  }
  return w;
}

struct Signal {
  sg4::MutexPtr mu = sg4::Mutex::create();
  sg4::ConditionVariablePtr cv = sg4::ConditionVariable::create();
  template <class P>
  void WaitFor(P pred) {
    std::unique_lock<sg4::Mutex> lock(*mu);
    cv->wait(lock, pred);
  }
  void Notify() { cv->notify_all(); }
};

void Exec(double seconds) {
  if (seconds > 0) sg4::this_actor::execute(seconds * kHostSpeed);
}

// The CPU of one message: `seconds` in all, half on each end at once (gRPC's sender and
// receiver threads work on a message together), before its bytes travel.
void MessageCpu(double seconds, sg4::Host* from, sg4::Host* to) {
  if (seconds <= 0) return;
  sg4::ExecPtr a = from->exec_async(seconds / 2 * kHostSpeed);
  sg4::ExecPtr b = to->exec_async(seconds / 2 * kHostSpeed);
  a->wait();
  b->wait();
}

struct WorkerState {
  int64_t emitted = 0;  // tensors emitted so far, all steps
  int64_t replies = 0;  // replies received and decoded so far, all steps
  Signal signal;
};

struct ServerState {
  std::vector<int> arrived;
  std::vector<int64_t> clock;
  Signal signal;
};

// Runs the simulation in this process; call once per process.
SimResult RunHere(const SimConfig& c, const Workload& wl) {
  int argc = 2;
  char arg0[] = "psd_sim";
  char arg1[] = "--log=root.thresh:critical";
  char* argv[] = {arg0, arg1, nullptr};
  sg4::Engine engine(&argc, argv);
  sg4::Engine::set_config("network/model:CM02");
  sg4::Engine::set_config("network/crosstraffic:0");
  sg4::Engine::set_config("network/TCP-gamma:1e15");
  sg4::Engine::set_config("contexts/stack-size:16");
  // No guard page per actor stack: big clusters have ~3 actors per worker-server pair, more
  // than the kernel allows mappings (vm.max_map_count).
  sg4::Engine::set_config("contexts/guard-size:0");
  const Calibration& k = c.costs;

  auto* zone = sg4::create_star_zone("psd");
  std::vector<sg4::Host*> worker_hosts, server_hosts;
  if (c.platform.shared) {
    sg4::Host* h =
        zone->create_host("machine", kHostSpeed)->set_core_count(c.platform.shared_cores)->seal();
    const double bw = k.loopback_bytes_per_second > 0 ? k.loopback_bytes_per_second : 1e15;
    // What a loopback message waits beyond CPU: a fixed latency and a per-byte residual.
    const sg4::Link* lo = zone->create_link("loopback", bw)
                              ->set_sharing_policy(sg4::Link::SharingPolicy::SHARED)
                              ->set_latency(k.rpc_latency)
                              ->seal();
    zone->add_route(h->get_netpoint(), h->get_netpoint(), nullptr, nullptr, {sg4::LinkInRoute(lo)},
                    false);
    worker_hosts.assign(c.workers, h);
    server_hosts.assign(c.servers, h);
  } else {
    auto add = [&](const std::string& name, int cores) {
      sg4::Host* h = zone->create_host(name, kHostSpeed)->set_core_count(cores)->seal();
      const sg4::Link* nic =
          zone->create_split_duplex_link(name + "-nic", c.platform.link_bytes_per_second)
              ->set_latency((c.platform.link_latency + k.rpc_latency) / 2)
              ->seal();
      zone->add_route(h->get_netpoint(), nullptr, nullptr, nullptr,
                      {{nic, sg4::LinkInRoute::Direction::UP}}, true);
      return h;
    };
    for (int w = 0; w < c.workers; ++w)
      worker_hosts.push_back(add(absl::StrCat("worker-", w), c.platform.worker_cores));
    for (int s = 0; s < c.servers; ++s)
      server_hosts.push_back(add(absl::StrCat("server-", s), c.platform.server_cores));
  }
  zone->seal();

  const int W = c.workers, S = c.servers, steps = c.steps;
  const int64_t tensors = static_cast<int64_t>(wl.before_emit.size());
  int64_t replies_per_step = 0;
  for (const auto& v : wl.per_server) replies_per_step += static_cast<int64_t>(v.size());
  std::vector<WorkerState> workers(W);
  std::vector<ServerState> servers(S);
  for (int s = 0; s < S; ++s) {
    servers[s].arrived.assign(wl.groups[s], 0);
    servers[s].clock.assign(wl.groups[s], 0);
  }
  std::vector<double> finish(W, 0);
  static int token = 0;
  // The CPU of a message of `wire` bytes made of `chunks` chunk RPCs, both ends together.
  auto msg_cpu = [&](int64_t wire, int chunks) {
    return k.rpc_cpu_fixed * chunks + k.rpc_cpu_per_byte * static_cast<double>(wire);
  };
  auto push_wire = [&](const Msg& m) {
    return m.bytes + m.extra_request_bytes + static_cast<int64_t>(k.header_bytes * m.chunks);
  };
  auto reply_wire = [&](const Msg& m) {
    return m.bytes + static_cast<int64_t>(k.header_bytes * m.chunks);
  };

  for (int w = 0; w < W; ++w) {
    sg4::Actor::create(absl::StrCat("worker-", w), worker_hosts[w], [&, w] {
      WorkerState& me = workers[w];
      for (int t = 0; t < steps; ++t) {
        Exec(wl.forward);
        for (int64_t e = 0; e < tensors; ++e) {
          Exec(wl.before_emit[e]);
          ++me.emitted;
          me.signal.Notify();
        }
        Exec(wl.tail);
        const int64_t want = replies_per_step * (t + 1);
        me.signal.WaitFor([&] { return me.replies >= want; });
      }
      finish[w] = sg4::Engine::get_clock();
    });
    for (int s = 0; s < S; ++s) {
      const std::vector<Msg>& msgs = wl.per_server[s];
      if (msgs.empty()) continue;
      sg4::Mailbox* push_box = sg4::Mailbox::by_name(absl::StrCat("p", s, ".", w));
      sg4::Mailbox* reply_box = sg4::Mailbox::by_name(absl::StrCat("r", w, ".", s));
      // The worker's connection to server s: sends each push once its tensor is ready, then
      // takes the replies.
      sg4::Actor::create(
          absl::StrCat("conn-", w, "-", s), worker_hosts[w], [&, w, s, push_box, reply_box] {
            WorkerState& me = workers[w];
            for (int t = 0; t < steps; ++t) {
              std::vector<int*> got(msgs.size());
              std::vector<sg4::CommPtr> replies;
              for (size_t i = 0; i < msgs.size(); ++i)
                replies.push_back(reply_box->get_async(&got[i]));
              for (const Msg& m : msgs) {
                const int64_t ready = tensors * t + m.order + 1;
                me.signal.WaitFor([&] { return me.emitted >= ready; });
                MessageCpu(msg_cpu(push_wire(m), m.chunks), worker_hosts[w], server_hosts[s]);
                push_box->put(&token, push_wire(m));
              }
              for (size_t i = 0; i < msgs.size(); ++i) {
                replies[i]->wait();
                ++me.replies;
                me.signal.Notify();
              }
            }
          });
      // The server's side of that connection: receives and sums the pushes; the push that
      // completes a step's sum applies the optimizer.
      sg4::Actor::create(absl::StrCat("in-", s, "-", w), server_hosts[s], [&, s, push_box] {
        ServerState& srv = servers[s];
        for (int t = 0; t < steps; ++t) {
          std::vector<int*> got(msgs.size());
          std::vector<sg4::CommPtr> pushes;
          for (size_t i = 0; i < msgs.size(); ++i) pushes.push_back(push_box->get_async(&got[i]));
          for (size_t i = 0; i < msgs.size(); ++i) {
            const Msg& m = msgs[i];
            pushes[i]->wait();
            Exec(k.apply_fixed * m.chunks +
                 k.apply_accumulate_per_byte * static_cast<double>(m.bytes));
            if (++srv.arrived[m.group] == W) {
              srv.arrived[m.group] = 0;
              Exec(k.apply_update_per_byte * static_cast<double>(m.bytes));
              srv.clock[m.group] = t + 1;
              srv.signal.Notify();
            }
          }
        }
      });
      // And its replies: each chunk run's parameters once its step is complete.
      sg4::Actor::create(absl::StrCat("out-", s, "-", w), server_hosts[s], [&, s, w, reply_box] {
        ServerState& srv = servers[s];
        for (int t = 0; t < steps; ++t) {
          for (const Msg& m : msgs) {
            srv.signal.WaitFor([&] { return srv.clock[m.group] >= t + 1; });
            MessageCpu(msg_cpu(reply_wire(m), m.chunks), server_hosts[s], worker_hosts[w]);
            reply_box->put(&token, reply_wire(m));
          }
        }
      });
    }
  }
  engine.run();
  SimResult r;
  r.seconds = *std::max_element(finish.begin(), finish.end());
  r.step_seconds = r.seconds / std::max(1, steps);
  r.samples_per_sec = r.step_seconds > 0 ? W * static_cast<double>(c.batch) / r.step_seconds : 0;
  r.messages = 2 * replies_per_step * W * steps;
  r.push_bytes_per_worker_step = wl.push_bytes;
  return r;
}

}  // namespace

double SingleWorkerSamplesPerSec(const SimConfig& config) {
  const double s = ComputeSeconds(config);
  return s > 0 ? config.batch / s : 0;
}

absl::StatusOr<SimResult> Simulate(const SimConfig& config) {
  if (config.workers < 1 || config.servers < 1 || config.steps < 1 || config.batch < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("simulate: workers, servers, steps and batch must be >= 1, got ",
                     config.workers, ", ", config.servers, ", ", config.steps, ", ", config.batch));
  }
  if (config.model.layers.size() < 2) {
    return absl::InvalidArgumentError("simulate: model needs at least two layer widths");
  }
  auto workload = BuildWorkload(config);
  if (!workload.ok()) return workload.status();
  int fds[2];
  if (pipe(fds) != 0) return absl::InternalError("simulate: pipe failed");
  const auto t0 = std::chrono::steady_clock::now();
  std::fflush(nullptr);  // or the child would print the parent's buffered output again
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("simulate: fork failed");
  if (pid == 0) {
    close(fds[0]);
    SimResult r = RunHere(config, *workload);
    const ssize_t n = write(fds[1], &r, sizeof(r));
    _exit(n == static_cast<ssize_t>(sizeof(r)) ? 0 : 3);
  }
  close(fds[1]);
  SimResult r;
  size_t got = 0;
  while (got < sizeof(r)) {
    const ssize_t n = read(fds[0], reinterpret_cast<char*>(&r) + got, sizeof(r) - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (got != sizeof(r) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat("simulate: the SimGrid child failed (status ", status,
                                            ") for ", config.workers, " workers x ", config.servers,
                                            " servers"));
  }
  r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace psd::sim
