#include "scenario.hpp"

#include <algorithm>

namespace bench {

const char *pattern_name(pattern p) {
  switch (p) {
  case pattern::uncontended:
    return "uncontended";
  case pattern::steady:
    return "steady";
  case pattern::multimodal:
    return "multimodal";
  case pattern::owner_sleeps:
    return "owner-sleeps";
  }
  return "?";
}

std::vector<scenario> scenarios(bool full) {
  std::vector<scenario> s;
  s.push_back({"uncontended", pattern::uncontended, 1, 0, 0});
  const std::vector<int> threads =
      full ? std::vector<int>{2, 4, 8, 16, 32} : std::vector<int>{2, 4, 8, 16, 32};
  const std::vector<int> sections = {0, 100, 1000, 10000};
  for (int cs : sections)
    for (int t : threads)
      s.push_back({"steady t" + std::to_string(t) + " cs" + std::to_string(cs), pattern::steady, t,
                   cs, std::max(cs, 100)});
  const std::vector<int> mixed = full ? std::vector<int>{2, 4, 8, 16, 32} : std::vector<int>{4, 16};
  for (int t : mixed)
    s.push_back({"multimodal t" + std::to_string(t), pattern::multimodal, t, 100, 200});
  for (int t : mixed)
    s.push_back({"owner-sleeps t" + std::to_string(t), pattern::owner_sleeps, t, 200, 200});
  // Owners lose their CPU to what the locks cannot see: other processes, or
  // the quota running out.
  for (condition c : {condition::noisy, condition::quota}) {
    const std::string by = std::string(condition_name(c)) + " ";
    s.push_back({by + "steady t2 cs1000", pattern::steady, 2, 1000, 1000, c});
    s.push_back({by + "steady t4 cs100", pattern::steady, 4, 100, 100, c});
    s.push_back({by + "multimodal t4", pattern::multimodal, 4, 100, 200, c});
  }
  return s;
}

} // namespace bench
