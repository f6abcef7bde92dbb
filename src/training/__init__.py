"""Training the network: recipes, one training step, CPU kernels, ZeroGPU."""
