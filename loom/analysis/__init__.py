"""Pure analyses of continuations: alignment and reconvergence (align),
attractor reports over many samples (report), automatic perturbations
(perturb). No store, no model, no textual."""
