"""MNIST, preprocessing a drawing to 28x28, splitting numbers, synthetic drawings."""
