"""Report writers: result CSV and text tables, samples.jsonl, per-batch logs, submission
files, summary.json and the terminal summary."""
