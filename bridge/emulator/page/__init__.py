"""The sandbox chat page: plain HTML, CSS and JavaScript in ``static/``, served by ``routes``."""
