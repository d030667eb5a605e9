//===- Subprocess.h - A command run with a deadline -------------*- C++ -*-===//
//
// A command run as a process of its own, what it prints read, and never
// waited for past a deadline (a hung command is killed with its whole
// process group and reported): tessel-tune's MPI measurements (`mpirun ...
// tessel-run`) and the auto-sharding solver's toulbar2.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_SUPPORT_SUBPROCESS_H
#define TESSEL_COMPILER_SUPPORT_SUBPROCESS_H

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tessel {

/// Runs `argv` (argv[0] looked up on PATH) in a process group of its own,
/// its standard output and error together, and returns what it printed if
/// it exits with status 0. An error names the command and holds the end of
/// its output if it fails, and DeadlineExceeded if it is still running
/// after `timeoutSeconds` (then the group is killed; `printedBeforeKill`,
/// if given, then receives all it printed, for a job whose output up to
/// any point is of use, such as a solver printing each better answer).
/// `enough`, if given, is asked what was printed so far after each read
/// and at least every 100 ms: once it says true, the group is killed and
/// that output returned (not an error), for a caller that knows from the
/// output when more of the job is not worth its time.
absl::StatusOr<std::string>
runCommand(const std::vector<std::string> &argv, double timeoutSeconds,
           std::string *printedBeforeKill = nullptr,
           const std::function<bool(absl::string_view printed)> &enough = {});

} // namespace tessel

#endif // TESSEL_COMPILER_SUPPORT_SUBPROCESS_H
