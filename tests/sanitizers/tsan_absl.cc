// ThreadSanitizer and Debian's Abseil: makes absl::Mutex, absl::CondVar and absl::Notification
// visible to TSan (--config=tsan links this into every binary, see tests/sanitizers/BUILD).
//
// Debian's libabsl_synchronization.so is not built with -fsanitize=thread, so its Mutex, whose
// fast path is an atomic on its own word and whose slow path parks threads with futex(2), tells
// TSan nothing: every access that a Mutex orders would be reported as a data race, in psd and
// in gRPC (grpc_core::Mutex and gpr_mu/gpr_cv are absl::Mutex/CondVar). Abseil's own TSan
// annotations (ABSL_TSAN_MUTEX_*) are compiled into that library, i.e. compiled out.
//
// So the binary defines the exported methods itself; the dynamic linker then binds every call
// (from psd's code and from libgrpc, libgpr, libgrpc++, which call them through their PLT) to
// these definitions, which announce the lock, unlock or wait to TSan with the annotations of
// <sanitizer/tsan_interface.h> and call the library's own method (found with
// dlsym(RTLD_NEXT)). Between pre_ and post_ annotations TSan ignores memory accesses, so the
// conditions Abseil evaluates inside Lock/Unlock (absl::Condition, possibly on another thread)
// are not reported either. This file is only ever built with -fsanitize=thread.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

#ifndef __SANITIZE_THREAD__
#if defined(__has_feature)
#if !__has_feature(thread_sanitizer)
#error "tests/sanitizers/tsan_absl.cc is for -fsanitize=thread builds only"
#endif
#endif
#endif

#define PSD_TSAN_STR2(x) #x
#define PSD_TSAN_STR(x) PSD_TSAN_STR2(x)

