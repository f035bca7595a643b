"""facelab.generative — see ARCHITECTURE: import submodules explicitly (facelab.generative.<module>)."""
