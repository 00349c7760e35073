#!/usr/bin/env bash
# One stub for every command a distribution's join would run that cannot run here (dnf, yum,
# rpm, authselect, authconfig, update-crypto-policies, adcli, systemctl, cloud-init, ...).
# tests/scripts/test_linux_distributions.py links it under each command's name into a private
# /usr/local/sbin of a namespace (first on join.sh's PATH). Every call is appended to
# $STATE/calls as name<US>arg<US>arg...<RS>; state the tests set or read lives in $STATE.
# A name listed in $STATE/absent is a command that distribution does not have: it is recorded
# and fails as a missing command would (127).
set -euo pipefail

STATE=/run/stub
name=${0##*/}
{
  printf '%s' "$name"
  printf '\x1f%s' "$@"
  printf '\x1e'
} >>"$STATE/calls"

if grep -qxF "$name" "$STATE/absent" 2>/dev/null; then
  printf '%s: command not found\n' "$name" >&2
  exit 127
fi

installed() { grep -qxF "$1" "$STATE/installed" 2>/dev/null; }

# The value of --OPTION=value among the arguments.
option() {
  local wanted=$1 arg
  shift
  for arg in "$@"; do
    if [[ $arg == "--$wanted="* ]]; then
      printf '%s' "${arg#*=}"
      return 0
    fi
  done
  return 1
}

case $name in
  rpm) # rpm -q PACKAGE
    if installed "${2-}"; then exit 0; fi
    printf 'package %s is not installed\n' "${2-}"
    exit 1
    ;;
  dpkg-query) # dpkg-query -W -f='${Status}' PACKAGE
    if installed "${!#}"; then printf 'install ok installed'; exit 0; fi
    exit 1
    ;;
  dnf | yum | apt-get) # install -y -q PACKAGE...
    if [[ ${1-} == install ]]; then
      for arg in "${@:2}"; do
        [[ $arg == -* ]] || printf '%s\n' "$arg" >>"$STATE/installed"
      done
    fi
    ;;
  authselect)
    case ${1-} in
      current)
        if [[ -s $STATE/authselect ]]; then cat "$STATE/authselect"; exit 0; fi
        echo "No existing configuration detected."
        exit 2
        ;;
      select) printf '%s\n' "${*:2}" >"$STATE/authselect" ;;
    esac
    ;;
  update-crypto-policies)
    case ${1-} in
      --show) cat "$STATE/crypto-policy" 2>/dev/null || echo DEFAULT ;;
      --set) printf '%s\n' "$2" >"$STATE/crypto-policy" ;;
    esac
    ;;
  hostnamectl) # hostnamectl set-hostname NAME
    [[ ${1-} != set-hostname ]] || hostname "$2"
    ;;
  adcli)
    case ${1-} in
      info) exit 0 ;;
      testjoin) [[ -s /etc/krb5.keytab ]] ;;
      join)
        if [[ " $* " == *" --help "* ]]; then
          echo "usage: adcli join --domain=xxxx"
          if [[ ! -e $STATE/adcli-without-login-type ]]; then
            echo "  --login-type=<...>         restrict type of login allowed when connecting"
          fi
          echo "  --stdin-password           read a password from stdin (until EOF)"
          exit 0
        fi
        cat >"$STATE/adcli-stdin"
        computer=$(option computer-name "$@")
        realm=$(option domain-realm "$@")
        printf '%s$@%s\n' "$computer" "$realm" >/etc/krb5.keytab
        ;;
    esac
    ;;
  klist) # klist -k KEYTAB
    echo "Keytab name: FILE:${2-}"
    echo "KVNO Principal"
    echo "---- ---------------------------------------"
    sed 's/^/   2 /' "${2-}"
    ;;
  visudo) # visudo -c -q -f FILE: the real one, unless the test says it refuses
    if [[ -e $STATE/visudo-refuses ]]; then
      echo "${!#}:1:1: syntax error" >&2
      exit 1
    fi
    exec /usr/sbin/visudo "$@"
    ;;
  cloud-init) # cloud-init status --wait: "running" while $STATE/cloud-init-running exists
    while [[ -e $STATE/cloud-init-running ]]; do sleep 0.1; done
    exit "$(cat "$STATE/cloud-init-rc" 2>/dev/null || echo 0)"
    ;;
  *) ;; # systemctl, authconfig, pam-auth-update, resolvectl, sssd, sss_cache: recorded only
esac
