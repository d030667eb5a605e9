//===- Html.cpp - Pieces of Tessel's self-contained HTML reports ----------===//

#include "compiler/report/Html.h"

#include <cmath>

namespace tessel::report {

std::string escapeHtml(const std::string &text) {
  std::string out;
  for (char ch : text)
    switch (ch) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    default:
      out += ch;
    }
  return out;
}

double tickStep(double top) {
  if (!(top > 0))
    return 1;
  double raw = top / 5, power = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0})
    if (m * power >= raw)
      return m * power;
  return 10 * power;
}

} // namespace tessel::report
