"""facelab.nets — see ARCHITECTURE: import submodules explicitly (facelab.nets.<module>)."""
