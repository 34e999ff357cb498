// Shortest-augmenting-path Hungarian algorithm with row/column potentials. It needs rows <= cols; a taller
// matrix is solved transposed. Checked against scipy.optimize.linear_sum_assignment in tests/eval.
#include "eval/hungarian.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace sgt::eval {
namespace {

// a: [n, m] with n <= m, minimisation. Returns the column of each row.
std::vector<int64_t> solve_wide(const std::vector<double>& a, int64_t n, int64_t m) {
  const double inf = std::numeric_limits<double>::infinity();
  // 1-based potentials u (rows), v (columns); p[j] = row matched to column j (0 = none); way = path back-links.
  std::vector<double> u(n + 1, 0.0), v(m + 1, 0.0);
  std::vector<int64_t> p(m + 1, 0), way(m + 1, 0);
  for (int64_t i = 1; i <= n; ++i) {
    p[0] = i;
    int64_t j0 = 0;
    std::vector<double> minv(m + 1, inf);
    std::vector<char> used(m + 1, 0);
    do {
      used[j0] = 1;
      const int64_t i0 = p[j0];
      double delta = inf;
      int64_t j1 = 0;
      for (int64_t j = 1; j <= m; ++j) {
        if (used[j]) continue;
        const double cur = a[(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      SGT_ASSERT(j1 > 0);
      for (int64_t j = 0; j <= m; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {  // flip the augmenting path
      const int64_t j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int64_t> row_to_col(n, -1);
  for (int64_t j = 1; j <= m; ++j)
    if (p[j] > 0) row_to_col[p[j] - 1] = j - 1;
  return row_to_col;
}

}  // namespace

std::vector<int64_t> linear_sum_assignment(const std::vector<double>& cost, int64_t rows, int64_t cols,
                                           bool maximize) {
  SGT_CHECK(rows >= 0 && cols >= 0 && static_cast<int64_t>(cost.size()) == rows * cols, "hungarian",
            "cost has {} values, expected [{}, {}]", cost.size(), rows, cols);
  for (double c : cost) SGT_CHECK(std::isfinite(c), "hungarian", "cost matrix [{}, {}] holds a non-finite value", rows, cols);
  if (rows == 0 || cols == 0) return std::vector<int64_t>(rows, -1);
  const double sign = maximize ? -1.0 : 1.0;
  if (rows <= cols) {
    std::vector<double> a(cost.size());
    for (size_t k = 0; k < cost.size(); ++k) a[k] = sign * cost[k];
    return solve_wide(a, rows, cols);
  }
  std::vector<double> t(cost.size());  // transposed [cols, rows]
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) t[j * rows + i] = sign * cost[i * cols + j];
  const std::vector<int64_t> col_to_row = solve_wide(t, cols, rows);
  std::vector<int64_t> row_to_col(rows, -1);
  for (int64_t j = 0; j < cols; ++j) row_to_col[col_to_row[j]] = j;
  return row_to_col;
}

}  // namespace sgt::eval
