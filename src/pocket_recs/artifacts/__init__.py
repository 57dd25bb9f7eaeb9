"""Artifact folders: the manifest, writing them atomically, and loading them back."""
