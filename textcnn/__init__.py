"""Kim (2014) TextCNN for IMDb sentiment: training, exact explanations, Hub publishing and a Gradio Space.

Importing the package loads nothing heavy: each module imports torch, spaCy or the Hub client itself.
"""

__version__ = "0.1.0"
