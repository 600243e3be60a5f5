"""Media in the emulated world: the pictures, voice messages, videos and files users send.

``library`` holds the media (uploaded through the control API, or the built-in
``samples``), the temporary download codes a message carries and the pre-signed URLs
the download API hands out (``openapi.files``); ``routes`` serves the control API's
``/_emulator/media`` and the bytes themselves at those URLs, from the emulator's own
host as a storage host would; ``messages`` renders a user's message of any type into
the ChatbotMessage content and action parameters of the contract (§11).
"""
