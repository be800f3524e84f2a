"""The loop: boot, the orchestrator, runs and resume, reconciliation, the console."""
