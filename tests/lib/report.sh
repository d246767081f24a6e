# shellcheck shell=bash
# What every test script here reports with: PASS/FAIL lines, the FAILED
# flag the script exits with, and a bounded wait. Sourced by netns.sh (the
# namespace labs), tests/package.sh and docker/lab.sh.
FAILED=0
say() { printf '%s\n' "$*"; }
pass() { say "PASS $*"; }
fail() { say "FAIL $*"; FAILED=1; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local t=$1 what=$2; shift 2
    for _ in $(seq 1 $((t * 10))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    say "$(basename "$0"): timed out waiting for $what"
    return 1
}
