# Dependencies: Debian packages for the small C/C++ libraries, libtorch from the PyPI torch wheel in .venv.
# Nothing is downloaded at build time.

find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 2 REQUIRED)
find_package(ZLIB REQUIRED)
find_package(OpenSSL REQUIRED)  # libcrypto: SHA-256 of checkpoint files (io/checksum.h)
find_package(JPEG REQUIRED)
pkg_check_modules(SPNG REQUIRED IMPORTED_TARGET spng)
pkg_check_modules(LIBARCHIVE REQUIRED IMPORTED_TARGET libarchive)

# The Python interpreter of the project virtualenv: it locates libtorch and runs the reference scripts in tests.
set(SGT_PYTHON "${CMAKE_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH "Python with torch and the reference packages")
if(NOT EXISTS "${SGT_PYTHON}")
  message(FATAL_ERROR "[sgt] ${SGT_PYTHON} not found: run scripts/setup.sh first (it creates .venv)")
endif()
# sgt_python_probe(WHAT CODE VAR...): runs CODE in SGT_PYTHON and sets each VAR to one line it printed, in order;
# a failure is one fatal message naming WHAT (the wheel the build takes C++ libraries from).
function(sgt_python_probe what code)
  execute_process(COMMAND "${SGT_PYTHON}" -c "${code}"
    OUTPUT_VARIABLE _out RESULT_VARIABLE _rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "[sgt] ${SGT_PYTHON} cannot import ${what}: run scripts/setup.sh")
  endif()
  string(REPLACE "\n" ";" _lines "${_out}")
  set(_i 0)
  foreach(_var IN LISTS ARGN)
    list(GET _lines ${_i} _value)
    set(${_var} "${_value}" PARENT_SCOPE)
    math(EXPR _i "${_i} + 1")
  endforeach()
endfunction()

if(SGT_FUZZ_BUILD)
  # The fuzz build links nothing of torch and needs only its bundled fmt headers (below), so it asks the wheel for its
  # include folder instead of running find_package(Torch), which needs the CUDA toolkit and links libtorch.
  sgt_python_probe(torch "import torch, os; print(os.path.join(os.path.dirname(torch.__file__), 'include'))"
    TORCH_INCLUDE_DIRS)
  message(STATUS "[sgt] fuzz build: torch headers from ${TORCH_INCLUDE_DIRS}")
else()
  sgt_python_probe(torch "import torch, torch.utils; print(torch.utils.cmake_prefix_path); print(torch.__version__)"
    SGT_TORCH_PREFIX SGT_TORCH_VERSION)
  list(APPEND CMAKE_PREFIX_PATH "${SGT_TORCH_PREFIX}")
  message(STATUS "[sgt] torch ${SGT_TORCH_VERSION} from ${SGT_TORCH_PREFIX}")

  # The PyPI wheel is a CUDA build; its CMake config needs the CUDA toolkit to configure even for CPU use.
  # Without SGT_WITH_CUDA we only use its CPU kernels; with it we also compile our own .cu files.
  # Name the GPU architectures so that torch's CMake does not probe for a GPU (there is none on build machines):
  # Hopper (H100/H200) by default.
  if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST} AND NOT TORCH_CUDA_ARCH_LIST)
    set(TORCH_CUDA_ARCH_LIST "9.0" CACHE STRING "CUDA architectures for torch's CMake")
  endif()
  if(NOT SGT_WITH_CUDA)
    set(USE_CUDNN OFF CACHE BOOL "" FORCE)
  endif()
  find_package(Torch REQUIRED)
endif()
# fmt: libtorch ships fmt 12 headers on its include path, which would shadow a system fmt and clash with its
# library at link time. So every target uses that one fmt; src/core/fmt_impl.cpp compiles its library part.
add_library(sgt_fmt INTERFACE)
target_include_directories(sgt_fmt SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})

# Apache Arrow / Parquet C++ from the PyPI pyarrow wheel in .venv (src/data/parquet.h), found the way libtorch is:
# its headers and the versioned libraries it ships (libarrow.so.NNNN, libparquet.so.NNNN; no unversioned links).
sgt_python_probe("pyarrow (Arrow/Parquet C++)"
  "import pyarrow; print(pyarrow.get_include()); print(pyarrow.get_library_dirs()[0]); print(pyarrow.__version__)"
  SGT_ARROW_INCLUDE_DIR SGT_ARROW_LIB_DIR SGT_ARROW_VERSION)
file(GLOB _sgt_libarrow "${SGT_ARROW_LIB_DIR}/libarrow.so.[0-9]*")
file(GLOB _sgt_libparquet "${SGT_ARROW_LIB_DIR}/libparquet.so.[0-9]*")
list(FILTER _sgt_libarrow EXCLUDE REGEX "\\.so\\.[0-9]+\\.[0-9]")      # the SONAME file, not a longer alias
list(FILTER _sgt_libparquet EXCLUDE REGEX "\\.so\\.[0-9]+\\.[0-9]")
if(NOT _sgt_libarrow OR NOT _sgt_libparquet)
  message(FATAL_ERROR "[sgt] libarrow.so.* / libparquet.so.* not found in ${SGT_ARROW_LIB_DIR}")
endif()
add_library(sgt_arrow INTERFACE)
target_include_directories(sgt_arrow SYSTEM INTERFACE "${SGT_ARROW_INCLUDE_DIR}")
target_link_libraries(sgt_arrow INTERFACE ${_sgt_libparquet} ${_sgt_libarrow})
message(STATUS "[sgt] Arrow/Parquet ${SGT_ARROW_VERSION} from ${SGT_ARROW_LIB_DIR}")

# TORCH_CXX_FLAGS carries the ABI define; keep it on every target.
separate_arguments(SGT_TORCH_CXX_FLAGS UNIX_COMMAND "${TORCH_CXX_FLAGS}")

if(SGT_BUILD_TESTS AND NOT SGT_FUZZ_BUILD)
  find_package(GTest REQUIRED)
endif()
