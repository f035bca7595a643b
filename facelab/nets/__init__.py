"""facelab.nets — see docs/architecture.md; import submodules explicitly (facelab.nets.<module>)."""
