"""facelab.losses — see ARCHITECTURE: import submodules explicitly (facelab.losses.<module>)."""
