# Helpers that keep every layer built the same way.

set(SGT_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare)
if(SGT_WERROR)
  list(APPEND SGT_WARNINGS -Werror)
endif()
if(SGT_FUZZ_BUILD)
  # Every object of the fuzz build is instrumented for libFuzzer's coverage (fuzzer-no-link) and the sanitizers; only
  # the fuzz executables link libFuzzer itself (sgt_add_fuzz, -fsanitize=fuzzer). -O1: the usual speed / report
  # quality balance under ASan. A UBSan report aborts, so the fuzzer counts it as a crash.
  add_compile_options(-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fsanitize=fuzzer-no-link)
  add_link_options(-fsanitize=address,undefined)
elseif(SGT_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# sgt_add_layer(NAME SOURCES ... [PLAIN_SOURCES ...] DEPS ... [TORCH])
# One static library per layer: sgt_<name>. DEPS name the layers (and libraries) it may use, so a wrong-way
# include fails to link. TORCH marks layers that use libtorch; their SOURCES get the shared precompiled torch
# header (saves ~25 s per file), PLAIN_SOURCES do not (loading the 700 MB header costs ~14 s per file).
# The fuzz build (SGT_FUZZ_BUILD) defines only the torch-free layers: a TORCH layer is skipped there.
function(sgt_add_layer name)
  cmake_parse_arguments(A "TORCH" "" "SOURCES;PLAIN_SOURCES;DEPS" ${ARGN})
  if(A_TORCH AND SGT_FUZZ_BUILD)
    return()
  endif()
  add_library(sgt_${name} STATIC ${A_SOURCES} ${A_PLAIN_SOURCES})
  if(A_PLAIN_SOURCES)
    set_source_files_properties(${A_PLAIN_SOURCES} TARGET_DIRECTORY sgt_${name} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
  endif()
  target_include_directories(sgt_${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_compile_options(sgt_${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${SGT_WARNINGS}>)
  target_link_libraries(sgt_${name} PUBLIC ${A_DEPS})
  if(A_TORCH)
    target_link_libraries(sgt_${name} PUBLIC ${TORCH_LIBRARIES})
    target_compile_options(sgt_${name} PUBLIC $<$<COMPILE_LANGUAGE:CXX>:${SGT_TORCH_CXX_FLAGS}>)
    if(SGT_PCH)
      target_precompile_headers(sgt_${name} REUSE_FROM sgt_torch_pch)
    endif()
  endif()
  if(SGT_WITH_CUDA)
    target_compile_definitions(sgt_${name} PUBLIC SGT_WITH_CUDA=1)
  endif()
endfunction()

# sgt_add_test(NAME SOURCES ... DEPS ... LABELS ... [TORCH])
# One GoogleTest executable; each TEST becomes a ctest entry with the given labels. TORCH: use the torch PCH.
function(sgt_add_test name)
  cmake_parse_arguments(A "TORCH" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_DEPS} sgt_testing GTest::gtest GTest::gtest_main)
  target_compile_options(${name} PRIVATE ${SGT_WARNINGS})
  if(A_TORCH AND SGT_PCH)
    target_precompile_headers(${name} REUSE_FROM sgt_torch_pch)
  endif()
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  # The properties are set by an include file that ctest reads after the discovered tests are defined, not through
  # gtest_discover_tests(PROPERTIES ...): CMake 3.25 splits those values into words, so a second label and the
  # TIMEOUT were read as property names and lost. (Tests find Python and the sources through sgt_testing's
  # compile definitions, not the environment.)
  gtest_discover_tests(${name} TEST_LIST ${name}_TESTS DISCOVERY_TIMEOUT 60)
  set(_file ${CMAKE_CURRENT_BINARY_DIR}/${name}_properties.cmake)
  file(WRITE ${_file}
    "if(DEFINED ${name}_TESTS)\n"
    "  set_tests_properties(\${${name}_TESTS} PROPERTIES LABELS \"${A_LABELS}\" TIMEOUT ${A_TIMEOUT})\n"
    "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${_file})
endfunction()
