"""One module per pipeline stage. Task bodies are thin; the logic is plain functions beside them."""
