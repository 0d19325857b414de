# shellcheck shell=bash
# Shared by tests/testbed/up, down and posture: where the testbed lives, how its
# daemons are found, and how all of it is taken down again. Sourced, never run.
#
# Every daemon is found through its own pidfile (or, as a last resort, by a command line
# that names a path inside $TB): nothing here stops a process by name, so a developer's
# own sshd, dockerd, PostgreSQL or Redis keep running.

TB_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TB_REPO="$(cd "$TB_SCRIPT_DIR/../.." && pwd)"
TB="${BREAKGLASS_TESTBED:-$TB_REPO/.testbed}"
TB_HOSTS=(app1 app2 app3)
# Every Docker engine: one per host, and a single-node Swarm manager whose socket is
# reached through app3's sshd (tests name it as app3's engine when they want a swarm).
TB_ENGINES=(app1 app2 app3 swarm)
# The file that says "this directory is a testbed": down removes nothing without it.
TB_MARKER=.breakglass-testbed
# Written last by up: the testbed is complete.
TB_DONE=.up-complete
# What tests/testbed/posture makes lives here (and in $TB/{hardened,weak}.toml, posture.json).
TB_POSTURE_DIR="$TB/posture"
# The postures' hosts: each an sshd and a Docker engine of its own, in $TB_POSTURE_DIR/<host>
# (the sandbox's hosts are in $TB/hosts/<host>).
TB_POSTURE_HOSTS=(hard1 weak1)
# The longest Unix socket path we create (containerd's debug socket under the exec root
# of app1's engine); sockaddr_un holds 108 bytes, we keep a margin.
TB_LONGEST_SOCKET_SUFFIX=/hosts/app1/exec/containerd/containerd-debug.sock
TB_SOCKET_MAX=100

tb_log() { printf '%s: %s\n' "${TB_PROG:-testbed}" "$*" >&2; }
tb_die() { tb_log "error: $*"; exit 1; }

# The Docker client: Debian's (it matches the 20.10 engine) before any other on PATH.
tb_docker_bin() {
  if [[ -x /usr/bin/docker ]]; then echo /usr/bin/docker; else command -v docker || echo docker; fi
}

# The folder of one host (or engine): a posture's host in $TB_POSTURE_DIR, else $TB/hosts.
tb_host_dir() {
  case " ${TB_POSTURE_HOSTS[*]} " in
    *" $1 "*) echo "$TB_POSTURE_DIR/$1" ;;
    *) echo "$TB/hosts/$1" ;;
  esac
}

# docker against one host's engine, with a private, empty client config (so no credential
# helper of the developer's ~/.docker is ever run). Usable after `timeout`: it is a
# command line, not a function: "${TB_DOCKER[@]}" -H "$(tb_docker_host app1)" ps
tb_docker_host() { echo "unix://$(tb_host_dir "$1")/docker.sock"; }
tb_docker() {
  local host="$1"; shift
  "${TB_DOCKER[@]}" -H "$(tb_docker_host "$host")" "$@"
}

