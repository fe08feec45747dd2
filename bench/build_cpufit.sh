#!/usr/bin/env bash
# Build Cpufit (the CPU library of Gpufit, https://github.com/gpufit/Gpufit) for bench/bench_peers.py.
# CPU only: no CUDA toolkit is needed or used.
#
# Usage:  bash bench/build_cpufit.sh [float32|float64|both]      (default: float32, Cpufit's default precision)
#
# Environment:
#   CPUFIT_PREFIX   where the libraries go (default $HOME/.cache/lawfit-bench/cpufit):
#                   $CPUFIT_PREFIX/<precision>/libCpufit.so
#   GPUFIT_SRC      an unpacked Gpufit source tree; when absent it is made there from GPUFIT_GIT_DIR (a bare git
#                   directory, `git archive HEAD`) or, failing that, by `git clone --depth 1` of the GitHub repository
#                   (default $CPUFIT_PREFIX/src)
#   GPUFIT_GIT_DIR  bare git directory of a Gpufit snapshot (default /work/.mirror/gpufit+Gpufit/repo when it exists)
#   JOBS            parallel compile jobs (default 1); everything runs under `nice -n 19`
#
# Why not Gpufit's own top-level CMakeLists: it always runs add_subdirectory(Gpufit), whose first line is
# find_package(CUDA 6.5 REQUIRED) (and CMake >= 3.27 no longer ships the FindCUDA module), so it cannot configure on
# a machine without CUDA; it has no option to build Cpufit alone. This script writes a three-line wrapper project
# that adds only the Cpufit/ subdirectory, unmodified, with the same precision switch the top-level file has
# (DOUBLE_PRECISION=ON adds -DGPUFIT_DOUBLE, making REAL double in Gpufit/definitions.h). Build type Release (-O3),
# no -march flags, as Gpufit's documentation builds it.
#
# float64: Cpufit's source does not compile with GPUFIT_DOUBLE as published: lm_fit_cpp.cpp,
# project_parameters_to_box() binds `float& parameter = parameters_[i]` to a REAL (double) element. The float64
# build compiles a copy of the sources with that one declaration changed to `REAL&` (the function only runs for
# cpufit_constrained; the unconstrained cpufit() does not call it). Nothing else in Cpufit depends on float.
set -euo pipefail

PRECISION="${1:-float32}"
case "$PRECISION" in float32|float64|both) ;; *) echo "usage: $0 [float32|float64|both]" >&2; exit 2;; esac
PREFIX="${CPUFIT_PREFIX:-$HOME/.cache/lawfit-bench/cpufit}"
SRC="${GPUFIT_SRC:-$PREFIX/src}"
GIT_DIR_DEFAULT=/work/.mirror/gpufit+Gpufit/repo
GIT_DIR_SNAP="${GPUFIT_GIT_DIR:-$GIT_DIR_DEFAULT}"
JOBS="${JOBS:-1}"
mkdir -p "$PREFIX"

if [ ! -f "$SRC/Cpufit/cpufit.h" ]; then
  mkdir -p "$SRC"
  if [ -d "$GIT_DIR_SNAP" ]; then
    echo "unpacking Gpufit from $GIT_DIR_SNAP ($(git --git-dir="$GIT_DIR_SNAP" rev-parse HEAD))"
    git --git-dir="$GIT_DIR_SNAP" archive HEAD | tar -x -C "$SRC"
    git --git-dir="$GIT_DIR_SNAP" rev-parse HEAD > "$SRC/.gpufit_commit"
  else
    echo "cloning https://github.com/gpufit/Gpufit into $SRC"
    rmdir "$SRC" 2>/dev/null || true
    git clone --depth 1 https://github.com/gpufit/Gpufit "$SRC"
    git -C "$SRC" rev-parse HEAD > "$SRC/.gpufit_commit"
  fi
fi

build_one() {
  local prec="$1" src="$SRC" double=OFF
  local work="$PREFIX/build-$prec" out="$PREFIX/$prec"
  if [ "$prec" = float64 ]; then
    double=ON
    # a patched copy of the sources (see the header): float& -> REAL& in project_parameters_to_box()
    src="$PREFIX/src-float64"
    rm -rf "$src"
    mkdir -p "$src"
    cp -r "$SRC/Cpufit" "$SRC/Gpufit" "$src/"
    sed -i 's/float& parameter = parameters_\[parameter_index\];/REAL\& parameter = parameters_[parameter_index];/' \
      "$src/Cpufit/lm_fit_cpp.cpp"
    grep -q 'REAL& parameter = parameters_\[parameter_index\];' "$src/Cpufit/lm_fit_cpp.cpp" \
      || { echo "float64 patch did not apply (Gpufit source changed?)" >&2; exit 1; }
  fi
  rm -rf "$work"
  mkdir -p "$work/wrapper" "$out"
  cat > "$work/wrapper/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.11)
project(CpufitOnly CXX)
set(CMAKE_CXX_STANDARD 14)
if(DOUBLE_PRECISION)
  add_definitions(-DGPUFIT_DOUBLE)
endif()
add_subdirectory("$src/Cpufit" Cpufit)
EOF
  echo "== Cpufit $prec: configure"
  nice -n 19 cmake -S "$work/wrapper" -B "$work" -DCMAKE_BUILD_TYPE=Release -DDOUBLE_PRECISION=$double \
    -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$out" > "$work/configure.log"
  echo "== Cpufit $prec: build (nice -n 19, $JOBS job(s))"
  nice -n 19 cmake --build "$work" --target Cpufit -j "$JOBS"
  test -f "$out/libCpufit.so" || { echo "no $out/libCpufit.so" >&2; exit 1; }
  {
    echo "precision=$prec"
    echo "double_precision=$double"
    echo "gpufit_commit=$(cat "$SRC/.gpufit_commit" 2>/dev/null || echo unknown)"
    echo "compiler=$(${CXX:-c++} --version | head -1)"
    echo "build_type=Release"
  } > "$out/BUILD_INFO"
  echo "built $out/libCpufit.so"
}

if [ "$PRECISION" = both ]; then
  build_one float32
  build_one float64
else
  build_one "$PRECISION"
fi
