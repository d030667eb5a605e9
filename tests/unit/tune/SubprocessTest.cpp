//===- SubprocessTest.cpp - Commands with a deadline ----------------------===//

#include "compiler/support/Subprocess.h"

#include <chrono>

#include "gtest/gtest.h"

namespace tessel::tune {
namespace {

TEST(SubprocessTest, ReturnsTheOutput) {
  absl::StatusOr<std::string> out =
      runCommand({"sh", "-c", "echo to-out; echo to-err >&2"}, 60);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NE(out->find("to-out"), std::string::npos);
  EXPECT_NE(out->find("to-err"), std::string::npos);
}

TEST(SubprocessTest, AFailureNamesTheCommandAndKeepsItsOutput) {
  absl::StatusOr<std::string> out =
      runCommand({"sh", "-c", "echo what-went-wrong; exit 3"}, 60);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("exit status 3"), std::string::npos);
  EXPECT_NE(out.status().message().find("what-went-wrong"), std::string::npos);
  EXPECT_FALSE(runCommand({"/no/such/program"}, 60).ok());
}

// A command that outlives its deadline is killed with what it started
// (here a child that keeps the output open), and the call returns at the
// deadline, not when the command would have ended.
TEST(SubprocessTest, TheDeadlineKillsTheWholeGroup) {
  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::string> out =
      runCommand({"sh", "-c", "echo started; sleep 600 & wait"}, 1);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  ASSERT_EQ(out.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(out.status().message().find("started"), std::string::npos);
  EXPECT_LT(seconds, 60);
}

// A solver killed at the deadline has printed its best answers so far: the
// caller may ask for all of it (the error holds only its end).
TEST(SubprocessTest, WhatAKilledCommandPrintedIsKept) {
  std::string printed;
  absl::StatusOr<std::string> out = runCommand(
      {"sh", "-c", "echo first; echo second; exec sleep 600"}, 2, &printed);
  ASSERT_EQ(out.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(printed, "first\nsecond\n");
  std::string untouched = "kept";
  EXPECT_TRUE(runCommand({"sh", "-c", "echo done"}, 60, &untouched).ok());
  EXPECT_EQ(untouched, "kept"); // Only a kill fills it.
}

// A caller that knows from the output when it has what it needs stops the
// command there, long before its deadline, and gets that output.
TEST(SubprocessTest, ACommandIsStoppedOnceItsOutputIsEnough) {
  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::string> out =
      runCommand({"sh", "-c", "echo answer; exec sleep 600"}, 120, nullptr,
                 [](absl::string_view printed) {
                   return printed.find("answer\n") != absl::string_view::npos;
                 });
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "answer\n");
  EXPECT_LT(seconds, 60);
}

} // namespace
} // namespace tessel::tune
