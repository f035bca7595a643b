"""facelab.evaluation — see ARCHITECTURE: import submodules explicitly (facelab.evaluation.<module>)."""
