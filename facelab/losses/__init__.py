"""facelab.losses — see docs/architecture.md; import submodules explicitly (facelab.losses.<module>)."""
