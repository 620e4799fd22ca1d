#include "tests/fifo.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"

namespace psd::testing {

bool MakeFifo(const std::string& path) { return mkfifo(path.c_str(), 0600) == 0; }

bool ReturnsWithin(absl::Duration timeout, const std::string& fifo,
                   const std::function<void()>& fn) {
  auto done = std::make_shared<absl::Notification>();
  std::thread thread([done, fn] {
    fn();
    done->Notify();
  });
  if (done->WaitForNotificationWithTimeout(timeout)) {
    thread.join();
    return true;
  }
  // A reader blocked in open() returns once a writer opens; its read() then sees end of file.
  const int writer = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (writer >= 0) close(writer);
  if (done->WaitForNotificationWithTimeout(timeout)) {
    thread.join();
  } else {
    thread.detach();
  }
  return false;
}

}  // namespace psd::testing
