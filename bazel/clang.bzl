"""@local_config_clang: Bazel's auto-configured C++ toolchain, for Debian's clang-14.

It is the same toolchain @local_config_cc is (tools/cpp/cc_configure.bzl), with clang-14 as the
compiler: `--crosstool_top=@local_config_clang//:toolchain` (.bazelrc, --config=fuzz) selects
it. It is a repository of its own rather than `--repo_env=CC=clang-14`, which would reconfigure
@local_config_cc itself on every switch between gcc and clang (and make every gcc build in the
shared Bazel server configure it back). Fetched only when a build asks for it: without clang-14
the default (gcc) build never notices; `--config=fuzz` then fails naming the package.
"""

load("@bazel_tools//tools/cpp:cc_configure.bzl", "cc_autoconf_impl")

def _clang_configure_impl(ctx):
    clang = ctx.which("clang-14")
    if clang == None:
        fail("clang-14 not found: --config=fuzz needs Debian's clang-14 and libclang-rt-14-dev " +
             "(deploy/local/install_deps.sh --tests installs them)")
    cc_autoconf_impl(ctx, overriden_tools = {"gcc": str(clang)})

clang_configure = repository_rule(
    implementation = _clang_configure_impl,
    local = True,
    configure = True,
)
