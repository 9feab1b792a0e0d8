"""Terminal rendering: pure ``format_*`` functions returning strings, and thin printers."""
