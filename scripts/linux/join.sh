#!/usr/bin/env bash
# Join this Linux instance to Active Directory with the one-time password of a computer account
# that the hub pre-created, and restrict login to one AD group.
#
# Run as root by SSM Run Command (aws:runShellScript). The parameters arrive as environment
# variables (interpolationType ENV_VAR, docs/contracts.md); this script never uses {{ }}:
#   SSM_computerName     computer name, 1-15 characters (never truncated)
#   SSM_oneTimePassword  one-time password of the pre-created account (never printed)
#   SSM_domainName       DNS name of the domain
#   SSM_computerOU       DN of the OU holding the account, or empty
#   SSM_adGroupName      AD group allowed to log in, or empty (login rules unchanged)
#   SSM_dnsIP1/2         DNS servers of the domain, or empty (DNS unchanged)
#   SSM_domainController the domain controller that holds the pre-created account (DNS name or
#                        IPv4 address), or empty: discovery, join and check then use only it,
#                        since the account may not have replicated to the others yet
# Exit codes: 0 joined or already joined (a no-op), 2 bad parameters, 3 package install failed,
# 4 DNS/KDC unreachable, 5 join failed, 6 access restriction failed. Messages go to stderr.
#
# The one-time password reaches adcli on its standard input (--login-type=computer
# --stdin-password), never on a command line; it is removed from the environment before any
# other program starts. Residual exposure: it is in this process's environment as SSM starts it
# and in the SSM command parameters; it is worthless once the join has rotated the password.
set -euo pipefail
umask 077

readonly EXIT_PARAMS=2 EXIT_PACKAGES=3 EXIT_DISCOVERY=4 EXIT_JOIN=5 EXIT_ACCESS=6
readonly MARKER="# managed by ad-join (scripts/linux/join.sh)"
readonly KEYTAB=/etc/krb5.keytab
readonly SSSD_CONF=/etc/sssd/sssd.conf

OTP=${SSM_oneTimePassword-}
unset SSM_oneTimePassword
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"

log() { printf 'ad-join: %s\n' "$*" >&2; }
die() {
  local code=$1
  shift
  log "error: $*"
  exit "$code"
}

# ---- parameters ---------------------------------------------------------------------------

read_params() {
  NAME=${SSM_computerName-}
  DOMAIN=${SSM_domainName-}
  OU=${SSM_computerOU-}
  GROUP=${SSM_adGroupName-}
  DNS1=${SSM_dnsIP1-}
  DNS2=${SSM_dnsIP2-}
  DC=${SSM_domainController-}
}

validate_name() {
  if ((${#NAME} > 15)); then
    die "$EXIT_PARAMS" "computer name '$NAME' is ${#NAME} characters; the limit is 15 (never truncated)"
  fi
  if [[ ! $NAME =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,13}[A-Za-z0-9])?$ || $NAME =~ ^[0-9]+$ ]]; then
    die "$EXIT_PARAMS" "computer name '$NAME' must be letters, digits and inner hyphens, not all digits"
  fi
}

validate_params() {
  local label='[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
  # No leading zeros (glibc reads "010" as octal or refuses it): the SSM document's pattern.
  local octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
  local ipv4="^($octet\.){3}$octet\$"
  local dn_re=$'^[A-Za-z]+=[^"\\`\n]+$'
  validate_name
  [[ $DOMAIN =~ ^($label\.)+$label$ ]] || die "$EXIT_PARAMS" "domain name '$DOMAIN' is not a DNS name"
  if [[ -n $OU && ! $OU =~ $dn_re ]]; then
    die "$EXIT_PARAMS" "computer OU '$OU' is not a distinguished name"
  fi
  if [[ -n $GROUP && ! $GROUP =~ ^[A-Za-z0-9._-]([A-Za-z0-9\ ._-]{0,62}[A-Za-z0-9._-])?$ ]]; then
    die "$EXIT_PARAMS" "group name '$GROUP' must be 1-64 characters [A-Za-z0-9 ._-]"
  fi
  if [[ -n $DC && ! $DC =~ ^$label(\.$label)*$ ]]; then
    die "$EXIT_PARAMS" "domain controller '$DC' is not a host name or IPv4 address"
  fi
  local ip
  for ip in "$DNS1" "$DNS2"; do
    [[ -z $ip || $ip =~ $ipv4 ]] || die "$EXIT_PARAMS" "DNS server '$ip' is not an IPv4 address"
  done
  # The password itself is never echoed, only what is wrong with it.
  [[ -n $OTP ]] || die "$EXIT_PARAMS" "the one-time password is empty"
  [[ $OTP =~ ^[[:graph:]]{8,128}$ ]] || die "$EXIT_PARAMS" "the one-time password has invalid characters"
  NAME=${NAME^^}
  HOST=${NAME,,}
  DOMAIN=${DOMAIN,,}
  REALM=${DOMAIN^^}
  FQDN="$HOST.$DOMAIN"
}

# ---- packages -----------------------------------------------------------------------------

detect_os() {
  OS_ID=unknown OS_LIKE=""
  if [[ -r /etc/os-release ]]; then
    # shellcheck source=/dev/null
    OS_ID=$(. /etc/os-release && printf '%s' "${ID:-unknown}")
    # shellcheck source=/dev/null
    OS_LIKE=$(. /etc/os-release && printf '%s' "${ID_LIKE:-}")
  fi
  case " $OS_ID $OS_LIKE " in
    *" debian "* | *" ubuntu "*) PKG=apt ;;
    *" amzn "* | *" rhel "* | *" fedora "* | *" centos "*)
      if command -v dnf >/dev/null 2>&1; then PKG=dnf; else PKG=yum; fi
      ;;
    *) die "$EXIT_PACKAGES" "unsupported distribution '$OS_ID' (supported: Amazon Linux, RHEL family, Debian, Ubuntu)" ;;
  esac
}

