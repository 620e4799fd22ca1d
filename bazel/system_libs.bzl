"""One repository rule that turns pkg-config answers into cc_library targets.

Every system library psd links comes in as @system//:<name>; BUILD files never carry
compiler or linker flags for them.
"""

# Bazel target name -> pkg-config modules it covers.
_LIBRARIES = {
    "absl": [
        "absl_base",
        "absl_cord",
        "absl_flags",
        "absl_flags_parse",
        "absl_flags_usage",
        "absl_hash",
        "absl_random_random",
        "absl_raw_hash_set",
        "absl_status",
        "absl_statusor",
        "absl_str_format",
        "absl_strings",
        "absl_synchronization",
        "absl_time",
    ],
    "fmt": ["fmt"],
    "grpc": ["grpc++"],
    "openblas": ["openblas"],
    "openssl": ["openssl"],
    # Prometheus client (Debian's prometheus-cpp-dev): metrics and the pull exposer.
    "prometheus": [
        "prometheus-cpp-core",
        "prometheus-cpp-pull",
    ],
    "protobuf": ["protobuf"],
    # SimGrid (Debian's libsimgrid-dev, 3.32): the cluster simulator of bench/scale.
    "simgrid": ["simgrid"],
    "spdlog": ["spdlog"],
    "sqlite3": ["sqlite3"],
    "yaml_cpp": ["yaml-cpp"],
    "zlib": ["zlib"],
}

def _pkg_config(ctx, flag, modules):
    result = ctx.execute(["pkg-config", flag] + modules)
    if result.return_code != 0:
        fail("pkg-config %s %s failed (install the Debian -dev packages; see tests/run.sh):\n%s" %
             (flag, " ".join(modules), result.stderr))
    return [f for f in result.stdout.strip().split(" ") if f]

def _system_libs_impl(ctx):
    if ctx.which("pkg-config") == None:
        fail("pkg-config not found: apt-get install pkg-config (tests/run.sh installs it)")
    build = ['package(default_visibility = ["//visibility:public"])', ""]
    for name, modules in _LIBRARIES.items():
        defines = []
        includes = []
        for flag in _pkg_config(ctx, "--cflags", modules):
            if flag.startswith("-D"):
                defines.append(flag[2:])
            elif flag.startswith("-I"):
                # Bazel accepts only include paths inside a repository: link the directory in.
                link = "include/%s_%d" % (name, len(includes))
                ctx.symlink(flag[2:], link)
                includes.append(link)
        linkopts = _pkg_config(ctx, "--libs", modules)
        build.append("""cc_library(
    name = "{name}",
    hdrs = glob(["{globs}"], allow_empty = True),
    includes = {includes},
    defines = {defines},
    linkopts = {linkopts},
)
""".format(
            name = name,
            globs = "include/%s_*/**" % name,
            includes = repr(includes),
            defines = repr(defines),
            linkopts = repr(linkopts),
        ))

    # Catch2 v2 is header-only (<catch2/catch.hpp>); its presence is checked here.
    if not ctx.path("/usr/include/catch2/catch.hpp").exists:
        fail("/usr/include/catch2/catch.hpp not found: apt-get install catch2")
    build.append('cc_library(name = "catch2")\n')
    ctx.file("BUILD", "\n".join(build))
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)

system_libs = repository_rule(
    implementation = _system_libs_impl,
    environ = ["PKG_CONFIG_PATH"],
    local = True,
)
