"""facelab.miners — see docs/architecture.md; import submodules explicitly (facelab.miners.<module>)."""