missing_packages() {
  local pkg
  for pkg in "$@"; do
    if [[ $PKG == apt ]]; then
      [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == "install ok installed" ]] || printf '%s\n' "$pkg"
    else
      rpm -q "$pkg" >/dev/null 2>&1 || printf '%s\n' "$pkg"
    fi
  done
}

install_packages() {
  local wanted missing
  if [[ $PKG == apt ]]; then
    wanted=(adcli sssd-ad sssd-tools libnss-sss libpam-sss krb5-user)
  elif [[ $OS_ID == amzn && $PKG == yum ]]; then # Amazon Linux 2: authconfig, no authselect
    wanted=(adcli sssd sssd-ad sssd-tools krb5-workstation oddjob oddjob-mkhomedir authconfig)
  else
    wanted=(adcli sssd sssd-ad sssd-tools krb5-workstation oddjob oddjob-mkhomedir authselect)
  fi
  mapfile -t missing < <(missing_packages "${wanted[@]}")
  if ((${#missing[@]} == 0)); then
    log "packages present: ${wanted[*]}"
    return 0
  fi
  log "installing: ${missing[*]}"
  if [[ $PKG == apt ]]; then
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"; } >&2 ||
      die "$EXIT_PACKAGES" "apt-get could not install ${missing[*]}"
  else
    "$PKG" install -y -q "${missing[@]}" >&2 || die "$EXIT_PACKAGES" "$PKG could not install ${missing[*]}"
  fi
}

# ---- files --------------------------------------------------------------------------------

# write_if_changed PATH MODE: content on stdin; replaces PATH atomically only when it differs.
# Returns 0 when the file changed, 1 when it was already right.
write_if_changed() {
  local path=$1 mode=$2 tmp
  tmp=$(mktemp "$path.ad-join.XXXXXX")
  cat >"$tmp"
  if [[ -f $path ]] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    return 1
  fi
  if [[ -f $path && ! -f $path.ad-join.bak ]] && ! grep -qF "$MARKER" "$path"; then
    cp -p "$path" "$path.ad-join.bak"
  fi
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$path"
  return 0
}

# ---- host name and DNS --------------------------------------------------------------------

set_hostname() {
  if [[ $(hostname) != "$HOST" ]]; then
    if ! { command -v hostnamectl >/dev/null 2>&1 && hostnamectl set-hostname "$HOST" 2>/dev/null; }; then
      hostname "$HOST"
    fi
    log "hostname set to $HOST"
  fi
  printf '%s\n' "$HOST" | write_if_changed /etc/hostname 0644 || true
  local ip
  ip=$(hostname -I 2>/dev/null | awk '{print $1}')
  ip=${ip:-127.0.1.1}
  {
    grep -v ' # ad-join$' /etc/hosts 2>/dev/null || true
    printf '%s %s %s # ad-join\n' "$ip" "$FQDN" "$HOST"
  } | write_if_changed /etc/hosts 0644 || true
  if [[ -d /etc/cloud/cloud.cfg.d ]]; then # keep cloud-init from restoring the EC2 name on boot
    printf '%s\npreserve_hostname: true\n' "$MARKER" |
      write_if_changed /etc/cloud/cloud.cfg.d/99-ad-join-hostname.cfg 0644 || true
  fi
}

# The domain's DNS servers: a systemd-resolved drop-in when resolved manages /etc/resolv.conf,
# otherwise /etc/resolv.conf itself (the previous file is kept as resolv.conf.ad-join.bak).
configure_dns() {
  local servers=()
  [[ -n $DNS1 ]] && servers+=("$DNS1")
  [[ -n $DNS2 ]] && servers+=("$DNS2")
  ((${#servers[@]} > 0)) || return 0
  if [[ -L /etc/resolv.conf && $(readlink /etc/resolv.conf) == *systemd/resolve* ]] && command -v resolvectl >/dev/null 2>&1; then
    mkdir -p /etc/systemd/resolved.conf.d
    if printf '%s\n[Resolve]\nDNS=%s\nDomains=~%s\n' "$MARKER" "${servers[*]}" "$DOMAIN" |
      write_if_changed /etc/systemd/resolved.conf.d/ad-join.conf 0644; then
      systemctl restart systemd-resolved
    fi
  else
    {
      printf '%s\nsearch %s\n' "$MARKER" "$DOMAIN"
      printf 'nameserver %s\n' "${servers[@]}"
    } | write_if_changed /etc/resolv.conf 0644 || true
  fi
}

# adcli's --domain-controller for the pinned controller, if any (an array that may be empty;
# expanded as ${DC_ARGS[@]+...} so bash < 4.4 (Amazon Linux 2) accepts it under set -u).
dc_args() {
  DC_ARGS=()
  [[ -z $DC ]] || DC_ARGS=(--domain-controller="$DC")
}

discover_domain() {
  if ! adcli info ${DC_ARGS[@]+"${DC_ARGS[@]}"} "$DOMAIN" >/dev/null 2>&1; then
    if [[ -n $DC ]]; then
      die "$EXIT_DISCOVERY" "cannot reach the domain controller $DC of $DOMAIN (LDAP, Kerberos); check SSM_dnsIP1/2 and security groups"
    fi
    die "$EXIT_DISCOVERY" "cannot find a domain controller for $DOMAIN (DNS SRV records / LDAP); check SSM_dnsIP1/2 and security groups"
  fi
}

# ---- Kerberos and the join ----------------------------------------------------------------

configure_krb5() {
  cat <<EOF | write_if_changed /etc/krb5.conf 0644 || true
$MARKER
[libdefaults]
    default_realm = $REALM
    dns_lookup_realm = false
    dns_lookup_kdc = true
    rdns = false
    forwardable = true
    udp_preference_limit = 0
EOF
}

# True when the keytab belongs to NAME and the domain still accepts it.
already_joined() {
  [[ -s $KEYTAB ]] || return 1
  klist -k "$KEYTAB" 2>/dev/null | grep -qiF " $NAME\$@$REALM" || return 1
  adcli testjoin --domain="$DOMAIN" ${DC_ARGS[@]+"${DC_ARGS[@]}"} >/dev/null 2>&1
}

set_aside_foreign_keytab() {
  if [[ -s $KEYTAB ]] && ! klist -k "$KEYTAB" 2>/dev/null | grep -qiF " $NAME\$@$REALM"; then
    mv -f "$KEYTAB" "$KEYTAB.ad-join.old"
    log "moved a keytab of another computer to $KEYTAB.ad-join.old"
  fi
}

join_domain() {
  local args=(join --domain="$DOMAIN" --domain-realm="$REALM" --computer-name="$NAME"
    --host-fqdn="$FQDN" --show-details ${DC_ARGS[@]+"${DC_ARGS[@]}"})
  [[ -z $OU ]] || args+=(--domain-ou="$OU")
  local usage
  usage=$(adcli join --help 2>&1 || true)
  if [[ $usage == *--login-type* ]]; then
    args+=(--login-type=computer --stdin-password) # adcli >= 0.9: password on stdin
  else
    # Older adcli (Amazon Linux 2) only takes it as an argument: visible in the process list
    # for the seconds the join takes; documented in docs/real-ad.md.
    log "adcli without --login-type: passing the one-time password as an argument"
    args+=(--one-time-password="$OTP")
  fi
  local out
  if ! out=$(printf '%s' "$OTP" | adcli "${args[@]}" 2>&1); then
    printf '%s\n' "${out//"$OTP"/***}" >&2
    die "$EXIT_JOIN" "adcli join as $NAME failed (wrong or expired one-time password, or no pre-created account${DC:+ on $DC})"
  fi
  log "joined $DOMAIN as $NAME"
}

# ---- login: sssd, NSS, PAM ----------------------------------------------------------------

write_sssd_conf() {
  mkdir -p /etc/sssd
  chmod 0711 /etc/sssd
  {
    printf '%s\n' "$MARKER"
    printf '[sssd]\nconfig_file_version = 2\nservices = nss, pam\ndomains = %s\n\n' "$DOMAIN"
    printf '[domain/%s]\nid_provider = ad\nauth_provider = ad\nchpass_provider = ad\n' "$DOMAIN"
    printf 'ad_domain = %s\nkrb5_realm = %s\nad_hostname = %s\n' "$DOMAIN" "$REALM" "$FQDN"
    printf 'krb5_keytab = %s\nldap_id_mapping = true\nuse_fully_qualified_names = true\n' "$KEYTAB"
    printf 'cache_credentials = true\ndefault_shell = /bin/bash\nfallback_homedir = /home/%%u@%%d\n'
    if [[ -n $GROUP ]]; then
      printf 'access_provider = simple\nsimple_allow_groups = %s\n' "$GROUP"
    fi
  } | write_if_changed "$SSSD_CONF" 0600
}

ensure_nsswitch() {
  local db changed=1
  for db in passwd group shadow; do
    if grep -qE "^$db:" /etc/nsswitch.conf && ! grep -qE "^$db:.*[[:space:]]sss([[:space:]]|$)" /etc/nsswitch.conf; then
      sed -i -E "s/^($db:.*)$/\\1 sss/" /etc/nsswitch.conf
      changed=0
    fi
  done
  return "$changed"
}

configure_pam() {
  if command -v pam-auth-update >/dev/null 2>&1; then
    if ! grep -q pam_sss.so /etc/pam.d/common-auth 2>/dev/null || ! grep -q pam_mkhomedir.so /etc/pam.d/common-session 2>/dev/null; then
      DEBIAN_FRONTEND=noninteractive pam-auth-update --enable sss mkhomedir >&2 || return 1
    fi
  elif command -v authselect >/dev/null 2>&1; then
    if [[ $(authselect current --raw 2>/dev/null) != "sssd with-mkhomedir"* ]]; then
      authselect select sssd with-mkhomedir --force >&2 || return 1
    fi
    enable_service oddjobd || true
  elif command -v authconfig >/dev/null 2>&1; then
    authconfig --enablesssd --enablesssdauth --enablemkhomedir --update >&2 || return 1
    enable_service oddjobd || true
  fi
}

have_systemd() { [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; }

enable_service() {
  have_systemd || return 0
  systemctl enable --now "$1" >/dev/null 2>&1
}

sssd_pid() {
  local f pid
  for f in /run/sssd.pid /var/run/sssd.pid; do
    if [[ -s $f ]]; then
      pid=$(<"$f")
      if kill -0 "$pid" 2>/dev/null; then
        printf '%s' "$pid"
        return 0
      fi
    fi
  done
  return 1
}

# (Re)start sssd: systemd when it runs, otherwise sssd itself (containers, namespaces).
start_sssd() {
  local restart=$1 pid i
  if have_systemd; then
    systemctl enable sssd >/dev/null 2>&1 || true
    if [[ $restart == yes ]]; then systemctl restart sssd; else systemctl start sssd; fi
    return
  fi
  if pid=$(sssd_pid); then
    [[ $restart == yes ]] || return 0
    kill "$pid"
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  command -v sss_cache >/dev/null 2>&1 && sss_cache -E >/dev/null 2>&1 || true
  sssd -D
}

configure_login() {
  local restart=no
  if write_sssd_conf; then restart=yes; fi
  if ensure_nsswitch; then restart=yes; fi
  configure_pam || die "$EXIT_ACCESS" "PAM configuration for sssd failed"
  start_sssd "$restart" || die "$EXIT_ACCESS" "sssd did not start"
  if [[ -n $GROUP ]]; then
    log "login restricted to members of '$GROUP'"
  else
    log "no adGroupName: login rules of the domain apply unchanged"
  fi
}

main() {
  [[ $EUID -eq 0 ]] || die "$EXIT_PARAMS" "must run as root"
  read_params
  validate_params
  dc_args
  detect_os
  install_packages
  set_hostname
  configure_dns
  configure_krb5
  if already_joined; then
    log "already joined to $DOMAIN as $NAME: nothing to join"
  else
    discover_domain
    set_aside_foreign_keytab
    join_domain
  fi
  configure_login
}

main "$@"
