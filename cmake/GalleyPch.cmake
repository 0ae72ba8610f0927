# Precompiled headers (issue #11). 71 of 122 translation units include nlohmann/json.hpp
# (model/live_state.h holds json by value, so json_fwd.hpp cannot replace it), and every test
# TU parses gtest. Three PCHs, each compiled once by a host target and reused by the others:
#   galley_pch            nlohmann/json.hpp + common std headers  -> library/tool TUs with json
#   galley_pch_json_test  the same + gtest/gtest.h                -> test binaries with json TUs
#   galley_pch_test       gtest/gtest.h + common std headers      -> the other test binaries
# Only third-party and std headers go in: galley's own headers stay out, so the layering rule
# (a module includes only the headers of modules it links) is still enforced by the build.
# Beast/Asio stay out too (two TUs use them). A missing `#include <json/std header>` in a .cc
# is hidden while PCH is on; a -DGALLEY_PCH=OFF build shows it.
#
# REUSE_FROM needs the same flags as the host: the hosts link galley_settings (warnings,
# sanitizer flags, GALLEY_VERSION), and GCC checks the rest itself: CMake adds -Winvalid-pch,
# which galley's -Werror turns into a build error if a target's flags ever stop matching.
#
# ccache: a TU compiled with a PCH is cached only with sloppiness pch_defines,time_macros
# (ccache manual, "Precompiled headers"; without it every such compile is "uncacheable"). The
# launcher sets it, so developer builds and ci/build.sh cache alike. ccache hashes the .gch
# bytes, and GCC does not write the same .gch twice, so a fresh clone hits only because the
# PCH compile itself is a ccache hit (same bytes as in the warm build): keep cmake_pch.hxx free
# of absolute paths (angle-bracket entries only), or the PCH and every TU behind it miss.

option(GALLEY_PCH "Precompile nlohmann/json, common std headers and gtest (cmake/GalleyPch.cmake)" ON)

# What goes in each PCH. Loading a PCH is not free (GCC maps ~100 MB: ~1.3 s CPU for the json
# one, measured), so a TU gets one only if it parses what the PCH holds; see galley_pch_apply.
set(GALLEY_PCH_STD <algorithm> <chrono> <functional> <map> <memory> <optional> <set> <string>
    <string_view> <utility> <vector>)
set(GALLEY_PCH_JSON_HEADERS <nlohmann/json.hpp> ${GALLEY_PCH_STD})
set(GALLEY_PCH_JSON_TEST_HEADERS <nlohmann/json.hpp> <gtest/gtest.h> ${GALLEY_PCH_STD})
set(GALLEY_PCH_TEST_HEADERS <gtest/gtest.h> ${GALLEY_PCH_STD})

# Called from the top-level CMakeLists.txt before any target is defined.
function(galley_pch_set_launcher)
  if(GALLEY_PCH AND CCACHE_PROGRAM)
    find_program(GALLEY_ENV_PROGRAM env REQUIRED)
    set(CMAKE_CXX_COMPILER_LAUNCHER ${GALLEY_ENV_PROGRAM} CCACHE_SLOPPINESS=pch_defines,time_macros
        ${CCACHE_PROGRAM} PARENT_SCOPE)
  endif()
endfunction()

function(_galley_pch_collect_targets dir out)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    _galley_pch_collect_targets(${sub} sub_targets)
    list(APPEND targets ${sub_targets})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

# Whether `file` includes nlohmann/json.hpp, directly or through galley's own quoted includes
# (resolved against the file's folder, reconciler/ and tests/). Memoised per file. Read at
# configure time only: a json include added later leaves that TU without the PCH (slower,
# never wrong) until CMake runs again.
function(_galley_pch_uses_json file out)
  get_property(known GLOBAL PROPERTY "GALLEY_PCH_JSON:${file}" SET)
  if(known)
    get_property(result GLOBAL PROPERTY "GALLEY_PCH_JSON:${file}")
    set(${out} ${result} PARENT_SCOPE)
    return()
  endif()
  set_property(GLOBAL PROPERTY "GALLEY_PCH_JSON:${file}" FALSE)  # include cycles end here
  set(result FALSE)
  if(EXISTS ${file})
    file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<]")
    if(lines MATCHES "<nlohmann/json\\.hpp>")
      set(result TRUE)
    else()
      get_filename_component(dir ${file} DIRECTORY)
      foreach(line IN LISTS lines)
        if(line MATCHES "#[ \t]*include[ \t]*\"([^\"]+)\"")
          set(inc ${CMAKE_MATCH_1})
          foreach(root ${dir} ${PROJECT_SOURCE_DIR}/reconciler ${PROJECT_SOURCE_DIR}/tests)
            if(EXISTS ${root}/${inc})
              get_filename_component(path ${root}/${inc} ABSOLUTE)
              _galley_pch_uses_json(${path} sub)
              if(sub)
                set(result TRUE)
                break()
              endif()
            endif()
          endforeach()
          if(result)
            break()
          endif()
        endif()
      endforeach()
    endif()
  endif()
  set_property(GLOBAL PROPERTY "GALLEY_PCH_JSON:${file}" ${result})
  set(${out} ${result} PARENT_SCOPE)
