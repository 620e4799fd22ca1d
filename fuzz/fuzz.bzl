"""psd_fuzzer: a libFuzzer target, and the replay of its seeds and regressions as a test."""

def psd_fuzzer(name, srcs, deps = []):
    """A libFuzzer binary `name` and a cc_test `name`_replay_test.

    The binary is built only with --config=fuzz (clang-14, see .bazelrc) and tagged manual, so
    that `bazel build //...` with gcc leaves it out; fuzz/run.sh builds and runs every target
    of this package made by this macro. Its seeds are fuzz/corpus/<name>/; the inputs that
    once broke it, fuzz/regressions/<name>/. The replay test runs both through the same
    harness in the ordinary suite (gcc, --config=asan, ...), without libFuzzer.
    """
    native.cc_binary(
        name = name,
        srcs = srcs,
        deps = deps + [":fuzz_util"],
        copts = ["-Wno-overloaded-virtual"],  # gRPC's generated raw-method services
        linkopts = ["-fsanitize=fuzzer"],
        tags = ["manual", "psd_fuzzer"],
    )
    native.cc_test(
        name = name + "_replay_test",
        size = "small",
        srcs = srcs + ["replay_test.cc"],
        data = native.glob(
            ["corpus/%s/**" % name, "regressions/%s/**" % name],
            allow_empty = True,
        ),
        local_defines = ['PSD_FUZZ_TARGET=\\"%s\\"' % name],
        deps = deps + [
            ":fuzz_util",
            "//tests:test_main",
        ],
    )