# Normalise $TB to an absolute path and check that it is usable.
tb_resolve_dir() {
  case "$TB" in
    /*) ;;
    *) TB="$PWD/$TB" ;;
  esac
  TB="${TB%/}"
  TB_POSTURE_DIR="$TB/posture"
  TB_DOCKER=(env "DOCKER_CONFIG=$TB/docker-client" "$(tb_docker_bin)")
  if [[ ! "$TB" =~ ^/[A-Za-z0-9._/+-]+$ ]]; then
    tb_die "testbed dir '$TB' may only contain letters, digits and . _ / + - (it is written into sshd_config, TOML and JSON)"
  fi
  local longest="$TB$TB_LONGEST_SOCKET_SUFFIX"
  if (( ${#longest} >= TB_SOCKET_MAX )); then
    tb_die "testbed dir '$TB' is too long: its Unix sockets (e.g. $longest, ${#longest} chars) must stay under $TB_SOCKET_MAX chars; set BREAKGLASS_TESTBED to a shorter path such as /tmp/bgtb"
  fi
}

# Serialise up and down on one testbed: lock the testbed's parent directory (it outlives
# the testbed itself). Holds fd 9 until the process exits; every daemon must be started
# with `9<&-`, or it inherits the lock and holds it for ever.
tb_lock() {
  local parent
  parent="$(dirname "$TB")"
  mkdir -p "$parent"
  exec 9<"$parent"
  if ! flock -w 600 9; then
    tb_die "another testbed up/down is running on $parent (waited 10 min)"
  fi
}

# The pid in a pidfile (first line), if the file exists and the process is alive and its
# command line contains $2 (guards against a recycled pid).
tb_pid_alive() {
  local file="$1" want="$2" pid cmd
  [[ -r "$file" ]] || return 1
  read -r pid <"$file" || true
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  cmd="$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null || true)"
  [[ "$cmd" == *"$want"* ]] || return 1
  echo "$pid"
}

# Every descendant of a pid (children first listed after their parent).
tb_descendants() {
  local root="$1" stat pid ppid rest
  local -A kids=()
  for stat in /proc/[0-9]*/stat; do
    # Fields after the command (which is in parentheses and may hold spaces).
    rest="$(cat "$stat" 2>/dev/null)" || continue
    pid="${rest%% *}"
    rest="${rest##*) }"
    read -r _ ppid _ <<<"$rest"
    kids[$ppid]+="$pid "
  done
  local queue=("$root") next
  while ((${#queue[@]})); do
    next="${queue[0]}"
    queue=("${queue[@]:1}")
    for pid in ${kids[$next]:-}; do
      echo "$pid"
      queue+=("$pid")
    done
  done
}

tb_wait_gone() {
  local secs="$1" pid; shift
  local deadline=$((SECONDS + secs))
  while ((SECONDS < deadline)); do
    local alive=0
    for pid in "$@"; do
      if [[ -d "/proc/$pid" ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then
        alive=1
      fi
    done
    ((alive)) || return 0
    sleep 0.1
  done
  return 1
}

# SIGTERM a process and its descendants, wait, then SIGKILL what is left.
tb_stop_tree() {
  local pid="$1" secs="${2:-15}" all
  mapfile -t all < <(echo "$pid"; tb_descendants "$pid")
  kill -TERM "$pid" 2>/dev/null || true
  if ! tb_wait_gone "$secs" "$pid"; then
    tb_log "pid $pid did not stop in ${secs}s: killing it"
  fi
  # Whatever of the tree is still there (a daemon's children, an ssh session).
  kill -KILL "${all[@]}" 2>/dev/null || true
  tb_wait_gone 5 "${all[@]}" || true
}

# Processes whose command line names a path inside $TB (or inside $1, a folder of it) and
# whose program is one of the daemons the testbed starts (sshd, dockerd, containerd and
# its shims, postgres, redis-server): the last-resort sweep of down.
tb_stray_pids() {
  local under="${1:-$TB}" d pid cmd exe
  for d in /proc/[0-9]*; do
    pid="${d#/proc/}"
    [[ "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
    cmd="$({ tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null)" || continue
    [[ "$cmd" == *"$under/"* ]] || continue
    exe="$(readlink "$d/exe" 2>/dev/null)" || continue
    case "${exe##*/}" in
      sshd | dockerd | containerd | containerd-shim* | postgres | redis-server | redis-check-rdb | s3s-fs) echo "$pid" ;;
    esac
  done
}

# The cgroup every container of one host's engine is put under (--cgroup-parent), unique
# to this testbed so that down can empty and remove it.
tb_cgroup_parent() {
  local sum
  sum="$(printf '%s' "$TB" | cksum | cut -d' ' -f1)"
  echo "breakglass-testbed-$sum-$1"
}

# The cgroups of the engines named (default: every engine, the postures' too).
tb_remove_cgroups() {
  local host cg dir pids hosts=("$@")
  ((${#hosts[@]})) || hosts=("${TB_ENGINES[@]}" "${TB_POSTURE_HOSTS[@]}")
  for host in "${hosts[@]}"; do
    cg="$(tb_cgroup_parent "$host")"
    for dir in /sys/fs/cgroup/"$cg" /sys/fs/cgroup/*/"$cg"; do
      [[ -d "$dir" ]] || continue
      # Any process still in it is a container process of ours.
      pids="$(cat "$dir"/cgroup.procs "$dir"/*/cgroup.procs 2>/dev/null || true)"
      if [[ -n "$pids" ]]; then
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
        sleep 0.2
      fi
      find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
  done
}

# Start the Docker engine of one host (tb_host_dir: its socket, pidfile, data and exec
# roots are there), logging to $2; it answers a few seconds later. The flags of the
# sandbox's engines (tests/testbed/up's start_dockerd): a config file of its own (the
# machine's /etc/docker/daemon.json is not read, its identity key is its own), no default
# bridge (a user-defined network works), no iptables, its own containerd namespace and
# cgroup parent. setsid -f: its own session, and not a child of the caller.
tb_start_dockerd() {
  local host="$1" log="$2" dir ns
  dir="$(tb_host_dir "$host")"
  ns="bgtb-$(printf '%s' "$TB" | cksum | cut -d' ' -f1)-$host"
  mkdir -p "$dir/data" "$dir/exec"
  printf '{\n  "deprecated-key-path": "%s"\n}\n' "$dir/engine-key.json" >"$dir/daemon.json"
  setsid -f dockerd --config-file "$dir/daemon.json" \
    --host "unix://$dir/docker.sock" --data-root "$dir/data" --exec-root "$dir/exec" \
    --pidfile "$dir/docker.pid" --storage-driver overlay2 \
    --bridge none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --cgroup-parent "/$(tb_cgroup_parent "$host")" \
    --containerd-namespace "$ns" --containerd-plugins-namespace "$ns-plugins" \
    </dev/null >"$log" 2>&1 9<&-
}

# Empty one host's engine while it answers: every container (the swarm's services with
# the swarm), then every network nothing uses (each a br-… interface on this machine).
tb_engine_clear() {
  local host="$1" sock ids
  sock="$(tb_docker_host "$host")"
  [[ "$host" != swarm ]] || timeout 30 "${TB_DOCKER[@]}" -H "$sock" swarm leave --force >/dev/null 2>&1 || true
  mapfile -t ids < <(timeout 20 "${TB_DOCKER[@]}" -H "$sock" ps -aq 2>/dev/null || true)
  if ((${#ids[@]})); then
    timeout 30 "${TB_DOCKER[@]}" -H "$sock" rm -f "${ids[@]}" >/dev/null 2>&1 || true
  fi
  timeout 20 "${TB_DOCKER[@]}" -H "$sock" network prune -f >/dev/null 2>&1 || true
}

# Unmount everything mounted at or below $TB (or $1, a folder of it), deepest first.
tb_unmount_all() {
  local under="${1:-$TB}" mp mps
  for _ in 1 2 3; do
    mapfile -t mps < <(awk -v tb="$under" '{
        mp = $2; gsub(/\\040/, " ", mp)
        if (mp == tb || index(mp, tb "/") == 1) print length(mp) "\t" mp
      }' /proc/mounts | sort -rn | cut -f2-)
    ((${#mps[@]})) || return 0
    for mp in "${mps[@]}"; do
      umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
    done
  done
  if awk -v tb="$under" '{ if ($2 == tb || index($2, tb "/") == 1) found = 1 } END { exit !found }' /proc/mounts; then
    tb_log "warning: mounts under $under remain"
  fi
}

# The engines create these outside $TB (empty once they have stopped); left alone while
# any other Docker engine or containerd runs on the machine.
tb_remove_run_dirs() {
  local d exe
  for d in /proc/[0-9]*; do
    exe="$(readlink "$d/exe" 2>/dev/null)" || continue
    case "${exe##*/}" in dockerd | containerd) return 0 ;; esac
  done
  rmdir /run/containerd/s /run/containerd /run/docker/plugins /run/docker 2>/dev/null || true
}

# The swarm's engine makes the interface docker_gwbridge, which outlives it (a name shared
# by every engine on the machine): removed when up found none before it made its own.
tb_remove_gwbridge() {
  [[ -e "$TB/hosts/swarm/gwbridge-ours" ]] || return 0
  ip link del docker_gwbridge 2>/dev/null || true
}

# The postures' daemons (tests/testbed/posture), in parallel, each found by its pidfile:
# the sshd and the engine of hard1 and weak1 (an engine stops its containers and its
# containerd), the weak Redis and the weak PostgreSQL.
tb_posture_stop_daemons() {
  local p="$TB_POSTURE_DIR" host dir pid stops=()
  for host in "${TB_POSTURE_HOSTS[@]}"; do
    dir="$(tb_host_dir "$host")"
    if pid="$(tb_pid_alive "$dir/docker.pid" dockerd)"; then tb_stop_tree "$pid" 20 & stops+=($!); fi
    if pid="$(tb_pid_alive "$dir/sshd.pid" sshd)"; then tb_stop_tree "$pid" 5 & stops+=($!); fi
  done
  # weak1's sshd as a posture made before hard1 and weak1 had folders of their own ran it.
  if pid="$(tb_pid_alive "$p/weak/sshd.pid" sshd)"; then tb_stop_tree "$pid" 5 & stops+=($!); fi
  if pid="$(tb_pid_alive "$p/weak/redis/redis.pid" redis-server)"; then tb_stop_tree "$pid" 10 & stops+=($!); fi
  if pid="$(tb_pid_alive "$p/weak/postgres/data/postmaster.pid" postgres)"; then
    (
      runuser -u postgres -- "$(cat "$TB/postgres_bin_dir" 2>/dev/null || echo /usr/lib/postgresql/15/bin)/pg_ctl" \
        -D "$p/weak/postgres/data" stop -m fast -w -t 20 >/dev/null 2>&1 || tb_stop_tree "$pid" 10
    ) &
    stops+=($!)
  fi
  ((${#stops[@]} == 0)) || wait "${stops[@]}" || true
}

# The bridge interfaces of the postures' networks (posture up writes their names in
# <host>/bridges): an engine that dies with a network left leaves its interface behind.
tb_posture_remove_bridges() {
  local host f br
  for host in "${TB_POSTURE_HOSTS[@]}"; do
    f="$(tb_host_dir "$host")/bridges"
    [[ -r "$f" ]] || continue
    while read -r br; do
      [[ "$br" =~ ^br-[0-9a-f]{12}$ ]] || continue
      ip link del "$br" 2>/dev/null || true
    done <"$f"
  done
}

# Remove the postures only: their engines' containers and networks, their sshds, engines,
# Redis and PostgreSQL, what those left (processes, mounts, cgroups, bridges), their files.
# The testbed itself is left as it is.
tb_posture_down() {
  local host pid strays jobs=()
  for host in "${TB_POSTURE_HOSTS[@]}"; do
    if tb_pid_alive "$(tb_host_dir "$host")/docker.pid" dockerd >/dev/null; then
      tb_engine_clear "$host" &
      jobs+=($!)
    fi
  done
  # A posture made before hard1 and weak1 had engines of their own ran its containers on app2.
  if [[ -d "$TB_POSTURE_DIR/weak/host" ]] && tb_pid_alive "$TB/hosts/app2/docker.pid" dockerd >/dev/null; then
    timeout 30 "${TB_DOCKER[@]}" -H "$(tb_docker_host app2)" rm -f hard-web weak-web >/dev/null 2>&1 || true
    timeout 20 "${TB_DOCKER[@]}" -H "$(tb_docker_host app2)" network rm posture-hardened >/dev/null 2>&1 || true
  fi
  ((${#jobs[@]} == 0)) || wait "${jobs[@]}" || true
  tb_posture_stop_daemons
  if [[ -e "$TB_POSTURE_DIR" ]]; then
    mapfile -t strays < <(tb_stray_pids "$TB_POSTURE_DIR")
    for pid in "${strays[@]}"; do
      tb_log "stopping leftover process $pid ($({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | cut -c1-80))"
      tb_stop_tree "$pid" 5
    done
    tb_unmount_all "$TB_POSTURE_DIR"
  fi
  tb_remove_cgroups "${TB_POSTURE_HOSTS[@]}"
  tb_posture_remove_bridges
  rm -rf "$TB_POSTURE_DIR" "$TB/hardened.toml" "$TB/weak.toml" "$TB/posture.json"
}

# Take the whole testbed down: containers, engines, sshds, Redis, PostgreSQL, mounts,
# cgroups, then the directory. Works on a partial testbed and on none.
tb_down() {
  if [[ ! -e "$TB" ]]; then
    # Nothing to do, except strays of a testbed whose directory was deleted by hand.
    local strays
    mapfile -t strays < <(tb_stray_pids)
    for pid in "${strays[@]}"; do tb_stop_tree "$pid" 10; done
    tb_unmount_all
    tb_remove_cgroups
    return 0
  fi
  if [[ ! -e "$TB/$TB_MARKER" ]]; then
    # An empty directory (made by hand, or left by an up that failed at once): not ours.
    [[ -d "$TB" && -z "$(ls -A "$TB")" ]] && return 0
    tb_die "$TB exists but is not a testbed (no $TB_MARKER in it): not touching it"
  fi
  rm -f "$TB/$TB_DONE"

  local host pid dir bgjobs=()
  # Containers first, while their engines still answer (in parallel: 4 engines, and the
  # postures' 2), then the networks a test or a posture created. Only our own jobs are
  # waited for: up, failing, calls this with daemons among its children.
  for host in "${TB_ENGINES[@]}" "${TB_POSTURE_HOSTS[@]}"; do
    if tb_pid_alive "$(tb_host_dir "$host")/docker.pid" dockerd >/dev/null; then
      tb_engine_clear "$host" &
      bgjobs+=($!)
    fi
  done
  ((${#bgjobs[@]} == 0)) || wait "${bgjobs[@]}" || true
  bgjobs=()

  # Engines (each stops its own containerd), then the rest; all in parallel.
  for host in "${TB_ENGINES[@]}"; do
    dir="$TB/hosts/$host"
    if pid="$(tb_pid_alive "$dir/docker.pid" dockerd)"; then tb_stop_tree "$pid" 20 & bgjobs+=($!); fi
    if pid="$(tb_pid_alive "$dir/sshd.pid" sshd)"; then tb_stop_tree "$pid" 5 & bgjobs+=($!); fi
  done
  if pid="$(tb_pid_alive "$TB/redis/redis.pid" redis-server)"; then tb_stop_tree "$pid" 10 & bgjobs+=($!); fi
  if pid="$(tb_pid_alive "$TB/s3/s3s-fs.pid" s3s-fs)"; then tb_stop_tree "$pid" 5 & bgjobs+=($!); fi
  # The postures' sshds, engines, Redis and PostgreSQL (tests/testbed/posture).
  if [[ -e "$TB_POSTURE_DIR" ]]; then tb_posture_stop_daemons & bgjobs+=($!); fi
  if [[ -e "$TB/postgres/data/postmaster.pid" ]]; then
    local pgbin
    pgbin="$(cat "$TB/postgres_bin_dir" 2>/dev/null || echo /usr/lib/postgresql/15/bin)"
    (
      if pid="$(tb_pid_alive "$TB/postgres/data/postmaster.pid" postgres)"; then
        runuser -u postgres -- "$pgbin/pg_ctl" -D "$TB/postgres/data" stop -m fast -w -t 30 >/dev/null 2>&1 ||
          tb_stop_tree "$pid" 10
      fi
    ) &
    bgjobs+=($!)
  fi
  ((${#bgjobs[@]} == 0)) || wait "${bgjobs[@]}" || true

  # Whatever is left: a daemon whose pidfile was lost, a containerd shim, ...
  local strays
  mapfile -t strays < <(tb_stray_pids)
  for pid in "${strays[@]}"; do
    tb_log "stopping leftover process $pid ($({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | cut -c1-80))"
    tb_stop_tree "$pid" 5
  done

  tb_unmount_all
  tb_remove_cgroups
  tb_remove_run_dirs
  tb_remove_gwbridge
  tb_posture_remove_bridges
  rm -rf "$TB" 2>/dev/null || { tb_unmount_all; rm -rf "$TB"; }
}
