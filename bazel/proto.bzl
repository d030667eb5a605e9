"""C++ code for Tessel's .proto files with Debian's protoc.

    tessel_cc_proto_library(
        name = "executable_cc_proto",
        srcs = ["executable.proto"],
        deps = [":common_cc_proto"],   # other tessel_cc_proto_library targets
    )

Protos import each other by workspace path ("runtime/proto/common.proto") and
the well-known types by their usual path ("google/protobuf/any.proto", found
by protoc next to Debian's headers). C++ includes the generated header by
workspace path: `#include "runtime/proto/executable.pb.h"`.

Bazel's own proto_library is avoided on purpose: it would require a
@com_google_protobuf source tree, which Debian does not ship.
"""

_PROTOC = "//third_party:protoc"

def tessel_cc_proto_library(name, srcs, deps = [], visibility = None):
    for src in srcs:
        if not src.endswith(".proto"):
            fail("tessel_cc_proto_library: %s is not a .proto file" % src)

    # The .proto files of this target and of all it depends on, transitively:
    # protoc must see every file an import names.
    native.filegroup(
        name = name + "_protos",
        srcs = srcs + [d + "_protos" for d in deps],
        visibility = visibility,
    )
    stems = [src[:-len(".proto")] for src in srcs]
    hdrs = [s + ".pb.h" for s in stems]
    cc_srcs = [s + ".pb.cc" for s in stems]
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [name + "_protos"],
        outs = hdrs + cc_srcs,
        tools = [_PROTOC],
        cmd = "$(location {protoc}) -I . --cpp_out=$(GENDIR) {files}".format(
            protoc = _PROTOC,
            files = " ".join(["$(location %s)" % s for s in srcs]),
        ),
        message = "protoc %s" % " ".join(srcs),
    )
    native.cc_library(
        name = name,
        srcs = cc_srcs,
        hdrs = hdrs,
        deps = deps + ["//third_party:protobuf"],
        visibility = visibility,
    )