endfunction()

# Called from the top-level CMakeLists.txt after every add_subdirectory(). Each C++ library
# and executable of the project reuses one of three PCHs (compiled once each, by the hosts
# below), so a new target needs no PCH line of its own. Measured per TU (user+sys, -O2):
#   json, no gtest:  5.4 s -> 3.8 s with galley_pch;        no PCH if it has no json
#                    (a std-only TU pays ~1.3 s to load the json PCH and gains nothing)
#   json + gtest:    7.2 s -> 4.8 s with galley_pch_json_test
#   gtest, no json:  2.5 s -> 1.3 s with galley_pch_test    (the json+gtest PCH gains nothing)
# A test target (one linking GTest or galley_test_support) with any json TU takes
# galley_pch_json_test, else galley_pch_test; other targets take galley_pch, and their TUs
# without json skip it (SKIP_PRECOMPILE_HEADERS). REUSE_FROM needs the host's flags: the hosts
# link galley_settings (warnings, sanitizer flags, GALLEY_VERSION) and GCC checks the rest:
# CMake adds -Winvalid-pch, which -Werror makes a build error if a target's flags stop matching.
function(galley_pch_apply)
  if(NOT GALLEY_PCH)
    return()
  endif()
  set(host_src ${PROJECT_SOURCE_DIR}/cmake/pch_host.cc)
  add_library(galley_pch OBJECT ${host_src})
  target_link_libraries(galley_pch PRIVATE galley_settings nlohmann_json::nlohmann_json)
  target_precompile_headers(galley_pch PRIVATE ${GALLEY_PCH_JSON_HEADERS})
  if(GALLEY_BUILD_TESTS)
    find_package(GTest REQUIRED)  # tests/ found it too, but imported targets are per directory
    add_library(galley_pch_json_test OBJECT ${host_src})
    target_link_libraries(galley_pch_json_test PRIVATE galley_settings nlohmann_json::nlohmann_json GTest::gtest)
    target_precompile_headers(galley_pch_json_test PRIVATE ${GALLEY_PCH_JSON_TEST_HEADERS})
    add_library(galley_pch_test OBJECT ${host_src})
    target_link_libraries(galley_pch_test PRIVATE galley_settings GTest::gtest)
    target_precompile_headers(galley_pch_test PRIVATE ${GALLEY_PCH_TEST_HEADERS})
  endif()

  _galley_pch_collect_targets(${PROJECT_SOURCE_DIR} targets)
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    if(NOT type MATCHES "^(STATIC_LIBRARY|SHARED_LIBRARY|OBJECT_LIBRARY|EXECUTABLE)$"
       OR t MATCHES "^galley_pch")
      continue()
    endif()
    get_target_property(target_dir ${t} SOURCE_DIR)
    get_target_property(sources ${t} SOURCES)
    set(json_sources)
    set(plain_sources)
    foreach(src IN LISTS sources)
      if(NOT src MATCHES "\\.(cc|cpp|cxx)$")
        continue()
      endif()
      get_filename_component(path ${src} ABSOLUTE BASE_DIR ${target_dir})
      _galley_pch_uses_json(${path} uses_json)
      if(uses_json)
        list(APPEND json_sources ${path})
      else()
        list(APPEND plain_sources ${path})  # absolute: relative ones would resolve from here
      endif()
    endforeach()
    get_target_property(links ${t} LINK_LIBRARIES)
    if(links MATCHES "(^|;)(GTest::|galley_test_support)")
      if(json_sources)
        target_precompile_headers(${t} REUSE_FROM galley_pch_json_test)
      else()
        target_precompile_headers(${t} REUSE_FROM galley_pch_test)
      endif()
    elseif(json_sources)
      target_precompile_headers(${t} REUSE_FROM galley_pch)
      if(plain_sources)
        set_source_files_properties(${plain_sources} TARGET_DIRECTORY ${t}
                                    PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
      endif()
    endif()
  endforeach()
endfunction()
