// Defaults of the TSan runtime for psd's --config=tsan builds: the runtime asks the binary for
// them at start. TSAN_OPTIONS in the environment adds to and overrides these.
extern const char kPsdSuppressions_tsan[];

extern "C" {

// Reports every race (a binary with one exits with 66 at the end); second_deadlock_stack
// names both stacks of a lock-order inversion.
__attribute__((visibility("default"), used)) const char* __tsan_default_options() {
  return "second_deadlock_stack=1:print_suppressions=0";
}

__attribute__((visibility("default"), used)) const char* __tsan_default_suppressions() {
  return kPsdSuppressions_tsan;
}

}  // extern "C"
