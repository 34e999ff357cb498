#pragma once
// Rectangular linear assignment (the problem scipy.optimize.linear_sum_assignment solves), torch-free.
#include <cstdint>
#include <vector>

namespace sgt::eval {

// cost: row-major [rows, cols], finite values. Returns, for each row, the column assigned to it or -1 (when
// rows > cols, rows - cols rows stay unassigned). Minimises the total cost of min(rows, cols) pairs, or maximises
// it with maximize = true. O(n^2 m) shortest augmenting paths (Jonker-Volgenant style potentials).
std::vector<int64_t> linear_sum_assignment(const std::vector<double>& cost, int64_t rows, int64_t cols,
                                           bool maximize = false);

}  // namespace sgt::eval
