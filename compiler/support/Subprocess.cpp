//===- Subprocess.cpp - A command run with a deadline ---------------------===//

#include "compiler/support/Subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tessel {

absl::StatusOr<std::string>
runCommand(const std::vector<std::string> &argv, double timeoutSeconds,
           std::string *printedBeforeKill,
           const std::function<bool(absl::string_view)> &enough) {
  if (argv.empty())
    return absl::InvalidArgumentError("runCommand: no command");
  std::string command = absl::StrJoin(argv, " ");
  int pipeFds[2];
  if (pipe2(pipeFds, O_CLOEXEC) != 0)
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  std::vector<char *> args;
  for (const std::string &arg : argv)
    args.push_back(const_cast<char *>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    close(pipeFds[0]);
    close(pipeFds[1]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    // The child: only async-signal-safe calls until exec.
    setpgid(0, 0);
    dup2(pipeFds[1], STDOUT_FILENO);
    dup2(pipeFds[1], STDERR_FILENO);
    execvp(args[0], args.data());
    const char message[] = "exec failed\n";
    (void)!write(STDERR_FILENO, message, sizeof message - 1);
    _exit(127);
  }
  setpgid(pid, pid); // Either side may get there first.
  close(pipeFds[1]);
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::duration<double>(timeoutSeconds);
  std::string output;
  bool timedOut = false, stopped = false;
  char buffer[4096];
  while (true) {
    if (enough && enough(output)) {
      stopped = true;
      break;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      timedOut = true;
      break;
    }
    pollfd fd{pipeFds[0], POLLIN, 0};
    int ready = poll(
        &fd, 1, static_cast<int>(std::min<int64_t>(left, enough ? 100 : 1000)));
    if (ready < 0 && errno != EINTR)
      break;
    if (ready <= 0)
      continue;
    ssize_t got = read(pipeFds[0], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break; // Every writer closed: the job is ending.
    output.append(buffer, got);
  }
  close(pipeFds[0]);
  if (timedOut || stopped)
    kill(-pid, SIGKILL);
  // The output is closed; the exit follows at once, unless a straggler of
  // the group holds on: then it is killed at the deadline too.
  int status = 0;
  while (true) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR))
      break;
    if (std::chrono::steady_clock::now() > deadline) {
      timedOut = true;
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    poll(nullptr, 0, 10);
  }
  std::string tail = output.size() > 2000
                         ? "..." + output.substr(output.size() - 2000)
                         : output;
  if (timedOut && printedBeforeKill)
    *printedBeforeKill = output;
  if (stopped && !timedOut)
    return output;
  if (timedOut)
    return absl::DeadlineExceededError(
        absl::StrCat("'", command, "' still ran after ", timeoutSeconds,
                     " s; killed\n", tail));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return absl::InternalError(absl::StrCat(
        "'", command, "' failed (",
        WIFEXITED(status) ? absl::StrCat("exit status ", WEXITSTATUS(status))
                          : absl::StrCat("signal ", WTERMSIG(status)),
        ")\n", tail));
  return output;
}

} // namespace tessel
