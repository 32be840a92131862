"""paperfeed: a self-hostable community feed of new research papers."""

__version__ = "0.1.0"
