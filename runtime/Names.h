//===- Names.h - Naming what the user may have mistyped ---------*- C++ -*-===//
//
// A user who writes a name the model or tool does not have (an input in
// --inputs, a tensor in a plan, a flag, an --emit value) gets the nearest
// real name, and the real names when they are few:
//
//   --inputs names 'idz', which is not an input of the model; did you mean
//   'ids'? (the inputs: ids, mask)
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_RUNTIME_NAMES_H
#define TESSEL_RUNTIME_NAMES_H

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace tessel {

/// The candidate nearest to `name` by edit distance (case-insensitive, a
/// swap of neighbouring letters one edit), if
/// it is near enough to be a slip: at most a third of the name's length
/// away, and at most 3 edits. Ties go to the earliest candidate.
std::optional<std::string>
nearestName(absl::string_view name, const std::vector<std::string> &candidates);

/// What to tell a user who wrote `name`, which is none of `candidates`:
/// "did you mean 'x'?" if one is near, then "(the <what>: a, b, c)" when
/// there are at most `listAtMost` candidates. Empty if there is nothing to
/// say. Starts with no separator; callers write "; " before it.
std::string nameHint(absl::string_view name,
                     const std::vector<std::string> &candidates,
                     absl::string_view what, size_t listAtMost = 12);

/// `message` followed by nameHint(...) when that says anything.
std::string withNameHint(const std::string &message, absl::string_view name,
                         const std::vector<std::string> &candidates,
                         absl::string_view what, size_t listAtMost = 12);

} // namespace tessel

#endif // TESSEL_RUNTIME_NAMES_H
