from __future__ import annotations

from prodigy.cli import main

raise SystemExit(main())
