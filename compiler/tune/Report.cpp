//===- Report.cpp - tessel-tune's table and HTML report -------------------===//

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "compiler/report/Html.h"
#include "compiler/tune/Tuner.h"

namespace tessel::tune {
namespace {

using report::escapeHtml;
using report::tickStep;

std::string meshOf(const Candidate &c) {
  return c.mesh.empty() ? "(1 device)" : c.mesh;
}

std::string planSummary(const Candidate &c) {
  return c.parameters
             ? absl::StrFormat("%d/%d split", c.splitParameters, c.parameters)
             : "-";
}

std::string noteOf(const TuneResult &result, size_t i) {
  const Candidate &c = result.candidates[i];
  return !c.error.empty()                     ? c.error
         : static_cast<int>(i) == result.best ? "best"
         : c.measured && c.measured->fromLog  ? "from the log"
                                              : "";
}

/// The scatter plot: measured ms across, modeled ms up, a point per
/// measured executable before calibration (hollow) and after (filled), and
/// the diagonal where the model is right.
std::string scatter(const TuneResult &result) {
  struct Point {
    double measured, before, after;
    std::string label;
  };
  std::vector<Point> points;
  std::vector<std::string> seen;
  for (const Candidate &c : result.candidates) {
    if (!c.measured || !c.error.empty() || c.measured->median <= 0 ||
        std::find(seen.begin(), seen.end(), c.fingerprint) != seen.end())
      continue;
    seen.push_back(c.fingerprint);
    points.push_back({1e3 * c.measured->median, 1e3 * c.modeledSeconds,
                      1e3 * c.calibratedSeconds,
                      absl::StrCat(meshOf(c), " ", c.name)});
  }
  if (points.empty())
    return "<p>Nothing was measured.</p>\n";
  double top = 0;
  for (const Point &p : points)
    top = std::max({top, p.measured, p.before, p.after});
  double step = tickStep(top);
  top = step * std::ceil(top / step);
  const double left = 60, bottom = 320, size = 280;
  auto x = [&](double v) { return left + size * v / top; };
  auto y = [&](double v) { return bottom - size * v / top; };
  std::string svg = absl::StrFormat(
      "<svg id=\"scatter\" xmlns=\"http://www.w3.org/2000/svg\" width=\"420\" "
      "height=\"380\" viewBox=\"0 0 420 380\" font-size=\"11\">\n"
      "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" "
      "stroke=\"#888\"/>\n"
      "<line class=\"diagonal\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" "
      "stroke=\"#aaa\" stroke-dasharray=\"4 3\"/>\n",
      left, bottom - size, size, size, x(0), y(0), x(top), y(top));
  for (double t = 0; t <= top * (1 + 1e-9); t += step)
    svg += absl::StrFormat(
        "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">%g</text>"
        "<text x=\"%g\" y=\"%g\" text-anchor=\"end\">%g</text>\n",
        x(t), bottom + 14, t, left - 4, y(t) + 4, t);
  svg += absl::StrFormat(
      "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">measured ms</text>\n"
      "<text transform=\"translate(14 %g) rotate(-90)\" "
      "text-anchor=\"middle\">modeled ms</text>\n",
      left + size / 2, bottom + 32, bottom - size / 2);
  for (const Point &p : points) {
    svg += absl::StrFormat(
        "<circle class=\"before\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\" "
        "fill=\"none\" stroke=\"#d95f02\"><title>%s: measured %.3f ms, "
        "modeled %.3f ms</title></circle>\n",
        x(p.measured), y(p.before), escapeHtml(p.label), p.measured, p.before);
    svg += absl::StrFormat(
        "<circle class=\"after\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\" "
        "fill=\"#1b9e77\"><title>%s: measured %.3f ms, calibrated %.3f "
        "ms</title></circle>\n",
        x(p.measured), y(p.after), escapeHtml(p.label), p.measured, p.after);
  }
  // The legend, in the top left corner (a model that overestimates that
  // much is rare).
  double top0 = bottom - size;
  svg += absl::StrFormat(
      "<circle cx=\"%g\" cy=\"%g\" r=\"4\" fill=\"none\" "
      "stroke=\"#d95f02\"/><text x=\"%g\" y=\"%g\">before "
      "calibration</text>\n<circle cx=\"%g\" cy=\"%g\" r=\"4\" "
      "fill=\"#1b9e77\"/><text x=\"%g\" y=\"%g\">after</text>\n</svg>\n",
      left + 12, top0 + 14, left + 20, top0 + 18, left + 12, top0 + 30,
      left + 20, top0 + 34);
  return svg;
}

} // namespace

std::string formatTable(const TuneResult &result) {
  int width = 16;
  for (const Candidate &c : result.candidates)
    width = std::max(width, static_cast<int>(c.name.size()));
  std::string table = absl::StrFormat(
      "%-14s %-*s %-12s %12s %12s %16s %10s  %s\n", "mesh", width, "candidate",
      "plan", "modeled ms", "calibrated", "measured ms", "peak MiB", "note");
  for (size_t i = 0; i < result.candidates.size(); ++i) {
    const Candidate &c = result.candidates[i];
    std::string measured =
        c.measured
            ? absl::StrFormat("%.3f (%.3f-%.3f)", 1e3 * c.measured->median,
                              1e3 * c.measured->fastest,
                              1e3 * c.measured->slowest)
            : "-";
    table +=
        absl::StrFormat("%-14s %-*s %-12s %12.3f %12.3f %16s %10.1f  %s\n",
                        meshOf(c), width, c.name, planSummary(c),
                        1e3 * c.modeledSeconds, 1e3 * c.calibratedSeconds,
                        measured, c.peakBytes / 1048576.0, noteOf(result, i));
  }
  return table;
}

namespace {

/// The fastest entry of the confirmation round whose role `eligible`
/// accepts (null if none).
template <typename Eligible>
const Confirmed *fastestOf(const TuneResult &result, Eligible eligible) {
  const Confirmed *fastest = nullptr;
  for (const Confirmed &c : result.confirmation)
    if (c.measured.median > 0 && eligible(c.role) &&
        (!fastest || c.measured.median < fastest->measured.median))
      fastest = &c;
  return fastest;
}

} // namespace

const Confirmed *fastestConfirmed(const TuneResult &result) {
  return fastestOf(result, [](const std::string &) { return true; });
}

std::string formatConfirmation(const TuneResult &result) {
  const Confirmed *tuned = fastestConfirmed(result);
  if (!tuned)
    return "";
  auto name = [&](const Confirmed &c) {
    const Candidate &candidate = result.candidates[c.candidate];
    return absl::StrCat(meshOf(candidate), " ", candidate.name);
  };
  std::string text =
      absl::StrFormat("head to head, %d runs each in turn after the search:\n",
                      result.confirmRuns);
  for (const Confirmed &c : result.confirmation)
    absl::StrAppendFormat(&text, "  %-19s %s %.3f ms (%.3f-%.3f)\n",
                          c.role + ":", name(c), 1e3 * c.measured.median,
                          1e3 * c.measured.lowerQuartile,
                          1e3 * c.measured.upperQuartile);
  absl::StrAppendFormat(&text, "tuned: %s", name(*tuned));
  const Confirmed *expert = fastestOf(result, [](const std::string &role) {
    return absl::StartsWith(role, "expert");
  });
  if (expert)
    absl::StrAppendFormat(&text, "; tuned / best expert (%s) %.2f",
                          name(*expert),
                          tuned->measured.median / expert->measured.median);
  for (const Confirmed &c : result.confirmation)
    if (c.role == "uncalibrated auto" && c.measured.median > 0)
      absl::StrAppendFormat(&text, "; tuned / uncalibrated auto %.2f",
                            tuned->measured.median / c.measured.median);
  return text + "\n";
}

std::string formatHtml(const TuneResult &result, const std::string &title) {
  const Calibration &c = result.calibration;
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>tessel-tune: ",
      escapeHtml(title),
      "</title>\n<style>\nbody { font-family: sans-serif; margin: 2em; }\n"
      "table { border-collapse: collapse; }\n"
      "td, th { padding: 2px 8px; border-bottom: 1px solid #ddd; "
      "white-space: nowrap; }\n"
      "td.num { text-align: right; font-variant-numeric: tabular-nums; }\n"
      "tr.best { background: #e6f5ef; }\n</style>\n</head>\n<body>\n<h1>",
      escapeHtml(title), "</h1>\n");
  if (result.best >= 0) {
    const Candidate &best = result.candidates[result.best];
    html += absl::StrFormat(
        "<p id=\"best\">Best: <b>%s %s</b>, %.3f ms per step (measured).</p>\n",
        escapeHtml(meshOf(best)), escapeHtml(best.name),
        1e3 * best.measured->median);
  }
  html += absl::StrFormat(
      "<p id=\"calibration\">Cost model on %d measured executables: error "
      "%.0f%% before calibration, %.0f%% after; Kendall tau %.2f before, "
      "%.2f after (%.2f and %.2f on the %d of %d pairs whose interquartile "
      "ranges do not overlap). %d measured in this search, %d from the "
      "log, in %.1f s.</p>\n",
      c.measured, c.mapeBefore, c.mapeAfter, c.tauBefore, c.tauAfter,
      c.separatedTauBefore, c.separatedTauAfter, c.separatedPairs, c.pairs,
      result.newMeasurements, result.logMeasurements, result.seconds);
  if (!result.confirmation.empty())
    html += "<h2>Head to head</h2>\n<pre id=\"confirmation\">" +
            escapeHtml(formatConfirmation(result)) + "</pre>\n";
  html += "<h2>Modeled against measured</h2>\n" + scatter(result);
  html += "<h2>Candidates</h2>\n<table id=\"candidates\">\n<tr><th>mesh</th>"
          "<th>candidate</th><th>plan</th><th>modeled ms</th>"
          "<th>calibrated ms</th><th>measured ms (fastest-slowest)</th>"
          "<th>peak MiB</th><th>note</th></tr>\n";
  for (size_t i = 0; i < result.candidates.size(); ++i) {
    const Candidate &k = result.candidates[i];
    std::string measured =
        k.measured
            ? absl::StrFormat("%.3f (%.3f-%.3f)", 1e3 * k.measured->median,
                              1e3 * k.measured->fastest,
                              1e3 * k.measured->slowest)
            : "-";
    html += absl::StrFormat(
        "<tr%s><td>%s</td><td>%s</td><td>%s</td><td class=\"num\">%.3f</td>"
        "<td class=\"num\">%.3f</td><td class=\"num\">%s</td>"
        "<td class=\"num\">%.1f</td><td>%s</td></tr>\n",
        static_cast<int>(i) == result.best ? " class=\"best\"" : "",
        escapeHtml(meshOf(k)), escapeHtml(k.name), planSummary(k),
        1e3 * k.modeledSeconds, 1e3 * k.calibratedSeconds, measured,
        k.peakBytes / 1048576.0, escapeHtml(noteOf(result, i)));
  }
  html += "</table>\n";
  if (result.best >= 0 && !result.candidates[result.best].planText.empty())
    html += "<h2>The best plan</h2>\n<pre id=\"plan\">" +
            escapeHtml(result.candidates[result.best].planText) + "</pre>\n";
  html += "</body>\n</html>\n";
  return html;
}

} // namespace tessel::tune
