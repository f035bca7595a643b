"""facelab.miners — see ARCHITECTURE: import submodules explicitly (facelab.miners.<module>)."""
