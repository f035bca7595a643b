"""facelab — face recognition, classical to deep, on one LFW protocol."""
__version__ = "0.1.0"
