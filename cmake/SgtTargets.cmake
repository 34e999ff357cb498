# Helpers that keep every layer built the same way.

set(SGT_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare)
if(SGT_WERROR)
  list(APPEND SGT_WARNINGS -Werror)
endif()
if(SGT_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# sgt_add_layer(NAME SOURCES ... [PLAIN_SOURCES ...] DEPS ... [TORCH])
# One static library per layer: sgt_<name>. DEPS name the layers (and libraries) it may use, so a wrong-way
# include fails to link. TORCH marks layers that use libtorch; their SOURCES get the shared precompiled torch
# header (saves ~25 s per file), PLAIN_SOURCES do not (loading the 700 MB header costs ~14 s per file).
function(sgt_add_layer name)
  cmake_parse_arguments(A "TORCH" "" "SOURCES;PLAIN_SOURCES;DEPS" ${ARGN})
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
  string(REPLACE ";" "\\;" _labels "${A_LABELS}")  # keep every label through gtest_discover_tests
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${_labels}" TIMEOUT ${A_TIMEOUT}
    ENVIRONMENT "SGT_PYTHON=${SGT_PYTHON};SGT_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    DISCOVERY_TIMEOUT 60)
endfunction()
