"""The demo company: deterministic FOCUS exports of a fictional AI company's cloud bills."""

from aifinops.demo.generator import DemoFile, DemoManifest, DemoOptions, build_demo, generate

__all__ = ["DemoFile", "DemoManifest", "DemoOptions", "build_demo", "generate"]
