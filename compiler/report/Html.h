//===- Html.h - Pieces of Tessel's self-contained HTML reports --*- C++ -*-===//
//
// Shared by the plan report (PlanReport.h) and tessel-tune's report: text
// escaped for HTML, and axis ticks for the SVG charts they draw.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_COMPILER_REPORT_HTML_H
#define TESSEL_COMPILER_REPORT_HTML_H

#include <string>

namespace tessel::report {

/// `text` with &, <, > and " escaped.
std::string escapeHtml(const std::string &text);

/// A step for about five ticks up to `top`: 1, 2 or 5 times a power of 10.
double tickStep(double top);

} // namespace tessel::report

#endif // TESSEL_COMPILER_REPORT_HTML_H
