"""The web layer: routes parse input, call one flow, and render."""
