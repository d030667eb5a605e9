#!/usr/bin/python3
"""Counts test cases from a Bazel build-event JSON file.

    test_summary.py events.json [--check NAME=PASSED|FAILED ...]

Prints the failing targets, then one line `N passed, N failed` (the line CI
reads). Individual cases come from each test's test.xml (GoogleTest cases, lit
tests); a test target without a usable test.xml counts as one case. A test
target that failed to build or never ran counts as one failure, and a target
whose overall status is not PASSED counts at least one failure even if its XML
shows none (a crash or timeout after writing it). Skipped cases (a GPU test on
a machine without a GPU) are reported on their own line, not as passes.
`--check` adds the outcome of a check run outside `bazel test` (for example
building without CUDA) as one case. Exits 1 when anything failed or no test
ran.
"""

import json
import sys
import urllib.parse
import xml.etree.ElementTree as ElementTree


def count_xml(uri):
    """(passed, failed, skipped) from a JUnit XML file, or None."""
    path = urllib.parse.urlparse(uri).path
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return None
    passed = failed = skipped = 0
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None or case.get("result") == "skipped":
            skipped += 1
        else:
            passed += 1
    if passed + failed + skipped == 0:
        return None
    return passed, failed, skipped


def main(events_path, checks):
    test_targets = []
    latest_attempt = {}  # (label, run, shard) -> (attempt, xml uri, status)
    overall = {}  # label -> overall status
    with open(events_path) as events:
        for line in events:
            event = json.loads(line)
            key, value = next(iter(event["id"].items()))
            if key == "targetConfigured":
                kind = event.get("configured", {}).get("targetKind", "")
                if kind.endswith("_test rule"):
                    test_targets.append(value["label"])
            elif key == "testResult":
                result = event.get("testResult", {})
                xml = next((o["uri"] for o in result.get("testActionOutput", [])
                            if o.get("name") == "test.xml"), None)
                shard = (value["label"], value.get("run"), value.get("shard"))
                attempt = value.get("attempt", 1)
                if shard not in latest_attempt or latest_attempt[shard][0] < attempt:
                    latest_attempt[shard] = (attempt, xml, result.get("status"))
            elif key == "testSummary":
                overall[value["label"]] = event.get("testSummary", {}).get(
                    "overallStatus", "NO_STATUS")

    passed = failed = skipped = 0
    failing = []
    for label in test_targets:
        status = overall.get(label, "FAILED_TO_BUILD")
        shards = [v for k, v in latest_attempt.items() if k[0] == label]
        target_failed = 0
        for _, xml, shard_status in shards:
            counts = count_xml(xml) if xml else None
            if counts is None:
                counts = (1, 0, 0) if shard_status == "PASSED" else (0, 1, 0)
            passed += counts[0]
            target_failed += counts[1]
            skipped += counts[2]
        if status not in ("PASSED", "FLAKY") and target_failed == 0:
            target_failed = 1
        if target_failed:
            failing.append("%s (%s)" % (label, status))
        failed += target_failed

    for name, outcome in checks:
        if outcome == "PASSED":
            passed += 1
        else:
            failed += 1
            failing.append("%s (%s)" % (name, outcome))

    for entry in failing:
        print("FAILED: " + entry)
    if skipped:
        print("%d skipped" % skipped)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or passed == 0 else 0


def parse_checks(args):
    checks = []
    while args:
        if args[0] != "--check" or len(args) < 2 or "=" not in args[1]:
            sys.exit("usage: test_summary.py <build event json file> "
                     "[--check NAME=PASSED|FAILED ...]")
        name, outcome = args[1].split("=", 1)
        checks.append((name, outcome))
        args = args[2:]
    return checks


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_summary.py <build event json file> "
                 "[--check NAME=PASSED|FAILED ...]")
    sys.exit(main(sys.argv[1], parse_checks(sys.argv[2:])))