namespace {

// The library's definition of absl::<inline namespace>::<rest> (`rest` is the rest of the
// mangled name: "5Mutex4LockEv"); `konst` for a const method.
template <typename Fn>
Fn Real(const char* rest, bool konst = false) {
  const char* ns = PSD_TSAN_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name =
      std::string(konst ? "_ZNK4absl" : "_ZN4absl") + std::to_string(std::strlen(ns)) + ns + rest;
  void* fn = dlsym(RTLD_NEXT, name.c_str());
  if (fn == nullptr) {
    std::fprintf(stderr, "tests/sanitizers/tsan_absl.cc: %s not found in Abseil: %s\n",
                 name.c_str(), dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

// Abseil calls its own exported methods too, through the same PLT (AwaitWithTimeout calls
// AwaitWithDeadline, Notification::Notify locks its Mutex): only the outermost call of a thread
// is announced, or TSan would see one unlock twice.
thread_local int t_depth = 0;

class Outermost {
 public:
  Outermost() : outer_(t_depth++ == 0) {}
  ~Outermost() { --t_depth; }
  Outermost(const Outermost&) = delete;
  Outermost& operator=(const Outermost&) = delete;
  explicit operator bool() const { return outer_; }

 private:
  const bool outer_;
};

constexpr unsigned kRead = __tsan_mutex_read_lock;
constexpr unsigned kTry = __tsan_mutex_try_lock;
constexpr unsigned kTryFailed = __tsan_mutex_try_lock_failed;

// Announces a lock that `lock()` takes (it returns whether it took it).
template <typename Lock>
bool Locked(void* mu, unsigned flags, Lock lock) {
  Outermost outer;
  if (!outer) return lock();
  __tsan_mutex_pre_lock(mu, flags);
  const bool ok = lock();
  __tsan_mutex_post_lock(mu, ok ? flags : flags | kTryFailed, 0);
  return ok;
}

template <typename Unlock>
void Unlocked(void* mu, unsigned flags, Unlock unlock) {
  Outermost outer;
  if (!outer) return unlock();
  __tsan_mutex_pre_unlock(mu, flags);
  unlock();
  __tsan_mutex_post_unlock(mu, flags);
}

// A wait that releases `mu` (held, exclusively) and holds it again when `wait()` returns.
template <typename Wait>
auto Waited(void* mu, Wait wait) {
  Outermost outer;
  if (!outer) return wait();
  __tsan_mutex_pre_unlock(mu, 0);
  __tsan_mutex_post_unlock(mu, 0);
  __tsan_mutex_pre_lock(mu, 0);
  auto result = wait();
  __tsan_mutex_post_lock(mu, 0, 0);
  return result;
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

// ---- Mutex ----
// No __tsan_mutex_destroy in ~Mutex: gRPC frees its objects (and the Mutexes in them) when an
// atomic reference count, in uninstrumented code, drops to zero, so TSan would report every
// such destruction as racing with the last unlock on another thread. TSan forgets a heap
// Mutex when its memory is freed anyway.

void Mutex::Lock() {
  static const auto real = Real<void (*)(Mutex*)>("5Mutex4LockEv");
  Locked(this, 0, [&] { return real(this), true; });
}

void Mutex::ReaderLock() {
  static const auto real = Real<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  Locked(this, kRead, [&] { return real(this), true; });
}

bool Mutex::TryLock() {
  static const auto real = Real<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  return Locked(this, kTry, [&] { return real(this); });
}

bool Mutex::ReaderTryLock() {
  static const auto real = Real<bool (*)(Mutex*)>("5Mutex13ReaderTryLockEv");
  return Locked(this, kRead | kTry, [&] { return real(this); });
}

void Mutex::Unlock() {
  static const auto real = Real<void (*)(Mutex*)>("5Mutex6UnlockEv");
  Unlocked(this, 0, [&] { real(this); });
}

void Mutex::ReaderUnlock() {
  static const auto real = Real<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  Unlocked(this, kRead, [&] { real(this); });
}

void Mutex::LockWhen(const Condition& cond) {
  static const auto real =
      Real<void (*)(Mutex*, const Condition&)>("5Mutex8LockWhenERKNS0_9ConditionE");
  Locked(this, 0, [&] { return real(this, cond), true; });
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static const auto real =
      Real<void (*)(Mutex*, const Condition&)>("5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  Locked(this, kRead, [&] { return real(this, cond), true; });
}

// The *WithTimeout/*WithDeadline forms hold the mutex on return whatever they return.
bool Mutex::LockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  bool result = false;
  Locked(this, 0, [&] { return result = real(this, cond, timeout), true; });
  return result;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  bool result = false;
  Locked(this, 0, [&] { return result = real(this, cond, deadline), true; });
  return result;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  bool result = false;
  Locked(this, kRead, [&] { return result = real(this, cond, timeout), true; });
  return result;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  bool result = false;
  Locked(this, kRead, [&] { return result = real(this, cond, deadline), true; });
  return result;
}

// Await releases the mutex while it waits (psd awaits only with the mutex held exclusively).
void Mutex::Await(const Condition& cond) {
  static const auto real =
      Real<void (*)(Mutex*, const Condition&)>("5Mutex5AwaitERKNS0_9ConditionE");
  Waited(this, [&] { return real(this, cond), true; });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return Waited(this, [&] { return real(this, cond, timeout); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return Waited(this, [&] { return real(this, cond, deadline); });
}

// ---- CondVar ----
// A wait releases the mutex and holds it again on return; Signal also orders what the
// signalling thread did before it (without the mutex) before what the woken thread does.

void CondVar::Wait(Mutex* mu) {
  static const auto real = Real<void (*)(CondVar*, Mutex*)>("7CondVar4WaitEPNS0_5MutexE");
  Waited(mu, [&] { return real(this, mu), true; });
  __tsan_acquire(this);
}

bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, absl::Duration)>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  const bool result = Waited(mu, [&] { return real(this, mu, timeout); });
  __tsan_acquire(this);
  return result;
}

bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time deadline) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, absl::Time)>(
      "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  const bool result = Waited(mu, [&] { return real(this, mu, deadline); });
  __tsan_acquire(this);
  return result;
}

void CondVar::Signal() {
  static const auto real = Real<void (*)(CondVar*)>("7CondVar6SignalEv");
  __tsan_release(this);
  __tsan_mutex_pre_signal(this, 0);
  real(this);
  __tsan_mutex_post_signal(this, 0);
}

void CondVar::SignalAll() {
  static const auto real = Real<void (*)(CondVar*)>("7CondVar9SignalAllEv");
  __tsan_release(this);
  __tsan_mutex_pre_signal(this, 0);
  real(this);
  __tsan_mutex_post_signal(this, 0);
}

// ---- Notification ----
// Notify releases; a wait that sees the notification acquires. HasBeenNotified() is inline
// (an acquire load of the flag that follows the notification's mutex), compiled here with
// -fsanitize=thread: Notify releases at that address too, so the load acquires from it.

namespace {
void* NotifiedFlag(const Notification* n) {
  static_assert(sizeof(Notification) >= sizeof(Mutex) + sizeof(std::atomic<bool>),
                "absl::Notification is {Mutex, atomic<bool>}");
  return const_cast<char*>(reinterpret_cast<const char*>(n) + sizeof(Mutex));
}
}  // namespace

void Notification::Notify() {
  static const auto real = Real<void (*)(Notification*)>("12Notification6NotifyEv");
  __tsan_release(this);
  __tsan_release(NotifiedFlag(this));
  real(this);
}

void Notification::WaitForNotification() const {
  static const auto real =
      Real<void (*)(const Notification*)>("12Notification19WaitForNotificationEv", true);
  real(this);
  __tsan_acquire(const_cast<Notification*>(this));
}

bool Notification::WaitForNotificationWithTimeout(absl::Duration timeout) const {
  static const auto real = Real<bool (*)(const Notification*, absl::Duration)>(
      "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE", true);
  const bool notified = real(this, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(absl::Time deadline) const {
  static const auto real = Real<bool (*)(const Notification*, absl::Time)>(
      "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE", true);
  const bool notified = real(this, deadline);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl
