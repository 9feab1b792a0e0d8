"""Import every command module so each registers its commands on the `prodigy` group."""

from __future__ import annotations
