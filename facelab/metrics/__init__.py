"""Distances/similarities and the numbers computed from scores (ROC, AUC, EER, TAR@FAR, CMC)."""
from .distances import SIMILARITIES, Similarity, get_similarity, register_similarity

__all__ = ["SIMILARITIES", "Similarity", "get_similarity", "register_similarity"]
