"""Synthetic subjects: adult Anny phenotypes, their SMPL-format betas, and clothing/appearance."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from humanrecon.bodymodel import anny_export


@dataclass
class Subject:
    """One synthetic person.

    Attributes
    ----------
    phenotype : dict[str, float]
        Anny phenotype in [0, 1] (gender, age, muscle, weight, height, proportions).
    betas : (10,) float64
        SMPL-format shape of the naked body (exact least-squares fit of the Anny body in the model's
        10-D shape space, see ``hr_anny_coeffs_to_betas``).
    outfit : humanrecon.synth.garments.Outfit
    description : dict
        JSON-serialisable summary (phenotype, betas, garments).
    """

    phenotype: dict
    betas: np.ndarray
    outfit: object
    description: dict = field(default_factory=dict)


class PhenotypeSampler:
    """Samples adult Anny phenotypes and maps them to betas of an exported model (Anny loaded once)."""

    def __init__(self, body_model, anny_cache_dir=None):
        ex = body_model.extras
        if "hr_anny_coeffs_to_betas" not in ex:
            raise ValueError(
                f"{body_model.path}: not a humanrecon export of Anny; the synthetic studio samples Anny "
                "phenotypes and needs the exported model (body_model.path: resources/body_models)"
            )
        self._P = np.asarray(ex["hr_anny_coeffs_to_betas"])
        self._mean = np.asarray(ex["hr_anny_mean_coeffs"])
        self._anny = anny_export.load_anny(anny_cache_dir)

    def sample(self, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
        """One adult phenotype (dict of floats) and its betas (10,)."""
        seed = int(rng.integers(0, 2**31 - 1))
        phen = anny_export.sample_adult_phenotypes(self._anny, 1, seed)
        coeffs = anny_export.phenotype_coefficients(self._anny, phen)[0]
        betas = self._P @ (coeffs - self._mean)
        return {k: float(v[0]) for k, v in phen.items()}, betas
