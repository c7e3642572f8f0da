"""The metrics pipeline: coverage, growth, plan status, portfolio scores and health."""
