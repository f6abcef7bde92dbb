"""Draw-a-digit: a small CNN trained on MNIST, served by Gradio."""
