//===- Subprocess.h - A command run with a deadline -------------*- C++ -*-===//
//
// What tessel-tune's MPI measurements need: run `mpirun ... tessel-run`,
// read what it prints, and never wait longer than a deadline (a hung job is
// killed with its whole process group and reported).
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_TUNE_SUBPROCESS_H
#define TESSEL_COMPILER_TUNE_SUBPROCESS_H

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessel::tune {

/// Runs `argv` (argv[0] looked up on PATH) in a process group of its own,
/// its standard output and error together, and returns what it printed if
/// it exits with status 0. An error names the command and holds the end of
/// its output if it fails, and DeadlineExceeded if it is still running
/// after `timeoutSeconds` (then the group is killed).
absl::StatusOr<std::string> runCommand(const std::vector<std::string> &argv,
                                       double timeoutSeconds);

} // namespace tessel::tune

#endif // TESSEL_COMPILER_TUNE_SUBPROCESS_H
