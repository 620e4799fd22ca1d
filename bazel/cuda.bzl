"""Finds the CUDA toolkit at fetch time and compiles .cu files with nvcc.

`cuda_configure` writes @local_cuda: `defs.bzl` says whether CUDA is available and a
`cuda_runtime` target links cudart and cuBLAS. Without a toolkit the build still succeeds:
BUILD files read CUDA_AVAILABLE and leave the CUDA targets out.
"""

def _cuda_configure_impl(ctx):
    root = ctx.os.environ.get("CUDA_PATH", "/usr/local/cuda")
    disabled = ctx.os.environ.get("PSD_WITH_CUDA", "1") == "0"
    nvcc = ctx.path(root + "/bin/nvcc")
    libdir = root + "/lib64"
    available = (not disabled and nvcc.exists and
                 ctx.path(libdir + "/libcublas.so").exists and
                 ctx.path(root + "/include/cuda_runtime.h").exists)
    if available:
        ctx.symlink(root + "/include", "include")
        build = """package(default_visibility = ["//visibility:public"])

cc_library(
    name = "cuda_runtime",
    # Everything: some headers have no extension (<nv/target>, included by cuda_fp16.h).
    hdrs = glob(["include/**"]),
    includes = ["include"],
    linkopts = ["-L{libdir}", "-Wl,-rpath,{libdir}", "-lcublas", "-lcudart"],
)
""".format(libdir = libdir)
    else:
        build = 'package(default_visibility = ["//visibility:public"])\n'
    ctx.file("BUILD", build)
    ctx.file("defs.bzl", "CUDA_AVAILABLE = %s\nNVCC = %r\n" % (available, str(nvcc)))
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)

cuda_configure = repository_rule(
    implementation = _cuda_configure_impl,
    environ = ["CUDA_PATH", "PSD_WITH_CUDA"],
    local = True,
)

# sm_90 machine code for Hopper (H100/H200) plus compute_90 PTX that newer GPUs JIT.
_NVCC_FLAGS = [
    "-std=c++17",
    "-O3",
    "-Xcompiler=-fPIC,-Wall,-Wextra",
    "-gencode=arch=compute_90,code=sm_90",
    "-gencode=arch=compute_90,code=compute_90",
]

def cuda_library(name, srcs, hdrs = [], deps = [], nvcc = None, **kwargs):
    """A cc_library whose .cu sources are compiled by nvcc into one static archive."""
    archive = "lib%s_cu.a" % name
    native.genrule(
        name = name + "_nvcc",
        srcs = srcs + hdrs,
        outs = [archive],
        cmd = "%s %s -I. -I$(GENDIR) -lib -o $@ %s" % (
            nvcc,
            " ".join(_NVCC_FLAGS),
            " ".join(["$(location %s)" % s for s in srcs]),
        ),
        message = "nvcc " + name,
    )
    native.cc_library(
        name = name,
        srcs = [archive],
        hdrs = hdrs,
        deps = deps + ["@local_cuda//:cuda_runtime"],
        **kwargs
    )
