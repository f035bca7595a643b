"""The protocols: which images train, which pairs test, thresholds chosen on training folds."""
from .protocols import PROTOCOLS, identification_split, few_shot_split, verification_splits
from .runner import VerificationResult, evaluate_identification, evaluate_verification

__all__ = ["PROTOCOLS", "identification_split", "few_shot_split", "verification_splits",
           "VerificationResult", "evaluate_identification", "evaluate_verification"]
