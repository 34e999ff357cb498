#pragma once
// Output paths built from input data (tar member names, sample keys, image names in a benchmark) must stay inside
// the output folder: a shard holding `/etc/x.jpg` or `../../x.jpg` would otherwise make a writer reach outside it.
#include <string>

namespace sgt::io {

// Throws sgt::Error (component "safe-path", naming `what`, the folder and the name) when `relative` is empty,
// absolute, holds a NUL byte, an empty component (`a//b`, trailing `/`), a `.` or a `..` component; returns
// dir + "/" + relative otherwise. Sub-folders (`sam_selection/sa_1`) are allowed; the name is checked lexically
// and not resolved, so a symlink already inside `dir` is the folder owner's choice.
std::string path_inside(const std::string& dir, const std::string& relative, const std::string& what);

// path_inside() plus creation of the parent folders of the result (inside `dir`).
std::string prepare_path_inside(const std::string& dir, const std::string& relative, const std::string& what);

}  // namespace sgt::io
