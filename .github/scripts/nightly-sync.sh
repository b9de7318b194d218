#!/bin/sh
# One unattended sync run, as the nightly workflow does it.
#
# Runs the sync with `--json`, keeps its stdout (the JSON summary) in $SYNC_SUMMARY_FILE,
# appends it to $GITHUB_STEP_SUMMARY when that is set, and turns the sync's exit code into
# the job's:
#   0          complete                           -> 0
#   75         stopped early but safely (quota,   -> 0, with a ::notice:: (the next run
#              circuit breaker, lock held)              resumes where this one stopped)
#   any other  failure, usage error, signal       -> the same code, with an ::error::
#
# Environment:
#   SYNC_CMD           the sync command, split on blanks (default: "$PYTHON sync_donations.py",
#                      PYTHON defaulting to .venv/bin/python, as `make install` creates it).
#                      Not `make sync`: make reports any failing recipe as its own exit
#                      status 2, which would hide 75, 130 and 143.
#   SYNC_CYCLES        even years separated by spaces and/or commas (default: the tool's own,
#                      the current two-year period)
#   SYNC_FULL          "true" adds --full
#   SYNC_BATCH_SIZE    per_page (default 100)
#   SYNC_MAX_WAIT      seconds the sync may spend paused for the rate limit before it stops
#                      safely with 75 (default 3000: the job step has 100 minutes, so at
#                      most half of them go to waiting; api.data.gov's Retry-After has been
#                      seen up to about 20 minutes, and the tool's own default of 300 s would
#                      end most such runs at the first 429)
#   SYNC_SUMMARY_FILE  where the JSON summary is kept (default sync-summary.json)
#   GITHUB_STEP_SUMMARY  set by GitHub Actions; the summary is appended to it
#   OPENFEC_API_KEY, DONATIONS_DB, ...  read by the sync itself
#
# SIGINT and SIGTERM sent to this script (a cancelled or timed-out job step) are passed on to
# the sync, which commits what it fetched and exits 130/143; the summary is still written.

set -u
set -f # cycles are split on blanks below; never expand them as globs

summary_file=${SYNC_SUMMARY_FILE:-sync-summary.json}
sync_cmd=${SYNC_CMD:-"${PYTHON:-.venv/bin/python} sync_donations.py"}

set --
for cycle in $(printf '%s\n' "${SYNC_CYCLES:-}" | tr ',' ' '); do
    case $cycle in
        [12][0-9][0-9][02468]) set -- "$@" --cycle "$cycle" ;;
        *)
            echo "::error::invalid cycle '$cycle': cycles are even years such as 2024 or 2026"
            exit 2
            ;;
    esac
done
case ${SYNC_MAX_WAIT:-3000} in
    '' | *[!0-9]*)
        echo "::error::SYNC_MAX_WAIT must be a whole number of seconds, not '$SYNC_MAX_WAIT'"
        exit 2
        ;;
esac
case ${SYNC_FULL:-} in
    true) set -- "$@" --full ;;
    false | '') ;;
    *)
        echo "::error::SYNC_FULL must be true or false, not '$SYNC_FULL'"
        exit 2
        ;;
esac

# The first run (or one with nothing restored) has no data directory yet; sqlite3 creates the
# database file but not its directory.
mkdir -p -- "$(dirname -- "$summary_file")" "$(dirname -- "${DONATIONS_DB:-donations.db}")" ||
    exit 1

# Run the sync in the background so that a signal arriving here can be forwarded to it (the
# Actions runner signals the step's process, not its children). A background command of a
# non-interactive shell starts with SIGINT ignored; the sync installs its own SIGINT handler,
# so a forwarded SIGINT still reaches it.
# $sync_cmd is split on blanks on purpose (a command plus its arguments).
child=
trap '[ -z "$child" ] || kill -INT "$child" 2>/dev/null' INT
trap '[ -z "$child" ] || kill -TERM "$child" 2>/dev/null' TERM
# shellcheck disable=SC2086
$sync_cmd --batch-size "${SYNC_BATCH_SIZE:-100}" --max-wait "${SYNC_MAX_WAIT:-3000}" --json "$@" \
    >"$summary_file" &
child=$!
while :; do
    wait "$child"
    status=$?
    # A trapped signal interrupts `wait` with a status above 128 while the sync is still
    # shutting down; wait again until it has really exited.
    kill -0 "$child" 2>/dev/null || break
done
trap - INT TERM

case $status in
    0) outcome="complete" ;;
    75) outcome="stopped early but safely; the next run resumes where this one stopped" ;;
    130 | 143) outcome="interrupted by a signal; what was fetched is committed" ;;
    2) outcome="usage error" ;;
    *) outcome="failed" ;;
esac

# The JSON summary also goes to the log, so it is visible without downloading anything.
if [ -s "$summary_file" ]; then
    cat -- "$summary_file"
fi

if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    {
        echo "## Donations sync"
        echo
        echo "Exit code $status: $outcome."
        echo
        if [ -s "$summary_file" ]; then
            echo '```json'
            cat -- "$summary_file"
            echo '```'
        else
            echo "The sync printed no JSON summary (see the job log)."
        fi
    } >>"$GITHUB_STEP_SUMMARY"
fi

case $status in
    0)
        exit 0
        ;;
    75)
        echo "::notice title=Sync stopped early::Exit code 75: $outcome."
        exit 0
        ;;
    *)
        echo "::error title=Sync failed::Exit code $status: $outcome."
        exit "$status"
        ;;
esac
