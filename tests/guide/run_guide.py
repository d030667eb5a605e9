#!/usr/bin/env python3
"""Runs the commands of the user guide and the README, as a user would.

    run_guide.py --tools DIR --models DIR file.md...

A fenced ```sh block preceded by the line `<!-- test -->` is run; so is
one preceded by `<!-- test: fails -->`, whose commands may fail, and
`<!-- test: no-gpu -->`, run only where there is no NVIDIA driver (the two
combine: `<!-- test: no-gpu fails -->`). The blocks of a file run in order in one
bash session (variables and the current folder carry over), with `set -e`.
Each whole-line comment `# text` inside a block is output the block must
print (stdout or stderr), `...` matching anything; comments after a command
on its line are the shell's.

The session starts in a scratch "checkout" holding what a clone holds after
./quickstart.sh for the guide's purposes: bazel-bin/tools (the tools under
test), tests/models and tests/train; HOME is a scratch folder, so that `cd ~/...` leaves
the checkout as the guide asks. Nothing outside the scratch folder is
written.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

MARK = re.compile(r"^<!-- test(?::\s*((?:fails|no-gpu)(?:\s+(?:fails|no-gpu))*))? -->\s*$")


def blocks_of(path):
    """(line number, kind, text) of each marked block of `path`."""
    lines = open(path, encoding="utf-8").read().split("\n")
    found = []
    i = 0
    while i < len(lines):
        mark = MARK.match(lines[i])
        if not mark:
            i += 1
            continue
        if i + 1 >= len(lines) or lines[i + 1].strip() != "```sh":
            sys.exit(f"{path}:{i + 1}: a test mark must be followed by a ```sh block")
        start = i + 2
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            sys.exit(f"{path}:{i + 2}: the block never ends")
        kinds = set((mark.group(1) or "").split())
        found.append((i + 3, kinds, "\n".join(lines[start:end])))
        i = end + 1
    return found


def expected_lines(text):
    """Whole-line comments of a block, outside heredocs."""
    expected = []
    heredoc = None
    for line in text.split("\n"):
        if heredoc:
            if line.strip() == heredoc:
                heredoc = None
            continue
        match = re.search(r"<<-?\s*'?\"?(\w+)", line)
        if match and not line.lstrip().startswith("#"):
            heredoc = match.group(1)
        if line.lstrip().startswith("# "):
            expected.append(line.lstrip()[2:].rstrip())
    return expected


def matches(pattern, output):
    regex = ".*".join(re.escape(part) for part in pattern.split("..."))
    return any(re.search(regex, line) for line in output.split("\n"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tools", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    has_gpu = os.path.exists("/dev/nvidiactl")
    scratch = tempfile.mkdtemp(prefix="guide-", dir=os.environ.get("TEST_TMPDIR"))
    failures = 0
    try:
        for path in args.files:
            checkout = os.path.join(scratch, os.path.basename(path) + ".checkout")
            home = os.path.join(scratch, os.path.basename(path) + ".home")
            os.makedirs(os.path.join(checkout, "bazel-bin"))
            os.makedirs(os.path.join(checkout, "tests"))
            os.makedirs(home)
            os.symlink(os.path.abspath(args.tools), os.path.join(checkout, "bazel-bin", "tools"))
            os.symlink(os.path.abspath(args.models), os.path.join(checkout, "tests", "models"))
            os.symlink(os.path.abspath(args.train), os.path.join(checkout, "tests", "train"))
            blocks = [b for b in blocks_of(path) if not ("no-gpu" in b[1] and has_gpu)]
            if not blocks:
                sys.exit(f"{path}: no block is marked <!-- test -->")
            script = []
            for index, (line, kind, text) in enumerate(blocks):
                script.append(f"echo '@@block {index}@@'; echo '@@block {index}@@' >&2")
                script.append("set +e" if "fails" in kind else "set -e")
                script.append(text)
                script.append("set +e")
            script.append("echo '@@end@@'")
            env = dict(os.environ, HOME=home)
            # mpirun as root with more ranks than cores, as the guide says.
            env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                       OMPI_MCA_rmaps_base_oversubscribe="1")
            run = subprocess.run(["bash", "-c", "\n".join(script)], cwd=checkout, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, timeout=1500)
            parts = re.split(r"@@block (\d+)@@\n", run.stdout)
            outputs = {}
            for k in range(1, len(parts) - 1, 2):
                outputs[int(parts[k])] = outputs.get(int(parts[k]), "") + parts[k + 1]
            for index, (line, kind, text) in enumerate(blocks):
                where = f"{path}:{line}"
                output = outputs.get(index)
                if output is None:
                    print(f"FAIL {where}: never ran (an earlier block failed)")
                    failures += 1
                    continue
                stopped = index == len(blocks) - 1 and "@@end@@" not in output or (
                    index + 1 < len(blocks) and index + 1 not in outputs)
                missing = [e for e in expected_lines(text) if not matches(e, output)]
                if stopped or missing:
                    failures += 1
                    print(f"FAIL {where}:")
                    print("  " + text.replace("\n", "\n  "))
                    if stopped:
                        print("  a command failed")
                    for e in missing:
                        print(f"  expected a line like: {e}")
                    print("  output:\n    " + output.replace("\n", "\n    "))
                else:
                    print(f"ok   {where}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if failures:
        print(f"{failures} block(s) of the guide do not work as written")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
