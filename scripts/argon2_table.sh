#!/usr/bin/env bash
# `make argon2-table`: argon2id hash time at the configured parameters (ARGON2_* env, OWASP
# defaults) for each Lambda memory size. Lambda gives a function CPU in proportion to its memory
# (1,769 MB = one vCPU), so each row runs the hashes under a CPU quota of that share, with a
# cgroup (v1 `cpu` or v2 `cpu.max`, needs root); where no cgroup can be made the row shows the
# full-core time scaled by the share instead. Usage: scripts/argon2_table.sh [MEMORY_MB ...]
set -euo pipefail
cd "$(dirname "$0")/.."
# Named: the bench crates are not default members. Built every time, so a run never times a
# stale harness (a no-op when it is up to date).
cargo build --release --quiet -p lambda-bench
BIN=target/release/lambda-bench
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(512 1024 1536 1769 2048)
PERIOD_US=20000

full=$("$BIN" --argon2 | awk '{print $(NF-1)}')
echo "argon2id m=${ARGON2_MEMORY_KIB:-19456} KiB, t=${ARGON2_ITERATIONS:-2}, p=${ARGON2_PARALLELISM:-1}; full core: ${full} ms ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
printf '%-10s %-10s %-16s %-20s\n' "memory MB" "vCPU share" "measured ms" "full-core scaled ms"
for mb in "${sizes[@]}"; do
  share=$(python3 -c "print(f'{min(1.0, $mb / 1769):.3f}')")
  quota=$(python3 -c "print(int($share * $PERIOD_US))")
  scaled=$(python3 -c "print(f'{$full / $share:.1f}')")
  measured="-"
  group=""
  if [ -w /sys/fs/cgroup/cpu ] 2>/dev/null && mkdir "/sys/fs/cgroup/cpu/argon2-$$-$mb" 2>/dev/null; then
    group="/sys/fs/cgroup/cpu/argon2-$$-$mb"
    echo "$PERIOD_US" > "$group/cpu.cfs_period_us"
    echo "$quota" > "$group/cpu.cfs_quota_us"
    measured=$(sh -c "echo \$\$ > $group/tasks; exec $BIN --argon2" | awk '{print $(NF-1)}')
    rmdir "$group" 2>/dev/null || true
  elif [ -w /sys/fs/cgroup/cgroup.subtree_control ] && mkdir "/sys/fs/cgroup/argon2-$$-$mb" 2>/dev/null; then
    group="/sys/fs/cgroup/argon2-$$-$mb"
    echo "$quota $PERIOD_US" > "$group/cpu.max"
    measured=$(sh -c "echo \$\$ > $group/cgroup.procs; exec $BIN --argon2" | awk '{print $(NF-1)}')
    rmdir "$group" 2>/dev/null || true
  fi
  printf '%-10s %-10s %-16s %-20s\n' "$mb" "$share" "$measured" "$scaled"
done
