"""facelab.generative — see docs/architecture.md; import submodules explicitly (facelab.generative.<module>)."""
