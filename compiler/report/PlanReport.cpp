//===- PlanReport.cpp - A partition plan as one HTML page -----------------===//

#include "compiler/report/PlanReport.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "compiler/cost/ProgramCost.h"
#include "compiler/report/Html.h"
#include "runtime/Executable.h"

namespace tessel::report {
namespace {

constexpr const char *kStyle = R"(
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 17px; margin-top: 28px; }
h3 { font-size: 14px; margin: 18px 0 4px; font-family: monospace; }
table { border-collapse: collapse; }
td, th { border: 1px solid #bbb; padding: 3px 8px; vertical-align: top; }
th { background: #f2f2f2; font-weight: 600; }
table.grid td { text-align: center; font-family: monospace; min-width: 56px; }
table.grid th { font-family: monospace; font-weight: normal; }
.origin { color: #555; font-size: 12px; margin: 0; }
.why { white-space: pre-wrap; font-family: monospace; font-size: 12px; }
.note { color: #555; }
.cards { display: flex; flex-wrap: wrap; gap: 6px 28px; align-items: flex-start; }
.card { max-width: 100%; overflow-x: auto; }
svg text { font: 11px system-ui, sans-serif; }
)";

/// A colour per set of devices: a hue per first device, lighter for
/// larger sets (a block every device holds is grey).
std::string colourOf(const std::vector<int64_t> &devices, int64_t total) {
  if (devices.empty())
    return "#ffffff";
  if (static_cast<int64_t>(devices.size()) == total && total > 1)
    return "#e4e4e4";
  double hue = 360.0 * static_cast<double>(devices.front()) /
               static_cast<double>(std::max<int64_t>(total, 1));
  double light = std::min(90.0, 62.0 + 6.0 * std::log2(devices.size()));
  return absl::StrFormat("hsl(%.0f, 65%%, %.0f%%)", hue, light);
}

std::string grid(const TensorLayout &layout, int64_t devices) {
  LayoutGrid g = layoutGrid(layout);
  std::string html = "<table class=\"grid\"><tr><th></th>";
  for (const std::string &column : g.columns)
    absl::StrAppend(&html, "<th>", escapeHtml(column), "</th>");
  html += "</tr>";
  for (size_t r = 0; r < g.rows.size(); ++r) {
    absl::StrAppend(&html, "<tr><th>", escapeHtml(g.rows[r]), "</th>");
    for (const std::vector<int64_t> &cell : g.cells[r])
      absl::StrAppend(
          &html, "<td style=\"background:", colourOf(cell, devices), "\">",
          cell.empty() ? "padding" : "dev " + absl::StrJoin(cell, ","),
          "</td>");
    html += "</tr>";
  }
  return html + "</table>\n";
}

std::string layoutSection(const TensorLayout &layout, int64_t devices) {
  std::vector<std::string> dims;
  for (int64_t size : layout.shape)
    dims.push_back(absl::StrCat(size));
  std::string html = absl::StrFormat(
      "<div class=\"card\"><h3>%s <span class=\"note\">%s %s, %s, "
      "%s%s</span></h3>\n",
      escapeHtml(layout.name),
      dims.empty() ? "scalar" : absl::StrJoin(dims, "x"),
      escapeHtml(layout.elementType), escapeHtml(layout.spec()),
      escapeHtml(formatBytes(layout.bytes())),
      layout.partial.empty()
          ? ""
          : ", partial over " +
                escapeHtml(absl::StrJoin(layout.partial, ", ")));
  for (const std::string &line : originLines(layout))
    absl::StrAppend(&html, "<p class=\"origin\">", escapeHtml(line), "</p>\n");
  return html + grid(layout, devices) + "</div>\n";
}

std::string meshSection(const MeshShape &mesh) {
  if (mesh.axes.empty())
    return "<p>One device: nothing is partitioned.</p>\n";
  std::vector<std::string> axes;
  for (size_t a = 0; a < mesh.axes.size(); ++a)
    axes.push_back(absl::StrCat(mesh.axes[a], "=", mesh.sizes[a]));
  std::string html = absl::StrFormat(
      "<p>%d devices, axes %s; devices are numbered row-major over the "
      "axes.</p>\n<table class=\"grid\"><tr><th></th>",
      mesh.devices(), escapeHtml(absl::StrJoin(axes, ", ")));
  // Rows: the first axis; columns: the others, row-major.
  int64_t rows = mesh.sizes.front(), columns = mesh.devices() / rows;
  for (int64_t c = 0; c < columns; ++c) {
    std::vector<std::string> coordinates;
    int64_t rest = c;
    for (size_t a = mesh.sizes.size(); a-- > 1;) {
      coordinates.insert(coordinates.begin(),
                         absl::StrCat(mesh.axes[a], "=", rest % mesh.sizes[a]));
      rest /= mesh.sizes[a];
    }
    absl::StrAppend(&html, "<th>",
                    escapeHtml(coordinates.empty()
                                   ? std::string("")
                                   : absl::StrJoin(coordinates, ", ")),
                    "</th>");
  }
  html += "</tr>";
  for (int64_t r = 0; r < rows; ++r) {
    absl::StrAppend(&html, "<tr><th>", escapeHtml(mesh.axes.front()), "=", r,
                    "</th>");
    for (int64_t c = 0; c < columns; ++c)
      absl::StrAppend(&html, "<td style=\"background:",
                      colourOf({r * columns + c}, mesh.devices()), "\">dev ",
                      r * columns + c, "</td>");
    html += "</tr>";
  }
  return html + "</table>\n";
}

/// Compute and collectives along a step, as the model prices them.
std::string timelineSection(const std::vector<cost::InstructionCost> &costs,
                            double fixedSeconds) {
  double total = 0, collectives = 0;
  for (const cost::InstructionCost &cost : costs) {
    total += cost.seconds;
    if (cost.collective)
      collectives += cost.seconds;
  }
  std::string html = absl::StrFormat(
      "<p>Modeled step: %.4f ms (%.4f ms compute, %.4f ms collectives, "
      "%.4f ms fixed per step), %d instructions. Hover a bar for the "
      "instruction.</p>\n",
      (total + fixedSeconds) * 1e3, (total - collectives) * 1e3,
      collectives * 1e3, fixedSeconds * 1e3, costs.size());
  if (!(total > 0))
    return html;
  const double width = 960, left = 90, rowHeight = 22;
  double scale = width / total;
  html += absl::StrFormat("<svg width=\"%.0f\" height=\"%.0f\" role=\"img\" "
                          "aria-label=\"timeline\">\n",
                          left + width + 20, 2 * rowHeight + 40);
  absl::StrAppend(&html, "<text x=\"4\" y=\"16\">compute</text><text x=\"4\" "
                         "y=\"38\">collectives</text>\n");
  double at = 0;
  for (const cost::InstructionCost &cost : costs) {
    double x = left + at * scale, w = std::max(0.5, cost.seconds * scale);
    absl::StrAppend(
        &html,
        absl::StrFormat(
            "<rect x=\"%.2f\" y=\"%.0f\" width=\"%.2f\" height=\"%.0f\" "
            "fill=\"%s\"><title>%s %s: %.4f ms</title></rect>\n",
            x, cost.collective ? 4 + rowHeight : 4.0, w, rowHeight - 4,
            cost.collective ? "#e8833a" : "#4c78a8", escapeHtml(cost.family),
            escapeHtml(cost.location.empty() ? "" : "'" + cost.location + "'"),
            cost.seconds * 1e3));
    at += cost.seconds;
  }
  double step = tickStep(total * 1e3);
  for (double t = 0; t <= total * 1e3 + 1e-12; t += step)
    absl::StrAppend(
        &html, absl::StrFormat("<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" "
                               "y2=\"%.0f\" stroke=\"#999\"/><text "
                               "x=\"%.1f\" y=\"%.0f\">%g ms</text>\n",
                               left + t / 1e3 * scale, left + t / 1e3 * scale,
                               2 * rowHeight + 4, 2 * rowHeight + 10,
                               left + t / 1e3 * scale, 2 * rowHeight + 24, t));
  return html + "</svg>\n";
}

/// The bytes a device holds at each instruction: what it always holds
/// plus the arena's live tensors, against the budget.
std::string memorySection(const MemoryEstimate &estimate, int device,
                          int64_t budget) {
  int64_t fixed = estimate.total() - estimate.arena;
  int64_t top = fixed + estimate.peakLive;
  std::string html = absl::StrFormat(
      "<p>Device %d holds %s: parameters %s, state %s, inputs %s, arena "
      "%s, load-time results %s; the arena's peak, %s, is at instruction "
      "%d%s. Budget %s per device.</p>\n",
      device, formatBytes(estimate.total()), formatBytes(estimate.parameters),
      formatBytes(estimate.state), formatBytes(estimate.inputs),
      formatBytes(estimate.arena), formatBytes(estimate.loadTime),
      formatBytes(estimate.peakLive), estimate.peakInstruction,
      estimate.peakAt.empty() ? "" : " ('" + escapeHtml(estimate.peakAt) + "')",
      budget > 0 ? formatBytes(budget) : std::string("unknown"));
  if (estimate.liveBytes.empty() || top <= 0)
    return html;
  // The budget line is drawn when it is within the chart's scale.
  bool budgetShown = budget > 0 && budget <= 2 * top;
  double yTop = static_cast<double>(budgetShown ? std::max(top, budget) : top);
  const double width = 960, height = 220, left = 90, bottom = 30;
  auto x = [&](size_t i) {
    return left + width * static_cast<double>(i) /
                      static_cast<double>(
                          std::max<size_t>(1, estimate.liveBytes.size() - 1));
  };
  auto y = [&](double bytes) { return 10 + height * (1 - bytes / yTop); };
  html += absl::StrFormat("<svg width=\"%.0f\" height=\"%.0f\" role=\"img\" "
                          "aria-label=\"memory\">\n",
                          left + width + 20, height + bottom + 20);
  std::string points;
  for (size_t i = 0; i < estimate.liveBytes.size(); ++i)
    absl::StrAppend(
        &points,
        absl::StrFormat("%.1f,%.1f ", x(i),
                        y(static_cast<double>(fixed + estimate.liveBytes[i]))));
  absl::StrAppend(&html,
                  "<polyline fill=\"none\" stroke=\"#4c78a8\" "
                  "stroke-width=\"2\" points=\"",
                  points, "\"/>\n");
  absl::StrAppend(
      &html,
      absl::StrFormat("<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" "
                      "stroke=\"#888\" stroke-dasharray=\"2,3\"/><text "
                      "x=\"%.0f\" y=\"%.1f\">held throughout</text>\n",
                      left, left + width, y(fixed), y(fixed), left + width - 90,
                      y(fixed) - 4));
  if (budgetShown)
    absl::StrAppend(
        &html,
        absl::StrFormat("<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" "
                        "stroke=\"#c33\" stroke-dasharray=\"6,4\"/><text "
                        "x=\"%.0f\" y=\"%.1f\" fill=\"#c33\">budget</text>\n",
                        left, left + width, y(budget), y(budget),
                        left + width - 50, y(budget) - 4));
  double step = tickStep(yTop);
  for (double b = 0; b <= yTop + 1e-9; b += step)
    absl::StrAppend(
        &html, absl::StrFormat("<text x=\"4\" y=\"%.1f\">%s</text>\n", y(b) + 4,
                               formatBytes(static_cast<int64_t>(b))));
  absl::StrAppend(&html,
                  absl::StrFormat("<text x=\"%.0f\" y=\"%.0f\">instruction "
                                  "0 .. %d</text>\n",
                                  left, height + bottom + 10,
                                  estimate.liveBytes.size() - 1));
  html += "</svg>\n";
  if (!budgetShown && budget > 0)
    html += "<p class=\"note\">The budget is more than twice the peak: "
            "its line is not drawn.</p>\n";
  return html;
}

std::string collectivesSection(const proto::Executable &executable) {
  std::vector<CollectiveExplanation> explanations =
      collectiveExplanations(executable);
  if (explanations.empty())
    return "<p>None: every device computes what it needs from what it "
           "holds.</p>\n";
  std::string html = "<table><tr><th>#</th><th>kind</th><th>groups</th>"
                     "<th>per device</th><th>tensor</th><th>why</th></tr>\n";
  for (size_t n = 0; n < explanations.size(); ++n) {
    const CollectiveExplanation &c = explanations[n];
    std::vector<std::string> reasons;
    for (const std::string &reason : c.reasons)
      reasons.push_back(escapeHtml(reason));
    absl::StrAppend(
        &html,
        absl::StrFormat("<tr><td>%d</td><td>%s</td><td>%d of %d</td>"
                        "<td>%s</td><td>%s</td><td class=\"why\">%s</td>"
                        "</tr>\n",
                        n + 1, escapeHtml(c.kind), c.groups, c.members,
                        formatBytes(c.bytesPerDevice), escapeHtml(c.tensor),
                        reasons.empty() ? "not recorded"
                                        : absl::StrJoin(reasons, "\n\n")));
  }
  return html + "</table>\n";
}

} // namespace

std::string planReportHtml(const PlanReportInput &input) {
  const MeshShape &mesh = input.layouts.mesh;
  int64_t devices = std::max<int64_t>(1, mesh.devices());
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>Tessel plan: ",
      escapeHtml(input.title), "</title><style>", kStyle,
      "</style></head>\n<body>\n<h1>Tessel plan: ", escapeHtml(input.title),
      "</h1>\n");
  if (!input.autoSummary.empty())
    absl::StrAppend(&html, "<pre class=\"note\">",
                    escapeHtml(input.autoSummary), "</pre>\n");
  absl::StrAppend(&html, "<h2>Mesh</h2>\n", meshSection(mesh));

  if (input.executable && input.executable->programs_size() > 0) {
    // The device holding the most, as --explain-memory shows.
    int device = 0;
    int64_t most = deviceBytes(*input.executable, 0);
    for (int d = 1; d < input.executable->programs_size(); ++d)
      if (int64_t bytes = deviceBytes(*input.executable, d); bytes > most) {
        device = d;
        most = bytes;
      }
    if (input.model) {
      absl::StrAppend(&html, "<h2>A step as the cost model sees it (device ",
                      device, ", profile ",
                      escapeHtml(input.model->profile().name()), ")</h2>\n");
      html += timelineSection(
          cost::instructionCosts(*input.executable, device, *input.model),
          input.model->stepSeconds(input.executable->programs_size()));
    }
    int64_t budget = input.budgetBytes > 0 ? input.budgetBytes
                     : input.model         ? input.model->memoryBytes()
                                           : 0;
    html += "<h2>Memory over the program</h2>\n";
    html += memorySection(estimateMemory(*input.executable, device), device,
                          budget);
    html += "<h2>Collectives, with why each is there</h2>\n";
    html += collectivesSection(*input.executable);
  }
  // Layouts: inputs and parameters, then the largest activations.
  std::vector<const TensorLayout *> arguments, activations;
  for (const TensorLayout &layout : input.layouts.tensors)
    (layout.kind == TensorLayout::Kind::Activation ? activations : arguments)
        .push_back(&layout);
  std::stable_sort(activations.begin(), activations.end(),
                   [](const TensorLayout *a, const TensorLayout *b) {
                     return a->bytes() > b->bytes();
                   });
  if (static_cast<int>(activations.size()) > input.largestActivations)
    activations.resize(input.largestActivations);
  if (!input.layouts.tensors.empty()) {
    html += "<h2>Layouts: inputs and parameters</h2>\n<p class=\"note\">Each "
            "block of a tensor with the devices that hold it (as "
            "jax.debug.visualize_array_sharding draws it); under the name, "
            "where each split came from.</p>\n";
    html += "<div class=\"cards\">\n";
    for (const TensorLayout *layout : arguments)
      html += layoutSection(*layout, devices);
    html += "</div>\n";
    absl::StrAppend(&html, "<h2>Layouts: the ", activations.size(),
                    " largest activations</h2>\n");
    html += "<div class=\"cards\">\n";
    for (const TensorLayout *layout : activations)
      html += layoutSection(*layout, devices);
    html += "</div>\n";
  }

  // Set once the page has laid out without a script error (what the
  // headless-browser test checks).
  html += "<script>\nwindow.tesselErrors = [];\nwindow.addEventListener("
          "'error', e => window.tesselErrors.push(String(e.message)));\n"
          "window.addEventListener('load', () => { document.body.dataset."
          "rendered = window.tesselErrors.length ? 'errors: ' + "
          "window.tesselErrors.join('; ') : 'ok'; });\n</script>\n";
  return html + "</body></html>\n";
}

} // namespace tessel::report
