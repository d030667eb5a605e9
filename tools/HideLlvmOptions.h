//===- HideLlvmOptions.h - --help without LLVM's internals ------*- C++ -*-===//
//
// tessel-opt and tessel-translate link all of LLVM, whose static options
// (code generators, Polly, profiling, debugify...) would fill --help; MLIR's
// own options and the passes register later, when the tool's main runs.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_TOOLS_HIDELLVMOPTIONS_H
#define TESSEL_TOOLS_HIDELLVMOPTIONS_H

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/CommandLine.h"

namespace tessel {

/// Hides every option registered so far (LLVM's, Polly's...) but --help,
/// --version and the tool's own (in a category named "Tessel ..."). Call
/// first in main: MLIR's options and the passes register later and stay.
inline void hideLlvmOptions() {
  for (auto &[name, option] : llvm::cl::getRegisteredOptions()) {
    bool keep = llvm::any_of(
        option->Categories, [](const llvm::cl::OptionCategory *category) {
          return category->getName().starts_with("Tessel") ||
                 category->getName() == "Generic Options";
        });
    if (!keep)
      option->setHiddenFlag(llvm::cl::ReallyHidden);
  }
}

} // namespace tessel

#endif // TESSEL_TOOLS_HIDELLVMOPTIONS_H
