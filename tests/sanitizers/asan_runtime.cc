// Defaults of the ASan, UBSan and LSan runtimes for psd's sanitizer builds (--config=asan,
// --config=fuzz): the runtimes ask the binary for them at start. ASAN_OPTIONS, UBSAN_OPTIONS
// and LSAN_OPTIONS in the environment add to and override these.
extern const char kPsdSuppressions_lsan[];

extern "C" {

// Leaks are errors (LSan, at exit); lsan.supp lists the few that are not psd's. Every bad
// access, and every undefined behaviour (-fno-sanitize-recover), stops the binary.
__attribute__((visibility("default"), used)) const char* __asan_default_options() {
  return "detect_leaks=1:check_initialization_order=1:strict_init_order=1:"
         "detect_stack_use_after_return=1:strict_string_checks=1:print_suppressions=0";
}

__attribute__((visibility("default"), used)) const char* __ubsan_default_options() {
  return "print_stacktrace=1:halt_on_error=1";
}

__attribute__((visibility("default"), used)) const char* __lsan_default_suppressions() {
  return kPsdSuppressions_lsan;
}

}  // extern "C"
