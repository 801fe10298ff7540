# The Debian packages reporthub builds and tests with, installed if missing. Sourced by
# scripts/run-example and scripts/test; the one list to edit when a dependency is added.
REPORTHUB_PACKAGES=(
  cmake ninja-build g++ pkg-config
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libyaml-cpp-dev libspdlog-dev libcli11-dev
  nlohmann-json3-dev catch2 libpcre2-dev libcurl4-openssl-dev
  python3-aiosmtpd  # a real SMTP server for the desksend tests
  openssl           # a throw-away certificate for the STARTTLS test
  rsyslog           # a real syslog peer for the ds_receive and ds_send tests (run privately)
  bsdutils          # logger, a real syslog client for the ds_receive tests
)

install_missing_packages() {
  local missing=()
  for p in "${REPORTHUB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing missing packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

# build DIR [cmake options...]: configure once, then build incrementally.
build() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j "$(nproc)"
}
