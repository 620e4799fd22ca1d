// grpc_health_check [TLS FLAGS] HOST:PORT [SERVICE]: calls grpc.health.v1.Health/Check the way
// a Kubernetes gRPC probe does, and exits 0 if the answer is SERVING. Plaintext (a daemon's
// --health_port, or one started with --insecure) unless given --tls_ca=F --tls_cert=F
// --tls_key=F and --server_role=ROLE (coordinator, server, worker): mutual TLS to that daemon. Prints the status (SERVING,
// NOT_SERVING, ...) or the RPC error. Uses the generic stub with hand-encoded messages, so it
// needs no generated code: HealthCheckRequest{service = 1} and HealthCheckResponse{status = 1}.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "common/tls_options.h"

namespace {

std::string EncodeRequest(const std::string& service) {
  std::string out;
  if (service.empty()) return out;         // proto3: the default value is not written
  out.push_back(static_cast<char>(0x0a));  // field 1, length-delimited
  size_t n = service.size();
  while (n >= 0x80) {
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
  return out + service;
}

// The `status` field (1, varint) of a HealthCheckResponse; 0 (UNKNOWN) when absent.
int DecodeStatus(const std::string& bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    const unsigned char key = static_cast<unsigned char>(bytes[i++]);
    if ((key & 7) != 0) return -1;  // only varints are expected
    long value = 0;
    int shift = 0;
    while (i < bytes.size()) {
      const unsigned char b = static_cast<unsigned char>(bytes[i++]);
      value |= static_cast<long>(b & 0x7f) << shift;
      shift += 7;
      if ((b & 0x80) == 0) break;
    }
    if ((key >> 3) == 1) return static_cast<int>(value);
  }
  return 0;
}

const char* StatusName(int status) {
  switch (status) {
    case 0:
      return "UNKNOWN";
    case 1:
      return "SERVING";
    case 2:
      return "NOT_SERVING";
    case 3:
      return "SERVICE_UNKNOWN";
    default:
      return "unparsable response";
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string ca, cert, key, role;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&a](const char* flag, std::string* out) {
      const std::string prefix = std::string(flag) + "=";
      if (a.rfind(prefix, 0) != 0) return false;
      *out = a.substr(prefix.size());
      return true;
    };
    if (!value("--tls_ca", &ca) && !value("--tls_cert", &cert) && !value("--tls_key", &key) &&
        !value("--server_role", &role)) {
      args.push_back(a);
    }
  }
  if (args.empty() || args.size() > 2) {
    std::fprintf(stderr,
                 "usage: grpc_health_check [--tls_ca=F --tls_cert=F --tls_key=F "
                 "--server_role=ROLE] HOST:PORT [SERVICE]\n");
    return 2;
  }
  const std::string target = args[0];
  const std::string service = args.size() == 2 ? args[1] : "";
  std::shared_ptr<grpc::Channel> channel;
  if (ca.empty() && cert.empty() && key.empty()) {
    channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  } else {
    const std::optional<psd::PeerRole> server_role = psd::ParsePeerRole(role);
    absl::StatusOr<psd::TlsOptions> tls = psd::LoadTls(ca, cert, key);
    if (!server_role.has_value() || !tls.ok()) {
      std::fprintf(stderr, "grpc_health_check: %s\n",
                   !server_role.has_value()
                       ? "--server_role: coordinator, server or worker"
                       : std::string(tls.status().message()).c_str());
      return 2;
    }
    auto made = psd::MakeChannel(target, *server_role, *tls, grpc::ChannelArguments());
    if (!made.ok()) return 2;
    channel = *made;
  }
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));

  const std::string request_bytes = EncodeRequest(service);
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   std::lock_guard<std::mutex> lock(mu);
                   status = std::move(s);
                   done = true;
                   cv.notify_one();
                 });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  if (!status.ok()) {
    std::printf("%s: error %d: %s\n", target.c_str(), static_cast<int>(status.error_code()),
                status.error_message().c_str());
    return 1;
  }
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (response.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices) {
      bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  const int health = DecodeStatus(bytes);
  std::printf("%s: %s\n", target.c_str(), StatusName(health));
  return health == 1 ? 0 : 1;
}
