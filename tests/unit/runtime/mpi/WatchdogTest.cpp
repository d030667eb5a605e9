//===- WatchdogTest.cpp - The deadline on every wait of a job -------------===//

#include "runtime/mpi/Watchdog.h"

#include <unistd.h>

#include <cstdlib>

#include "gtest/gtest.h"

namespace tessel {
namespace {

TEST(WatchdogTest, DescribesRanks) {
  EXPECT_EQ(Watchdog::describeRanks({}), "nobody");
  EXPECT_EQ(Watchdog::describeRanks({3}), "rank 3");
  EXPECT_EQ(Watchdog::describeRanks({0, 2, 3}), "ranks 0, 2, 3");
}

TEST(WatchdogTest, RejectsBadDeadlinesAndFaults) {
  EXPECT_FALSE(Watchdog::start(0, 1).ok());
  EXPECT_FALSE(Watchdog::start(-3, 1).ok());
  for (const char *fault :
       {"2", "2:freeze", "x:freeze:start", "2:melt:start", "2:freeze:lunch",
        "2:freeze:start:0", "2:freeze:start:1:9", "-1:kill:start"}) {
    setenv("TESSEL_FAULT", fault, 1);
    absl::Status status = Watchdog::start(60, 2);
    EXPECT_FALSE(status.ok()) << fault;
    EXPECT_NE(status.message().find("TESSEL_FAULT"), std::string::npos)
        << status.message();
  }
  setenv("TESSEL_FAULT", "2:freeze:collective:4", 1);
  EXPECT_TRUE(Watchdog::start(60, 2).ok());
  unsetenv("TESSEL_FAULT");
}

TEST(WatchdogTest, ReadsTheRankMpirunGives) {
  unsetenv("PMIX_RANK");
  unsetenv("PMI_RANK");
  setenv("OMPI_COMM_WORLD_RANK", "5", 1);
  EXPECT_EQ(Watchdog::rankFromEnvironment(), 5);
  setenv("OMPI_COMM_WORLD_SIZE", "8", 1);
  EXPECT_EQ(Watchdog::othersFromEnvironment(), "the other 7 ranks");
  unsetenv("OMPI_COMM_WORLD_RANK");
  unsetenv("OMPI_COMM_WORLD_SIZE");
  unsetenv("PMI_SIZE");
  EXPECT_EQ(Watchdog::rankFromEnvironment(), -1);
  EXPECT_EQ(Watchdog::othersFromEnvironment(), "the other ranks");
}

/// In a death test's child: the watchdog armed with `seconds` for `rank`
/// and `fault` (TESSEL_FAULT; null: none).
void startOrExit(double seconds, int rank, const char *fault = nullptr) {
  if (fault)
    setenv("TESSEL_FAULT", fault, 1);
  else
    unsetenv("TESSEL_FAULT");
  if (!Watchdog::start(seconds, rank).ok())
    std::exit(1);
}

// A wait that never ends ends the process: one line naming the rank, what
// it waited in (with the thread's label) and for whom, and exit code 124.
// (Each death test runs in a fresh process: the watchdog's thread of an
// earlier test would not survive a fork.)
TEST(WatchdogDeathTest, EndsAWaitThatOutlastsTheDeadline) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        startOrExit(0.2, 3);
        Watchdog::Label label("step 7, collective for tensor 'h'");
        Watchdog::Wait waiting("collective", "all_reduce", "ranks 1, 2");
        for (;;)
          pause();
      },
      testing::ExitedWithCode(124),
      "tessel: rank 3 waited 0.2 s in step 7, collective for tensor 'h': "
      "all_reduce for ranks 1, 2; ending the job \\(--timeout\\)");
}

// Waits that end in time leave the process alone, however many there were;
// the one left open is the one named.
TEST(WatchdogDeathTest, NamesTheWaitStillOpen) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        startOrExit(0.2, 0);
        for (int i = 0; i < 1000; ++i) {
          Watchdog::Wait waiting("inputs", "inputs", "rank 1");
        }
        Watchdog::Wait other("outputs", "outputs", "ranks 2, 3");
        for (;;)
          pause();
      },
      testing::ExitedWithCode(124),
      "rank 0 waited 0.2 s in outputs for ranks 2, 3");
}

// TESSEL_FAULT acts at the named wait of the named rank, and says so.
TEST(WatchdogDeathTest, InjectsTheFaultAtItsPhase) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        startOrExit(60, 4, "4:exit:collective:3");
        { Watchdog::Wait waiting("inputs", "inputs", "rank 0"); }
        for (int i = 0; i < 2; ++i) {
          Watchdog::Wait waiting("collective", "all_gather", "rank 1");
        }
        Watchdog::Wait third("collective", "all_gather", "rank 1");
        std::exit(0);
      },
      testing::ExitedWithCode(3),
      "tessel: rank 4: TESSEL_FAULT: exit at collective \\(3\\)");
}

// Another rank's fault is not this one's.
TEST(WatchdogTest, LeavesOtherRanksAlone) {
  setenv("TESSEL_FAULT", "1:kill:inputs", 1);
  ASSERT_TRUE(Watchdog::start(60, 0).ok());
  { Watchdog::Wait waiting("inputs", "inputs", "rank 1"); }
  unsetenv("TESSEL_FAULT");
  ASSERT_TRUE(Watchdog::start(60, 0).ok());
}

} // namespace
} // namespace tessel
