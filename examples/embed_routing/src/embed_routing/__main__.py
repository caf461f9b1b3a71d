"""Run the embedded-routing example: ``python -m embed_routing``."""

from embed_routing import main

main()
