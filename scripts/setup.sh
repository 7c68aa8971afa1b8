# scripts/setup.sh — sourced by scripts/demo and scripts/test: installs the Debian
# packages fp8sim needs (only those missing) and builds with Meson. Idempotent: when
# nothing is missing and nothing changed it costs a second.
set -euo pipefail

FP8SIM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FP8SIM_PACKAGES=(
  g++ meson ninja-build pkg-config clang-format
  libxtensor-dev libhdf5-dev libfmt-dev doctest-dev libboost-dev libcli11-dev
  libtomlplusplus-dev librandom123-dev libopenblas-dev
  hdf5-tools python3-h5py python3-numpy python3-pandas python3-torch xz-utils util-linux
  zlib1g-dev dataset-fashion-mnist dict-freedict-eng-deu verilator libopenmpi-dev openmpi-bin
)

fp8sim_install_packages() {
  local missing=()
  for p in "${FP8SIM_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if ((${#missing[@]})); then
    echo "fp8sim: installing missing Debian packages: ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

# fp8sim_build DIR [meson options...] [-- ninja targets...]
fp8sim_build() {
  local dir="$1"
  shift
  local opts=() targets=()
  while (($#)); do
    if [ "$1" = "--" ]; then
      shift
      targets=("$@")
      break
    fi
    opts+=("$1")
    shift
  done
  if [ ! -f "$FP8SIM_ROOT/$dir/build.ninja" ]; then
    meson setup "$FP8SIM_ROOT/$dir" "$FP8SIM_ROOT" "${opts[@]}"
  fi
  ninja -C "$FP8SIM_ROOT/$dir" "${targets[@]}"
}
