"""The beat schedule."""
