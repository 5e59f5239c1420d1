"""Synthetic edit pairs with exact masks (`benco synth`): the generator, the edits it applies inside a mask
and the VAE roundtrip of the regeneration regime (also Stage II's calibration image)."""
