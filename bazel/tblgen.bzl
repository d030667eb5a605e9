"""MLIR TableGen with Debian's mlir-tblgen (ops, attributes, types,
interfaces, passes, docs).

    td_library(
        name = "graph_td",
        srcs = ["GraphOps.td", "GraphDialect.td"],
        deps = ["//dialects/common:common_td"],
    )

    gentbl_cc_library(
        name = "graph_ops_inc_gen",
        td_file = "GraphOps.td",
        deps = [":graph_td"],
        tbl_outs = {
            "GraphOps.h.inc": ["-gen-op-decls"],
            "GraphOps.cpp.inc": ["-gen-op-defs"],
        },
    )

The generated files are textual headers of the cc_library `name`, included by
their workspace path (`#include "dialects/graph/GraphOps.h.inc"`).
`.td` files include MLIR's own files by their usual path ("mlir/IR/OpBase.td")
and Tessel's by workspace path ("dialects/graph/GraphDialect.td").
"""

_MLIR_TBLGEN = "@llvm//:bin/mlir-tblgen"
_MLIR_TD = "@llvm//:mlir_td_files"

def td_library(name, srcs, deps = [], visibility = None):
    """A set of .td files and the .td files they include."""
    native.filegroup(name = name, srcs = srcs + deps, visibility = visibility)

def gentbl(name, td_file, tbl_outs, deps = [], visibility = None):
    """Runs mlir-tblgen once per output; `tbl_outs` maps output -> flags."""
    outs = []
    for i, (out, flags) in enumerate(sorted(tbl_outs.items())):
        native.genrule(
            name = "%s_%d" % (name, i),
            srcs = [td_file, _MLIR_TD] + deps,
            outs = [out],
            tools = [_MLIR_TBLGEN],
            cmd = ("$(location {tblgen}) {flags} -I external/llvm/include -I . " +
                   "-I $(GENDIR) $(location {td}) -o $@").format(
                tblgen = _MLIR_TBLGEN,
                flags = " ".join(flags),
                td = td_file,
            ),
            message = "mlir-tblgen %s" % out,
        )
        outs.append(out)
    native.filegroup(name = name, srcs = outs, visibility = visibility)

def gentbl_cc_library(name, td_file, tbl_outs, deps = [], visibility = None):
    """gentbl, with the outputs exposed as a cc_library's textual headers."""
    gentbl(name = name + "_files", td_file = td_file, tbl_outs = tbl_outs, deps = deps)
    native.cc_library(
        name = name,
        textual_hdrs = [":" + name + "_files"],
        visibility = visibility,
    )

def gen_pass_doc(name, td_file, out, deps = [], visibility = None):
    """Markdown documentation of the passes declared in `td_file`."""
    gentbl(
        name = name,
        td_file = td_file,
        tbl_outs = {out: ["-gen-pass-doc"]},
        deps = deps,
        visibility = visibility,
    )

def pass_group(group):
    """The targets of a pass folder's Passes.td: passes_td, passes_inc_gen
    (Passes.h.inc, declarations and registration of the group `group`) and
    passes_doc (<group>Passes.md, for docs/reference)."""
    td_library(
        name = "passes_td",
        srcs = ["Passes.td"],
    )
    gentbl_cc_library(
        name = "passes_inc_gen",
        td_file = "Passes.td",
        tbl_outs = {"Passes.h.inc": [
            "-gen-pass-decls",
            "-name=" + group,
        ]},
        deps = [":passes_td"],
    )
    gen_pass_doc(
        name = "passes_doc",
        out = group + "Passes.md",
        td_file = "Passes.td",
        deps = [":passes_td"],
    )
