#!/bin/sh
# Print the id of the newest finished run of the nightly workflow, on this branch, that still
# has an unexpired database artifact; print nothing when there is none (first run ever, or
# every artifact has expired): the sync then starts a new database.
#
# Only runs started by `schedule` or `workflow_dispatch` count: those run the branch's own
# workflow file with its own secret, so a database never comes from a pull request's run.
# A run that ended before uploading anything is passed over for the one before it.
#
# Environment: GH_TOKEN (needs actions: read), GITHUB_REPOSITORY and GITHUB_REF_NAME (set by
# GitHub Actions), WORKFLOW_FILE (e.g. sync-donations.yml), ARTIFACT_NAME.
set -eu

runs=$(gh run list --repo "$GITHUB_REPOSITORY" --workflow "$WORKFLOW_FILE" \
    --branch "$GITHUB_REF_NAME" --status completed --limit 30 --json databaseId,event \
    --jq '.[] | select(.event == "schedule" or .event == "workflow_dispatch") | .databaseId')

for run in $runs; do
    count=$(gh api "repos/$GITHUB_REPOSITORY/actions/runs/$run/artifacts?name=$ARTIFACT_NAME" \
        --jq '[.artifacts[] | select(.expired | not)] | length')
    if [ "$count" -gt 0 ]; then
        echo "$run"
        exit 0
    fi
done
