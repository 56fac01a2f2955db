"""What a campaign shows: snapshots, decision logs, status, the HTML report, Hub cards."""
