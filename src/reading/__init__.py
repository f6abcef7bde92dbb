"""Reading a drawing: the live model store, novelty fitting, saliency, teaching views."""
