"""The web page: its tabs, visitors, uploads and the operator's page (the only layer with gradio)."""
