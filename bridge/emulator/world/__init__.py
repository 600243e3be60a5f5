"""What every part of the emulated DingTalk shares: time, events, the call log, what users see.

``clock`` (emulated time that tests can advance), ``bus`` (events fanned out to the
sandbox page and tests), ``calllog`` (every request answered), ``transcript`` (users,
conversations and messages with their visible changes) and ``content`` (card templates
and what each message body shows on screen).
"""
