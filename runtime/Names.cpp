//===- Names.cpp - Naming what the user may have mistyped -----------------===//

#include "runtime/Names.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tessel {

namespace {

/// Edit distance of `a` and `b`, ignoring case, with a swap of two
/// neighbouring letters one edit (optimal string alignment).
size_t editDistance(absl::string_view a, absl::string_view b) {
  auto same = [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  };
  std::vector<std::vector<size_t>> d(a.size() + 1,
                                     std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i)
    d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j)
    d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1,
                          d[i - 1][j - 1] + (same(a[i - 1], b[j - 1]) ? 0 : 1)});
      if (i > 1 && j > 1 && same(a[i - 1], b[j - 2]) &&
          same(a[i - 2], b[j - 1]))
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

} // namespace

std::optional<std::string>
nearestName(absl::string_view name,
            const std::vector<std::string> &candidates) {
  size_t limit = std::min<size_t>(3, std::max<size_t>(1, name.size() / 3));
  std::optional<std::string> best;
  size_t bestDistance = limit + 1;
  for (const std::string &candidate : candidates) {
    size_t distance = editDistance(name, candidate);
    if (distance < bestDistance && candidate != name) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

std::string nameHint(absl::string_view name,
                     const std::vector<std::string> &candidates,
                     absl::string_view what, size_t listAtMost) {
  std::string hint;
  if (std::optional<std::string> near = nearestName(name, candidates))
    hint = absl::StrCat("did you mean '", *near, "'?");
  if (!candidates.empty() && candidates.size() <= listAtMost)
    absl::StrAppend(&hint, hint.empty() ? "" : " ", "(the ", what, ": ",
                    absl::StrJoin(candidates, ", "), ")");
  return hint;
}

std::string withNameHint(const std::string &message, absl::string_view name,
                         const std::vector<std::string> &candidates,
                         absl::string_view what, size_t listAtMost) {
  std::string hint = nameHint(name, candidates, what, listAtMost);
  if (hint.empty())
    return message;
  return absl::StrCat(message, hint.front() == '(' ? " " : "; ", hint);
}

} // namespace tessel
