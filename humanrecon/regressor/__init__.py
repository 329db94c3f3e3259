"""HMR-style SMPL regression from 12-part maps, and its multi-view fusion in the world frame.

* :mod:`~humanrecon.regressor.rotations` — continuous 6D rotations and torch axis-angle conversions;
* :mod:`~humanrecon.regressor.body` — a differentiable SMPL forward pass on rotation matrices;
* :mod:`~humanrecon.regressor.synthetic` — part-map views of random bodies rendered on the fly (training);
* :mod:`~humanrecon.regressor.network` — encoder + iterative error feedback (3 iterations, 6D rotations);
* :mod:`~humanrecon.regressor.train` — resumable training, model card;
* :mod:`~humanrecon.regressor.infer` — crops from segmentations, batched per-view regression;
* :mod:`~humanrecon.regressor.fusion` — robust rotation averaging across calibrated views.

docs/regressor.md describes the method, the losses and the measured accuracy.
"""
