"""Reports people open: a self-contained HTML page for a ``streamguard check`` run.

Pure rendering (no I/O but reading the run's own output files): :mod:`.series` keeps the
drift statistics over record position, :mod:`.svg` draws them, :mod:`.quarantine` picks
masked examples, :mod:`.html` lays out the page.
"""

from streamguard.report.html import render_check_report
from streamguard.report.quarantine import sample_quarantine, sample_quarantine_file
from streamguard.report.series import DriftSeries

__all__ = ["DriftSeries", "render_check_report", "sample_quarantine", "sample_quarantine_file"]
