# Shared by the scripts: install Debian packages the run needs, only when their command is missing.
# Usage: ensure_commands ip:iproute2 ping:iputils-ping
ensure_commands() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]} — run as root, or: sudo apt-get install ${missing[*]}" >&2
    return 1
  fi
  echo "installing ${missing[*]} (apt-get)" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The tests and the demo need OpenBSD netcat (nc -N); Debian may have the traditional one instead.
ensure_netcat_openbsd() {
  if command -v nc >/dev/null 2>&1 && nc -h 2>&1 | grep -q OpenBSD; then return 0; fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: netcat-openbsd — run as root, or: sudo apt-get install netcat-openbsd" >&2
    return 1
  fi
  echo "installing netcat-openbsd (apt-get)" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends netcat-openbsd >/dev/null
}
